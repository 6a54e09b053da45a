"""Per-model Adam (Kingma & Ba): elementwise, so stacking cannot couple models."""

from __future__ import annotations

import torch
from torch import Tensor

from approx.fitting.optim.state import LossGrad, Plateau, State, value_and_grad
from approx.fitting.schedule import Phase

BETA1, BETA2, EPS = 0.9, 0.999, 1e-8


def adam(state: State, loss_grad: LossGrad, phase: Phase, lr: Tensor, explode: float) -> None:
    """Up to ``phase.steps`` Adam steps of the active rows; ``lr`` (M,) per model times the phase's factor."""
    theta = state.theta
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    t = torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)
    loss, grad = value_and_grad(loss_grad, theta)
    plateau = Plateau(phase.patience, phase.min_delta, loss)
    for step in range(phase.steps):
        act = state.active[:, None]
        t = t + state.active.to(t.dtype)
        m = torch.where(act, BETA1 * m + (1 - BETA1) * grad, m)
        v = torch.where(act, BETA2 * v + (1 - BETA2) * grad.square(), v)
        tt = t.clamp(min=1)[:, None]
        update = (lr * phase.factor(step))[:, None] * (m / (1 - BETA1**tt)) / ((v / (1 - BETA2**tt)).sqrt() + EPS)
        theta = torch.where(act, theta - update, theta)
        state.theta, state.steps = theta, state.steps + state.active.long()
        loss, grad = value_and_grad(loss_grad, theta)
        state.record(loss)
        state.check_divergence(loss, explode)
        plateau.update(state, loss)
        if not state.active.any():
            break
