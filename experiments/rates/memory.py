"""The peak-memory estimate of a rates config, checked before any work (experiments/resources.py's model).

For a stack of M models with P parameters, width w, depth L and n training points it counts the
forward and backward tensors (``ACTIVATION_TENSORS`` of size M·n·w per hidden layer), the optimiser
state (parameters, gradient, Adam moments and 2·history L-BFGS vectors per model; for
Levenberg–Marquardt the Jacobians and normal matrices of one chunk) and the dense test set.
"""

from __future__ import annotations

from approx.fitting import stack
from approx.fitting.plans import lm_bytes, lm_chunk
from approx.fitting.schedule import GROWN_SCHEDULE, KINKS_SCHEDULE
from experiments import resources
from experiments.rates.config import Config, points_for, stacks
from experiments.resources import Estimate


def check(cfg: Config, device: str = "cpu", allow_large: bool = False) -> None:
    """Refuse (one line) a config whose largest stack or test set would not fit; see :func:`estimates`."""
    resources.check(estimates(cfg), device, allow_large)


def estimates(cfg: Config) -> list[Estimate]:
    """One estimate per stack of a rates config, plus the test sets."""
    itemsize = stack.DTYPES[cfg.dtype].itemsize
    phases = [*cfg.phases, *(cfg.kinks_phases or KINKS_SCHEDULE), *GROWN_SCHEDULE]  # every start's
    history = max((p.history for p in phases if p.optimizer == "lbfgs"), default=0)
    out = []
    for group in stacks(cfg.jobs):
        arch, models = group[0].arch, len(group)
        points = points_for(cfg, arch.d_in, arch.size)
        act = resources.ACTIVATION_TENSORS * models * points * arch.width * arch.depth * itemsize
        state = (4 + 2 * history) * models * arch.size * 8  # master copies in float64 at most
        if any(p.optimizer == "lm" for p in phases):  # Jacobians and normal matrices, chunked by the engine
            state += lm_chunk(models, arch.size, points, itemsize) * lm_bytes(arch.size, points, itemsize)
        key = "sizes and data.train_points" if act >= state else "sizes"
        detail = f"{models} models × P={arch.size} × {points} points × width {arch.width} × depth {arch.depth}"
        out.append(Estimate(key, act + state, detail))
    widest = max(job.arch.width for job in cfg.jobs)
    for d in sorted({t.d for t in cfg.targets}):
        test = cfg.test_points * (d + 2 + resources.ACTIVATION_TENSORS * widest // 4) * 8
        out.append(Estimate("data.test_points", test, f"{cfg.test_points} test points, d={d}, width {widest}"))
    return out
