"""What the phases of one stacked fit share: parameters, per-model status, loss and its history.

Every field has a leading model axis (or is a per-model list), and every decision is taken per
row, so a model's trajectory is the one it would follow alone (approx/fitting/train.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

#: (θ (M, P), need_grad) -> (per-model loss (M,), gradient (M, P) or None)
LossGrad = Callable[[Tensor, bool], tuple[Tensor, Tensor | None]]
#: called after every optimiser step with (phase name, step, per-model loss)
Progress = Callable[[str, int, Tensor], None]


@dataclass
class State:
    """Per-model bookkeeping shared by the phases of one fit."""

    theta: Tensor  # (M, P)
    status: list[str]  # "ok" | "diverged"
    stop: list[str]  # why the model stopped: steps | plateau | converged | diverged | time | budget
    steps: Tensor  # optimiser steps taken, per model
    start_loss: Tensor
    loss: Tensor
    progress: Progress | None = None
    history: list[Tensor] = field(default_factory=list)  # the loss after every step, (M,) each
    phase: str = ""
    active: Tensor = field(init=False)

    def __post_init__(self):
        self.active = torch.ones(len(self.status), dtype=torch.bool, device=self.theta.device)

    def freeze(self, mask: Tensor, reason: str) -> None:
        for m in torch.nonzero(mask & self.active).flatten().tolist():
            self.stop[m] = reason
            if reason == "diverged":
                self.status[m] = "diverged"
        self.active &= ~mask

    def record(self, loss: Tensor) -> None:
        """Store the active rows' new loss, append it to the history and report progress."""
        self.loss = torch.where(self.active, loss, self.loss)
        self.history.append(self.loss.detach().clone())  # stays on the device: no sync per step
        if self.progress is not None:
            self.progress(self.phase, len(self.history), self.loss)

    def check_divergence(self, loss: Tensor, explode: float) -> None:
        """Freeze (``diverged``) rows whose loss is not finite or grew past ``explode`` × its start."""
        bad = ~loss.isfinite() | (loss > explode * self.start_loss) | ~self.theta.isfinite().all(1)
        self.freeze(bad, "diverged")


class Plateau:
    """Per-model early stop: no relative improvement ≥ min_delta of the best loss for ``patience`` steps."""

    def __init__(self, patience: int, min_delta: float, loss: Tensor):
        self.patience, self.min_delta = patience, min_delta
        self.best, self.since = loss.clone(), torch.zeros_like(loss, dtype=torch.long)

    def update(self, state: State, loss: Tensor) -> None:
        if not self.patience:
            return
        better = loss < self.best * (1 - self.min_delta)
        self.best = torch.where(better, loss, self.best)
        self.since = torch.where(better, 0, self.since + 1)
        state.freeze(self.since >= self.patience, "plateau")


def value_and_grad(loss_grad: LossGrad, theta: Tensor) -> tuple[Tensor, Tensor]:
    """Per-model loss and gradient (``loss_grad`` with ``need_grad=True`` always returns one)."""
    loss, grad = loss_grad(theta, True)
    assert grad is not None
    return loss, grad
