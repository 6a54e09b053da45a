"""Multi-stage residual fitting (docs/theory.md §7): fit a network, then another on the normalised residual.

Stage 1 fits f. Stage k fits r_k = (f − F_{k−1})/s_k, with F_{k−1} = Σ_{j<k} s_j g_j the sum so far and
s_k = max |f − F_{k−1}| over the training points, so every stage sees a target of size ~1 (s_1 = 1).
The result is F_K = Σ_k s_k g_k, whose parameter count is the sum of the stages'. A single network's
error stalls where its optimiser does; each stage starts afresh on what is left (Michaud, Liu and
Tegmark's "boosting"; Wang and Lai's multi-stage networks).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from approx.fitting import targets
from approx.fitting.one_call import FitResult, _as_target, fit


def _scaled(f: Callable[[Tensor], Tensor], scale: float, x: Tensor) -> Tensor:
    return f(x) / scale


class StagedModule(nn.Module):
    """x ↦ Σ_k s_k g_k(x)."""

    scales: Tensor

    def __init__(self, modules: Sequence[nn.Module], scales: Sequence[float]):
        super().__init__()
        self.stages = nn.ModuleList(modules)
        self.register_buffer("scales", torch.tensor(list(scales), dtype=torch.float64))

    def forward(self, x: Tensor) -> Tensor:
        return functools.reduce(operator.add, [s * g(x) for s, g in zip(self.scales, self.stages, strict=True)])


def fit_stages(
    target: targets.Target | str | Callable[[Tensor], Tensor],
    stages: int = 2,
    *,
    params: int = 300,
    d: int | None = None,
    points: int | None = None,
    **kw,
) -> tuple[StagedModule, list[FitResult], int]:
    """``stages`` fits of ``params`` parameters each (keyword arguments as :func:`approx.fit`).

    Returns the summed module, each stage's :class:`FitResult` (errors against that stage's own
    target) and the total parameter count.
    """
    if isinstance(stages, bool) or not isinstance(stages, int) or stages < 1:
        raise ValueError(f"stages must be an integer >= 1, got {stages!r}")
    t = _as_target(target, d)
    n = points or max(256 * t.d, min(2 * params, 1024 * t.d))
    x_train = targets.sample(t.d, n, "sobol", kw.get("seed", 0))
    modules: list[nn.Module] = []
    scales: list[float] = []
    results: list[FitResult] = []

    def remaining(x: Tensor) -> Tensor:
        with torch.no_grad():
            done = sum((s * g(x).reshape(-1) for s, g in zip(scales, modules, strict=True)), torch.zeros(len(x)))
            return t(x).reshape(-1) - done.to(torch.float64)

    for _ in range(stages):
        scale = 1.0 if not modules else float(remaining(x_train).abs().max())
        if scale == 0.0:
            break
        residual = targets.from_callable(f"{t.name} residual", functools.partial(_scaled, remaining, scale), t.d)
        result = fit(residual, params=params, points=n, **kw)
        modules.append(result.module.double())
        scales.append(scale)
        results.append(result)
    return StagedModule(modules, scales), results, sum(r.params for r in results)


__all__ = ["StagedModule", "fit_stages"]
