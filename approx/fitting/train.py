"""Fit many models at once: a stack of models through a schedule of phases (docs/theory.md §7).

The loss of model m is its own mean squared error L_m(θ_m). One backward pass of Σ_m L_m gives every
∇L_m, because the models share no parameter (approx/fitting/models.py). Every optimiser state is a
tensor with a leading model axis and every decision (step size, line-search acceptance, history
update, damping, divergence, early stop) is taken per row (approx/fitting/optim/), so a model's
trajectory is the one it would follow alone. An L-BFGS on Σ_m L_m would couple the models through one
step size and one curvature history; that is what this engine avoids (tests/approx/test_fitting.py
and tests/approx/test_precision.py check it against one-model runs). The pieces: docs/engine.md.

A model whose loss becomes NaN/inf or grows past ``explode`` × its starting loss is marked
``diverged`` and frozen; the others carry on. :func:`train` runs the stack in chunks chosen by
timing (approx/fitting/plans.py); the results do not depend on the chunking, unless a phase has a
wall-clock cap (``Phase.seconds``; a work budget, ``Phase.budget``, is counted, not timed).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from approx.fitting import plans
from approx.fitting.jacobian import output_jacobian
from approx.fitting.models import Architecture
from approx.fitting.optim.adam import adam
from approx.fitting.optim.budget import budget_steps
from approx.fitting.optim.lbfgs import lbfgs
from approx.fitting.optim.levenberg_marquardt import ResidualJacobian, Residuals, levenberg_marquardt
from approx.fitting.optim.state import LossGrad, Progress, State
from approx.fitting.schedule import Phase
from approx.fitting.varpro import solve_readout


def mse_loss_grad(arch: Architecture, x: Tensor, y: Tensor, compute_dtype: torch.dtype | None = None) -> LossGrad:
    """(θ, need_grad) → (per-model MSE (M,), ∇ (M, P) or None).

    ``compute_dtype`` (e.g. bfloat16): the forward pass runs in it while θ, the loss and the optimiser
    stay in θ's dtype (mixed precision; bf16 optimiser state would round 1 − 0.999 to 0).
    """

    def mse(theta: Tensor) -> Tensor:
        out = arch.forward(theta if compute_dtype is None else theta.to(compute_dtype), x)
        return (out.to(y.dtype) - y).square().mean(-1)

    def loss_grad(theta: Tensor, need_grad: bool = True) -> tuple[Tensor, Tensor | None]:
        if not need_grad:
            with torch.no_grad():
                return mse(theta), None
        theta = theta.detach().requires_grad_(True)
        loss = mse(theta)
        # masked sum: a NaN model must not poison the backward of the others
        (grad,) = torch.autograd.grad(torch.where(loss.isfinite(), loss, 0.0).sum(), theta)
        return loss.detach(), grad

    return loss_grad


def least_squares(arch: Architecture, x: Tensor, y: Tensor) -> tuple[Residuals, ResidualJacobian]:
    """The residuals r = f_θ(x) − y and their per-model Jacobians, for Gauss–Newton phases (float θ dtype)."""

    def residuals(theta: Tensor) -> Tensor:
        with torch.no_grad():
            return arch.forward(theta, x) - y

    def residual_jacobian(theta: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
        out, J = output_jacobian(arch, theta, x if x.dim() == 2 else x[rows])
        return out - y[rows], J

    return residuals, residual_jacobian


@dataclass(frozen=True)
class Fit:
    """What :func:`train` returns: final parameters and per-model status, steps, loss, history, wall time."""

    theta: Tensor
    status: list[str]
    stop: list[str]
    steps: list[int]
    train_loss: list[float]
    seconds: float
    chunk: int
    threads: int = 0  # CPU threads used (0: left as torch had it)
    history: list[list[float]] | None = None  # per model, the training loss after every step


def train_chunk(
    arch: Architecture,
    theta: Tensor,
    x: Tensor,
    y: Tensor,
    phases: list[Phase],
    lr_scale: Tensor | None = None,
    explode: float = 1e6,
    compute_dtype: torch.dtype | None = None,
    progress: Progress | None = None,
) -> Fit:
    """Train the stack theta (M, P) on x (M, N, d) or (N, d) and y (M, N) through the phases, as one stack.

    ``lr_scale`` (M,) multiplies each phase's lr per model (e.g. an lr sweep inside one stack);
    ``compute_dtype`` runs the forward pass in a lower precision (see :func:`mse_loss_grad`).
    """
    start = time.perf_counter()
    M = theta.shape[0]
    lr_scale = torch.ones(M, dtype=theta.dtype, device=theta.device) if lr_scale is None else lr_scale
    loss_grad = mse_loss_grad(arch, x, y, compute_dtype)
    residuals, residual_jacobian = least_squares(arch, x, y)

    def project(rows_theta: Tensor, rows: Tensor) -> Tensor:
        return solve_readout(arch, rows_theta, x if x.dim() == 2 else x[rows], y[rows])

    loss0, _ = loss_grad(theta, False)
    state = State(theta.clone(), ["ok"] * M, ["steps"] * M, torch.zeros(M, dtype=torch.long), loss0, loss0, progress)
    state.check_divergence(loss0, explode)
    for phase in phases:
        if not state.active.any():
            break
        runnable = state.active.clone()
        state.stop = [s if not runnable[m] else "steps" for m, s in enumerate(state.stop)]
        state.phase = phase.optimizer
        steps = budget_steps(phase, y.shape[1], theta.shape[1])
        cut, phase = steps < phase.steps, dataclasses.replace(phase, steps=steps)
        if phase.optimizer == "varpro":  # one exact solve of every active model's readout
            rows = state.active.nonzero()[:, 0]
            state.theta = state.theta.index_copy(0, rows, project(state.theta[rows], rows))
            state.record(residuals(state.theta).square().mean(1))
        elif phase.optimizer == "lm":
            levenberg_marquardt(state, residuals, residual_jacobian, phase, project)
        else:
            step_fn = adam if phase.optimizer == "adam" else lbfgs
            step_fn(state, loss_grad, phase, lr_scale.to(theta.dtype) * phase.lr, explode)
        if cut:  # a row that ran out of steps ran out of its budget
            state.stop = [("budget" if runnable[m] and s == "steps" else s) for m, s in enumerate(state.stop)]
        # plateau/converged stop a phase, not the fit: the next phase starts from there
        state.active = runnable & torch.tensor([s == "ok" for s in state.status], device=theta.device)
    ok = torch.tensor([s == "ok" for s in state.status], device=theta.device)
    history = torch.stack(state.history, 1).double().cpu() if state.history else torch.zeros(M, 0)
    return Fit(
        torch.where(ok[:, None], state.theta, 0.0).detach(),
        state.status,
        state.stop,
        state.steps.tolist(),
        [float(v) if s == "ok" else math.nan for v, s in zip(state.loss.tolist(), state.status, strict=True)],
        time.perf_counter() - start,
        M,
        history=history.tolist(),
    )


def train(
    arch: Architecture,
    theta: Tensor,
    x: Tensor,
    y: Tensor,
    phases: list[Phase],
    lr_scale: Tensor | None = None,
    explode: float = 1e6,
    chunk: int | None = None,
    threads: int | None = None,
    compute_dtype: torch.dtype | None = None,
    progress: Progress | None = None,
) -> Fit:
    """:func:`train_chunk` over chunks of the stack; ``chunk=None`` picks chunk size and threads by timing.

    Results do not depend on the chunking (each model's run is independent); only the wall time does.
    """
    M = theta.shape[0]
    if chunk is None:
        chunk, threads = plans.choose_plan(arch, M, x.shape[-2], compute_dtype or theta.dtype, str(theta.device))
    if any(p.optimizer == "lm" for p in phases):  # bound the Jacobians and normal matrices of one chunk
        chunk = plans.lm_chunk(chunk, arch.size, x.shape[-2], theta.element_size())
    parts = []
    with plans.intra_op_threads(threads):
        for lo in range(0, M, chunk):
            sl = slice(lo, lo + chunk)
            xs = x[sl] if x.dim() == 3 else x
            lr = None if lr_scale is None else lr_scale[sl]
            parts.append(train_chunk(arch, theta[sl], xs, y[sl], phases, lr, explode, compute_dtype, progress))
    return Fit(
        torch.cat([p.theta for p in parts]),
        [s for p in parts for s in p.status],
        [s for p in parts for s in p.stop],
        [s for p in parts for s in p.steps],
        [v for p in parts for v in p.train_loss],
        sum(p.seconds for p in parts),
        chunk,
        threads or 0,
        [h for p in parts for h in p.history or []],
    )
