"""Per-model Levenberg–Marquardt for stacked least-squares fits (docs/theory.md §7).

Model m minimises ½‖r_m(θ_m)‖², r_m = f_θm(x) − y, with its own damping λ_m. Each step solves the
damped normal equations (J_mᵀJ_m + λ_m D_m) δ_m = −J_mᵀ r_m, D_m = diag(J_mᵀJ_m) + c·mean(diag)
(Marquardt's scaling, lifted so that parameters the loss barely sees stay damped): by a batched
Cholesky over the model axis up to ``Phase.cg_above`` parameters, by matrix-free conjugate gradients
above (:class:`MatrixFree` says why). The step is taken only if it lowers the loss, so the loss never increases; λ_m
follows Nielsen's rule on the gain ratio ρ = actual / predicted reduction: accepted steps shrink it
by max(1/3, 1 − (2ρ − 1)³), rejected ones grow it by ν (doubling ν each time).

A model stops (``converged``) when its relative step ‖δ‖ ≤ xtol·(‖θ‖ + xtol), when its gradient
‖Jᵀr‖_∞ ≤ gtol, or when λ passes 1e16 (no step can lower the loss at float precision); with
``patience``, also (``plateau``) after that many steps without a relative gain of ``min_delta``.
Memory per model: J (N·P), and JᵀJ (P²) below the CG threshold, in θ's dtype; approx/fitting/plans.py
chunks a stack that would not fit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import Tensor

from approx.fitting.optim.state import Plateau, State
from approx.fitting.schedule import Phase

#: (theta rows (K, P), their model indices (K,)) -> (residuals (K, N), Jacobian (K, N, P))
ResidualJacobian = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]
#: theta (M, P) -> residuals (M, N), no gradient
Residuals = Callable[[Tensor], Tensor]
#: (theta rows (K, P), their model indices (K,)) -> theta rows with the readout solved exactly
Projection = Callable[[Tensor, Tensor], Tensor]
MAX_DAMPING = 1e16
#: D's floor relative to its mean: 0 is Marquardt's scaling, large values Levenberg's isotropic damping
#: (chosen on the robustness benchmark's tuning cells: benchmarks/RESULTS.md)
LIFT = 1e-2


def gradient(J: Tensor, r: Tensor) -> Tensor:
    """Jᵀr (M, P), batched over the model axis."""
    return (J.transpose(1, 2) @ r[..., None])[..., 0]


def normal_equations(J: Tensor, r: Tensor) -> tuple[Tensor, Tensor]:
    """(JᵀJ (M, P, P), Jᵀr (M, P)), batched over the model axis."""
    return J.transpose(1, 2) @ J, gradient(J, r)


def lifted(diag: Tensor) -> Tensor:
    """Marquardt's D = diag(JᵀJ), lifted by LIFT·mean(diag): a parameter the loss barely sees (a unit that
    seldom fires) stays damped like an average one instead of taking a huge step."""
    diag = diag.clamp(min=0)
    return diag + LIFT * diag.mean(1, keepdim=True).clamp(min=torch.finfo(diag.dtype).tiny)


def marquardt_scale(A: Tensor) -> Tensor:
    """D for the normal matrix A = JᵀJ (M, P, P)."""
    return lifted(A.diagonal(dim1=1, dim2=2))


def damped_step(A: Tensor, g: Tensor, lam: Tensor, D: Tensor) -> tuple[Tensor, Tensor]:
    """(δ, ok): δ solves (A + λD) δ = −g per model; ok is False where the Cholesky factorisation failed."""
    L, info = torch.linalg.cholesky_ex(A + torch.diag_embed(lam[:, None] * D))
    delta = torch.cholesky_solve(-g[..., None], L)[..., 0]
    return delta, (info == 0) & delta.isfinite().all(1)


class Normal:
    """Curvature held as JᵀJ (M, P, P): a batched Cholesky solve per step (P up to ``cg_above``)."""

    def __init__(self, J: Tensor, r: Tensor):
        self.A, self.g = normal_equations(J, r)

    def step(self, lam: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(δ, ok, predicted reduction of ½‖r‖²) for damping λ."""
        D = marquardt_scale(self.A)
        delta, ok = damped_step(self.A, self.g, lam, D)
        quad = (delta[:, None, :] @ self.A @ delta[..., None])[:, 0, 0]
        return delta, ok, -((self.g * delta).sum(1) + 0.5 * quad)

    def update(self, rows: Tensor, J: Tensor, r: Tensor) -> None:
        A, g = normal_equations(J, r)
        self.A, self.g = self.A.index_copy(0, rows, A), self.g.index_copy(0, rows, g)


class MatrixFree:
    """Curvature held as J (M, N, P): preconditioned conjugate gradients on JᵀJ + λD, never forming JᵀJ.

    Above ``cg_above`` parameters the P×P matrix (P²·8 bytes per model) and its O(P³) factorisation
    cost more than ``cg_iters`` products with J and Jᵀ (O(N·P) each); CG also runs where JᵀJ would
    not fit in memory. Jacobi preconditioner (1 + λ)·D.
    """

    def __init__(self, J: Tensor, r: Tensor, iters: int):
        self.J, self.g, self.D, self.iters = J, gradient(J, r), lifted(J.square().sum(1)), iters

    def step(self, lam: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        J, g, D = self.J, self.g, self.D

        def apply(v: Tensor) -> Tensor:
            return (J.transpose(1, 2) @ (J @ v[..., None]))[..., 0] + lam[:, None] * D * v

        precond = 1 / ((1 + lam[:, None]) * D)
        x, res = torch.zeros_like(g), -g
        z = precond * res
        p, rz = z, (res * z).sum(1)
        target = 1e-24 * (g * precond * g).sum(1)  # relative residual 1e-12 in the preconditioned norm
        done = torch.zeros_like(target, dtype=torch.bool)  # per row: a model's step never depends on its stack
        tiny = torch.finfo(J.dtype).tiny
        for _ in range(self.iters):
            Ap = apply(p)
            alpha = torch.where(done, 0.0, rz / (p * Ap).sum(1).clamp(min=tiny))
            x, res = x + alpha[:, None] * p, res - alpha[:, None] * Ap
            z = precond * res
            rz_new = (res * z).sum(1)
            done |= rz_new <= target
            if done.all():
                break
            p = torch.where(done[:, None], p, z + (rz_new / rz.clamp(min=tiny))[:, None] * p)
            rz = rz_new
        Jx = (J @ x[..., None])[..., 0]
        return x, x.isfinite().all(1), -((g * x).sum(1) + 0.5 * Jx.square().sum(1))

    def update(self, rows: Tensor, J: Tensor, r: Tensor) -> None:
        self.J = self.J.index_copy(0, rows, J)
        self.g = self.g.index_copy(0, rows, gradient(J, r))
        self.D = self.D.index_copy(0, rows, lifted(J.square().sum(1)))


def levenberg_marquardt(
    state: State,
    residuals: Residuals,
    residual_jacobian: ResidualJacobian,
    phase: Phase,
    project: Projection | None = None,
) -> None:
    """Run up to ``phase.steps`` LM iterations on the active rows of ``state``.

    With ``phase.varpro``, ``project`` re-solves the readout of every model that moved, right after
    its step (variable projection by alternation): the loss can only fall further, and the hidden
    layers are always judged with their best readout.
    """
    start = time.perf_counter()
    theta = state.theta
    M, P = theta.shape
    r, J = residual_jacobian(theta, torch.arange(M, device=theta.device))
    N = r.shape[1]
    curvature = MatrixFree(J, r, phase.cg_iters) if phase.cg_above < P else Normal(J, r)
    half_sse = 0.5 * r.square().sum(1)
    lam = torch.full((M,), phase.damping, dtype=theta.dtype, device=theta.device)
    nu = torch.full_like(lam, 2.0)
    projected = phase.varpro and project is not None
    plateau = Plateau(phase.patience, phase.min_delta, 2 * half_sse / N)
    for _ in range(phase.steps):
        state.freeze(curvature.g.abs().amax(1) <= phase.gtol, "converged")
        active = state.active.clone()
        delta, ok, predicted = curvature.step(lam)
        delta = torch.where((active & ok)[:, None], delta, 0.0)
        new_half = 0.5 * residuals(theta + delta).square().sum(1)
        accept = active & ok & new_half.isfinite() & (new_half < half_sse) & (predicted > 0)
        rho = (half_sse - new_half) / predicted.clamp(min=torch.finfo(theta.dtype).tiny)
        shrink = (1 - (2 * rho - 1) ** 3).clamp(min=1 / 3)
        lam = torch.where(accept, lam * shrink, torch.where(active, lam * nu, lam))
        nu = torch.where(accept, 2.0, torch.where(active, 2 * nu, nu))
        small = delta.norm(dim=1) <= phase.xtol * (theta.norm(dim=1) + phase.xtol)
        theta = torch.where(accept[:, None], theta + delta, theta)
        half_sse = torch.where(accept, new_half, half_sse)
        if accept.any():  # new curvature only where the point moved
            rows = accept.nonzero()[:, 0]
            if projected and project is not None:
                theta = theta.index_copy(0, rows, project(theta[rows], rows))
            r_new, J_new = residual_jacobian(theta[rows], rows)
            if projected:  # the projection moved the readout: a new (lower) loss
                half_sse = half_sse.index_copy(0, rows, 0.5 * r_new.square().sum(1))
            curvature.update(rows, J_new, r_new)
        state.theta, state.steps = theta, state.steps + accept.long()
        state.record(2 * half_sse / N)
        plateau.update(state, 2 * half_sse / N)
        state.freeze(accept & small, "converged")
        state.freeze(lam > MAX_DAMPING, "converged")
        if phase.seconds and time.perf_counter() - start > phase.seconds:
            state.freeze(state.active, "time")
        if not state.active.any():
            break
