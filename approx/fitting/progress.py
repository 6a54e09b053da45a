"""A progress line for fits that take a while: the phase, the step and the best loss of the stack.

Nothing is shown for the first :data:`DELAY` seconds (most fits end before), nor when stderr is not
a terminal or the caller asks for quiet. The line is refreshed at most every :data:`EVERY` seconds,
so reading the loss (a device sync on CUDA) costs nothing measurable.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from torch import Tensor

DELAY, EVERY = 3.0, 0.25


class FitProgress:
    """A callable for approx/fitting/optim/state.py's ``progress`` hook; use it as a context manager."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.perf_counter()
        self.last = 0.0
        self.bar: Any = None  # a tqdm bar, made on first need

    def __call__(self, phase: str, step: int, loss: Tensor) -> None:
        now = time.perf_counter()
        if not self.enabled or now - self.start < DELAY or now - self.last < EVERY:
            return
        self.last = now
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(desc=self.label, unit="step", dynamic_ncols=True, leave=False)
        best = float(loss.nan_to_num(float("inf")).min())
        self.bar.set_postfix_str(f"{phase} step {step}, loss {best:.3e}", refresh=False)
        self.bar.update(step - self.bar.n)

    def __enter__(self) -> FitProgress:
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()
