"""The lab's fitting engine in one call: ``approx.fit(target, activation=..., params=...)``.

It picks the width that gives ``params`` parameters at ``depth``, samples training points (Sobol),
trains every seed as one stack through a schedule (default: :data:`approx.fitting.train.DEFAULT_SCHEDULE`),
and measures each fit on a dense held-out grid, beside its VarPro floor (approx/fitting/varpro.py): the
error of the best readout on the trained hidden layers. The result holds a plain ``torch.nn.Module``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from approx.fitting import metrics, targets
from approx.fitting.initialisation import initial_parameters, resolve
from approx.fitting.models import Activation, Architecture, width_for_params
from approx.fitting.train import Phase, default_schedule
from approx.fitting.train import fit as fit_stack
from approx.fitting.varpro import solve_readout


@dataclass(frozen=True)
class FitResult:
    """One trained network and its sup and RMS errors on the held-out grid (target normalised to sup |f| ≈ 1)."""

    module: nn.Module
    arch: Architecture
    seed: int
    sup_error: float
    rms_error: float
    floor_sup_error: float  # the same network with its readout solved exactly
    floor_rms_error: float
    train_rmse: float
    steps: int
    stop: str
    seconds: float  # wall time of the stack, divided by its models

    @property
    def params(self) -> int:
        return self.arch.size


def fit(
    target: targets.Target | str | Callable[[Tensor], Tensor],
    *,
    activation: str | Activation = "polyrelu",
    params: int = 300,
    depth: int = 2,
    seed: int = 0,
    d: int | None = None,
    points: int | None = None,
    phases: Sequence[Phase] | None = None,
    init: str = "auto",
    device: str = "cpu",
) -> FitResult:
    """Fit one network to ``target`` (a Target, a catalogue name, or a callable with ``d``).

    ``init``: ``"auto"`` (the default: kinks for ReLU-type activations, uniform for smooth ones; the
    kinks benchmark in benchmarks/RESULTS.md), ``"kinks"`` or ``"uniform"``: approx/fitting/initialisation.py.
    ``phases`` default: ``DEFAULT_SCHEDULE``, or ``KINKS_SCHEDULE`` for the kinks start (which it keeps).
    """
    return fit_seeds(
        target,
        [seed],
        activation=activation,
        params=params,
        depth=depth,
        d=d,
        points=points,
        phases=phases,
        init=init,
        device=device,
    )[0]


def fit_seeds(
    target: targets.Target | str | Callable[[Tensor], Tensor],
    seeds: Sequence[int],
    *,
    activation: str | Activation = "polyrelu",
    params: int = 300,
    depth: int = 2,
    d: int | None = None,
    points: int | None = None,
    phases: Sequence[Phase] | None = None,
    init: str = "auto",
    device: str = "cpu",
) -> list[FitResult]:
    """:func:`fit` for several seeds, trained as one stack; one result per seed, in order."""
    t = _as_target(target, d)
    act = activation if isinstance(activation, Activation) else Activation.parse(activation)
    arch = Architecture(t.d, width_for_params(params, t.d, depth, act), depth, act)
    n = points or max(256 * t.d, min(2 * arch.size, 1024 * t.d))
    xs = torch.stack([targets.sample(t.d, n, "sobol", s) for s in seeds])
    ys = torch.stack([t(x) for x in xs])
    theta0 = initial_parameters(arch, list(seeds), init, torch.float64, device)
    schedule = phases if phases is not None else default_schedule(resolve(init, act))
    result = fit_stack(arch, theta0, xs.to(device), ys.to(device), list(schedule))
    x_test = targets.dense_grid(t.d, 8192 if t.d == 1 else 40_000).to(device)
    y_test = t(x_test)
    floor = solve_readout(arch, result.theta, xs.to(device), ys.to(device))
    out = []
    for m, s in enumerate(seeds):
        one = slice(m, m + 1)
        trained = metrics.errors(arch, result.theta[one], x_test, y_test, xs[one], ys[one])[0]
        best = metrics.errors(arch, floor[one], x_test, y_test, xs[one], ys[one])[0]
        out.append(
            FitResult(
                arch.to_module(result.theta[m]),
                arch,
                s,
                trained["max_abs"],
                trained["rmse"],
                best["max_abs"],
                best["rmse"],
                trained["train_rmse"],
                result.steps[m],
                result.stop[m],
                result.seconds / len(seeds),
            )
        )
    return out


def _as_target(target, d: int | None) -> targets.Target:
    if isinstance(target, targets.Target):
        return target
    if isinstance(target, str):
        return targets.get(target)
    if callable(target):
        if d is None:
            raise ValueError("a callable target needs d")
        return targets.from_callable(getattr(target, "__name__", "callable"), target, d)
    raise ValueError(f"target must be a Target, a catalogue name or a callable, got {type(target).__name__}")


__all__ = ["FitResult", "fit", "fit_seeds"]
