"""Work budgets: a phase's cap in seconds of a reference machine, per model (docs/engine.md, "Budgets").

A wall-clock cap (``Phase.seconds``) ends a phase wherever the machine's load and the stack's chunking
happen to put it, so the same fit can end differently twice. A budget (``Phase.budget``) is counted,
not timed: each step is charged the seconds it would take one model on the reference machine (one
thread of the 2-core CPU the lab's benchmarks run on), by a nominal operation count for a model of P
parameters fitted on N points. The phase then ends after the same number of steps on any machine,
under any load, in any chunk. The counts (a forward pass is 2·N·P):

- Levenberg–Marquardt with Cholesky: JᵀJ and its factor, 2·N·P² + P³/3, at :data:`GEMM_RATE`;
- Levenberg–Marquardt with conjugate gradients: ``cg_iters`` + 1 products with J and Jᵀ, 4·N·P each,
  at :data:`MATVEC_RATE` (these are memory-bound);
- L-BFGS: two loss-and-gradient passes, 6·N·P each; Adam: one; both at :data:`PASS_RATE`.

The rates are the reference machine's, measured by ``benchmarks/budget.py`` (benchmarks/RESULTS.md),
where the charged and the measured seconds per step can be compared on any machine.
"""

from __future__ import annotations

import math

from approx.fitting.schedule import Phase

#: floating-point operations per second of the reference machine, one thread
GEMM_RATE, MATVEC_RATE, PASS_RATE = 3e10, 3.5e9, 2e9


def step_seconds(phase: Phase, points: int, params: int) -> float:
    """Seconds one step of ``phase`` is charged for one model of ``params`` parameters on ``points`` points."""
    N, P = float(points), float(params)
    if phase.optimizer == "lm":
        if phase.cg_above < params:
            return 4 * N * P * (phase.cg_iters + 1) / MATVEC_RATE
        return (2 * N * P * P + P**3 / 3) / GEMM_RATE
    passes = 2 if phase.optimizer == "lbfgs" else 1
    return passes * 6 * N * P / PASS_RATE


def budget_steps(phase: Phase, points: int, params: int) -> int:
    """The steps ``phase`` may take: its ``steps``, cut to what its ``budget`` buys (at least one); a
    learning-rate schedule then runs over the steps it may take."""
    if not phase.budget:
        return phase.steps
    return min(phase.steps, max(1, math.floor(phase.budget / step_seconds(phase, points, params))))
