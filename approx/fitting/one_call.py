"""The lab's fitting engine in one call: ``approx.fit(target, activation=..., params=...)``.

It picks the width that gives ``params`` parameters at ``depth``, and hands one stack (one model per
seed) to the pipeline (approx/fitting/stack.py): training points, start, schedule (default: the
start's, approx/fitting/schedule.py), training, the exact readout (the VarPro floor) and errors on a
dense held-out grid. The result (approx/fitting/result.py) holds a plain ``torch.nn.Module`` and
can predict, plot, save and load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor

from approx.fitting import stack, targets
from approx.fitting.models import Activation, Architecture, width_for_params
from approx.fitting.progress import FitProgress
from approx.fitting.result import FitResult
from approx.fitting.schedule import Phase

TargetLike = targets.Target | str | Callable[[Tensor], Tensor]


def fit(
    target: TargetLike,
    *,
    activation: str | Activation = "polyrelu",
    params: int = 300,
    depth: int = 2,
    seed: int = 0,
    d: int | None = None,
    points: int | None = None,
    phases: Sequence[Phase] | None = None,
    init: str = "auto",
    stages: int = 1,
    device: str = "cpu",
    progress: bool | None = None,
) -> FitResult:
    """Fit one network to ``target``: a catalogue name, an expression such as ``"exp(sin(pi*x0))"``
    (with ``d``), a :class:`~approx.fitting.targets.Target`, or a callable of (N, d) float64 with ``d``.

    ``init``: ``"auto"`` (the portfolio of starts, the best kept on a validation split:
    approx/fitting/portfolio.py), ``"kinks"`` or ``"uniform"`` (that start alone). ``phases``: the
    uniform start's schedule (default ``UNIFORM_SCHEDULE``; a lone kinks start takes it too).
    ``stages`` > 1 fits each stage on the residual of those before (``params`` is per stage).
    ``progress``: a progress line for fits over a few seconds (None: when stderr is a terminal).
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
        stages=stages,
        device=device,
        progress=progress,
    )[0]


def fit_seeds(
    target: TargetLike,
    seeds: Sequence[int],
    *,
    activation: str | Activation = "polyrelu",
    params: int = 300,
    depth: int = 2,
    d: int | None = None,
    points: int | None = None,
    phases: Sequence[Phase] | None = None,
    init: str = "auto",
    stages: int = 1,
    device: str = "cpu",
    progress: bool | None = None,
) -> list[FitResult]:
    """:func:`fit` for several seeds, trained as one stack; one result per seed, in order."""
    t = targets.resolve(target, d)
    act = activation if isinstance(activation, Activation) else Activation.parse(activation)
    arch = Architecture(t.d, width_for_params(params, t.d, depth, act), depth, act)
    request = stack.Request(
        arch,
        (t,) * len(seeds),
        tuple(seeds),
        points or stack.training_points(t.d, arch.size),
        None if phases is None else tuple(phases),
        init,
        stages,
        device=device,
    )
    with FitProgress(f"{t.name[:30]} {act.label} P={arch.size}", progress) as bar:
        result = stack.fit(request, progress=bar)
    return [FitResult.from_stack(result, m) for m in range(len(seeds))]


def fit_stages(target: TargetLike, stages: int = 2, **kw) -> FitResult:
    """``stages`` fits of ``params`` parameters each, each on the residual of those before (docs/theory.md §7).

    Keyword arguments as :func:`fit`; the result's ``params`` counts every stage.
    """
    return fit(target, stages=stages, **kw)


__all__ = ["FitResult", "fit", "fit_seeds", "fit_stages"]
