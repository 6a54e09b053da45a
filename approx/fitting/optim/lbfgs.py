"""Per-model L-BFGS with a strong-Wolfe line search (Nocedal & Wright, Alg. 7.4–7.5; docs/theory.md §7)."""

from __future__ import annotations

import time

import torch
from torch import Tensor

from approx.fitting.optim.line_search import Point, strong_wolfe
from approx.fitting.optim.state import LossGrad, Plateau, State, value_and_grad
from approx.fitting.schedule import Phase


def two_loop(g: Tensor, S: Tensor, Y: Tensor, rho: Tensor) -> Tensor:
    """H·g by the L-BFGS two-loop recursion, per row; empty history slots have rho = 0 and S = Y = 0."""
    q = g.clone()
    alpha = torch.zeros_like(rho)
    for i in reversed(range(S.shape[1])):
        alpha[:, i] = rho[:, i] * (S[:, i] * q).sum(1)
        q -= alpha[:, i, None] * Y[:, i]
    ys, yy = (S[:, -1] * Y[:, -1]).sum(1), Y[:, -1].square().sum(1)
    gamma = torch.where(rho[:, -1] > 0, ys / yy.clamp(min=torch.finfo(g.dtype).tiny), 1.0)
    r = gamma[:, None] * q
    for i in range(S.shape[1]):
        beta = rho[:, i] * (Y[:, i] * r).sum(1)
        r += (alpha[:, i] - beta)[:, None] * S[:, i]
    return r


def lbfgs(state: State, loss_grad: LossGrad, phase: Phase, lr: Tensor, explode: float) -> None:
    """Per-model L-BFGS: own history (S, Y), own step, own strong-Wolfe line search (optim/line_search.py).

    Row m's direction d_m = −H_m g_m comes from its own curvature pairs; its line search starts at
    lr_m (lr_m·min(1, 1/‖g_m‖₁) with an empty history, as torch.optim.LBFGS does). A pair (s, y)
    enters row m's history when sᵀy > 1e-10·‖s‖‖y‖: a test of the angle, not of the size, so the
    history keeps updating however small the loss becomes. A row stops (``converged``) when the
    line search finds no decrease, or its step falls below ``xtol`` relative to ‖θ‖.
    """
    start_time = time.perf_counter()
    theta = state.theta
    M, P = theta.shape
    h = phase.history
    S = torch.zeros(M, h, P, dtype=theta.dtype, device=theta.device)
    Y, rho = torch.zeros_like(S), torch.zeros(M, h, dtype=theta.dtype, device=theta.device)
    loss, grad = value_and_grad(loss_grad, theta)
    plateau = Plateau(phase.patience, phase.min_delta, loss)
    for step in range(phase.steps):
        d = -two_loop(grad, S, Y, rho)
        gtd = (grad * d).sum(1)
        restart = ~(gtd < 0)  # not a descent direction: drop the history, go down the gradient
        if restart.any():
            d = torch.where(restart[:, None], -grad, d)
            gtd = (grad * d).sum(1)
            keep = ~restart[:, None]
            S, Y, rho = S * keep[..., None], Y * keep[..., None], rho * keep
        empty = rho.sum(1) == 0
        t0 = lr * phase.factor(step) * torch.where(empty, (1.0 / grad.abs().sum(1)).clamp(max=1.0), 1.0)
        here = Point(torch.zeros_like(loss), loss, gtd, grad)
        new, moved = strong_wolfe(loss_grad, theta, d, here, t0, state.active, phase.max_line_search)
        moved &= state.active
        state.freeze(~moved, "converged")  # no decrease along a descent direction: at float precision
        s = torch.where(moved[:, None], new.t[:, None] * d, 0.0)
        y = torch.where(moved[:, None], new.g - grad, 0.0)
        ys = (s * y).sum(1)
        push = moved & (ys > 1e-10 * s.norm(dim=1) * y.norm(dim=1))
        S = torch.where(push[:, None, None], torch.cat([S[:, 1:], s[:, None]], 1), S)
        Y = torch.where(push[:, None, None], torch.cat([Y[:, 1:], y[:, None]], 1), Y)
        rho = torch.where(push[:, None], torch.cat([rho[:, 1:], (1.0 / ys.clamp(min=1e-300))[:, None]], 1), rho)
        theta = theta + s
        loss, grad = torch.where(moved, new.f, loss), torch.where(moved[:, None], new.g, grad)
        state.theta, state.steps = theta, state.steps + moved.long()
        state.record(loss)
        state.check_divergence(loss, explode)
        plateau.update(state, loss)
        state.freeze(moved & (s.norm(dim=1) <= phase.xtol * theta.norm(dim=1).clamp(min=1.0)), "converged")
        if phase.seconds and time.perf_counter() - start_time > phase.seconds:
            state.freeze(state.active, "time")
        if not state.active.any():
            break
