"""The optimiser schedule: a list of phases, e.g. Adam for 300 steps, then Levenberg–Marquardt (docs/theory.md §7)."""

from __future__ import annotations

import math
from dataclasses import dataclass

OPTIMIZERS = ("adam", "lbfgs", "lm", "varpro")
SCHEDULES = ("constant", "cosine", "exponential")


@dataclass(frozen=True)
class Phase:
    """One stage of the optimiser schedule, e.g. Adam for 1000 steps then L-BFGS for 500."""

    optimizer: str = "adam"
    steps: int = 1000
    lr: float = 1e-3
    schedule: str = "constant"  # lr multiplier over the phase: constant, cosine (to 0), exponential (to 1e-2)
    history: int = 20  # L-BFGS memory
    patience: int = 0  # early stop after this many steps without min_delta relative improvement; 0 = off
    min_delta: float = 1e-4
    max_line_search: int = 25
    damping: float = 1e-3  # LM: starting λ (relative to diag JᵀJ)
    xtol: float = 1e-12  # LM, L-BFGS: stop when the step is below xtol relative to ‖θ‖
    gtol: float = 0.0  # LM: stop when ‖Jᵀr‖_∞ falls to gtol (0: off)
    cg_above: int = 1500  # LM: matrix-free CG instead of Cholesky above this many parameters
    cg_iters: int = 100  # LM: CG iterations per step at most
    varpro: bool = False  # LM: re-solve the readout by least squares after every accepted step
    seconds: float = 0.0  # wall-clock limit of the phase per chunk of a stack (0: none)
    budget: float = 0.0  # work limit per model, in seconds of the reference machine (optim/budget.py; 0: none)

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        for name, lo in (
            ("steps", 0),
            ("history", 1),
            ("patience", 0),
            ("max_line_search", 1),
            ("cg_above", 0),
            ("cg_iters", 1),
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"phase {name} must be an integer >= {lo}, got {v!r}")
        for name in ("lr", "min_delta", "damping"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < math.inf:
                raise ValueError(f"phase {name} must be a positive number, got {v!r}")
        if not isinstance(self.varpro, bool):
            raise ValueError(f"phase varpro must be true or false, got {self.varpro!r}")
        for name in ("xtol", "gtol", "seconds", "budget"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf:
                raise ValueError(f"phase {name} must be a number >= 0, got {v!r}")

    def factor(self, step: int) -> float:
        frac = step / max(1, self.steps)
        if self.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * frac))
        if self.schedule == "exponential":
            return 0.01**frac
        return 1.0


#: work budgets of the default schedules' second-order phases per model, in seconds of the reference machine
#: (approx/fitting/optim/budget.py): counted, not timed, so a fit ends alike under any load; a Levenberg–Marquardt
#: step costs O(N·P²) (or CG iterations of O(N·P)), so small fits end by their step counts first
LBFGS_BUDGET, LM_BUDGET = 10.0, 15.0
#: the schedule of a uniform start: Adam leaves the start's basin, Levenberg–Marquardt descends, the
#: readout is solved exactly (benchmarks/RESULTS.md, robustness: chosen on the tuning cells)
UNIFORM_SCHEDULE = (
    Phase("adam", steps=300, lr=1e-2, schedule="cosine"),
    Phase("lm", steps=500, budget=LM_BUDGET),
    Phase("varpro"),
)
#: a candidate for the uniform start's schedule, L-BFGS between Adam and LM (benchmarks/engine_choice.py)
LBFGS_FIRST = (
    Phase("adam", steps=300, lr=1e-2, schedule="cosine"),
    Phase("lbfgs", steps=1000, lr=1.0, budget=LBFGS_BUDGET),
    Phase("lm", steps=500, budget=LM_BUDGET),
    Phase("varpro"),
)
#: for the "kinks" start (approx/fitting/initialisation.py): keep it, solve the readout, then LM
KINKS_SCHEDULE = (Phase("varpro"), Phase("lm", steps=500, budget=LM_BUDGET), Phase("varpro"))
#: for a network grown from a shallower fit (approx/fitting/growth.py): LM only ever lowers the loss
GROWN_SCHEDULE = (Phase("lm", steps=500, budget=LM_BUDGET), Phase("varpro"))
#: for the portfolio's winner, on every training point: both descents again, each only lowering the loss
POLISH_SCHEDULE = (
    Phase("lbfgs", steps=1000, lr=1.0, budget=LBFGS_BUDGET),
    Phase("lm", steps=300, budget=LM_BUDGET),
    Phase("varpro"),
)
