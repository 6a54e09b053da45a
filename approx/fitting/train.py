"""Fit many models at once: stacked networks, per-model Adam, L-BFGS, Levenberg–Marquardt and VarPro.

The loss of model m is its own mean squared error L_m(θ_m). One backward pass of Σ_m L_m gives every
∇L_m, because the models share no parameter (approx.fitting.models). Every optimiser state is a tensor
with a leading model axis and every decision (step size, line-search acceptance, history update,
damping, divergence, early stop) is taken per row, so a model's trajectory is the one it would
follow alone. An L-BFGS on Σ_m L_m would couple the models through one step size and one curvature
history; that is what this module avoids (tests/approx/test_fitting.py and tests/approx/test_precision.py check
it against one-model runs). The method: docs/theory.md §7; the pieces: docs/engine.md.

A model whose loss becomes NaN/inf or grows past ``explode`` × its starting loss is marked
``diverged`` and frozen; the others carry on. :func:`fit` chooses, by timing, between one stack and
smaller chunks (down to one model at a time): stacking pays for narrow nets, not for wide ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from approx.fitting.jacobian import jacobian_bytes, output_jacobian
from approx.fitting.levenberg_marquardt import ResidualJacobian, Residuals, levenberg_marquardt
from approx.fitting.line_search import Point, strong_wolfe
from approx.fitting.models import Architecture
from approx.fitting.varpro import solve_readout

OPTIMIZERS = ("adam", "lbfgs", "lm", "varpro")
SCHEDULES = ("constant", "cosine", "exponential")
LossGrad = Callable[[Tensor, bool], tuple[Tensor, Tensor | None]]


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
    seconds: float = 0.0  # wall-clock limit of the phase per stack (0: none)

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
        for name in ("xtol", "gtol", "seconds"):
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


#: the schedule of a rates config without [[phases]]: a short Adam start, Levenberg–Marquardt, then the
#: readout solved exactly (benchmarks/RESULTS.md, "precision": chosen on the tuning targets only)
DEFAULT_SCHEDULE = (Phase("adam", steps=300, lr=1e-2, schedule="cosine"), Phase("lm", steps=500), Phase("varpro"))
#: for the "kinks" start (approx/fitting/initialisation.py): keep it, solve the readout, then LM
KINKS_SCHEDULE = (Phase("varpro"), Phase("lm", steps=500), Phase("varpro"))


def default_schedule(start: str) -> tuple[Phase, ...]:
    """The schedule of a start (approx/fitting/initialisation.py) when none is given: kinks keep theirs."""
    return KINKS_SCHEDULE if start == "kinks" else DEFAULT_SCHEDULE


@dataclass
class State:
    """Per-model bookkeeping shared by the phases of one fit."""

    theta: Tensor
    status: list[str]  # "ok" | "diverged"
    stop: list[str]  # why the model stopped: steps | plateau | converged | diverged
    steps: Tensor  # optimiser steps taken, per model
    start_loss: Tensor
    loss: Tensor
    active: Tensor = field(init=False)

    def __post_init__(self):
        self.active = torch.ones(len(self.status), dtype=torch.bool, device=self.theta.device)

    def freeze(self, mask: Tensor, reason: str) -> None:
        for m in torch.nonzero(mask & self.active).flatten().tolist():
            self.stop[m] = reason
            if reason == "diverged":
                self.status[m] = "diverged"
        self.active &= ~mask


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


def _check_divergence(state: State, loss: Tensor, explode: float) -> None:
    bad = ~loss.isfinite() | (loss > explode * state.start_loss) | ~state.theta.isfinite().all(1)
    state.freeze(bad, "diverged")


class Plateau:
    """Per-model early stop: no relative improvement ≥ min_delta of the best loss for ``patience`` steps."""

    def __init__(self, phase: Phase, loss: Tensor):
        self.phase, self.best, self.since = phase, loss.clone(), torch.zeros_like(loss, dtype=torch.long)

    def update(self, state: State, loss: Tensor) -> None:
        if not self.phase.patience:
            return
        better = loss < self.best * (1 - self.phase.min_delta)
        self.best = torch.where(better, loss, self.best)
        self.since = torch.where(better, 0, self.since + 1)
        state.freeze(self.since >= self.phase.patience, "plateau")


def value_and_grad(loss_grad: LossGrad, theta: Tensor) -> tuple[Tensor, Tensor]:
    """Per-model loss and gradient (``loss_grad`` with ``need_grad=True`` always returns one)."""
    loss, grad = loss_grad(theta, True)
    assert grad is not None
    return loss, grad


def adam(state: State, loss_grad: LossGrad, phase: Phase, lr: Tensor, explode: float) -> None:
    """Per-model Adam (β = 0.9, 0.999; ε = 1e-8): elementwise, so stacking cannot couple models."""
    b1, b2, eps = 0.9, 0.999, 1e-8
    theta = state.theta
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    t = torch.zeros(theta.shape[0], dtype=theta.dtype, device=theta.device)
    loss, grad = value_and_grad(loss_grad, theta)
    plateau = Plateau(phase, loss)
    for step in range(phase.steps):
        act = state.active[:, None]
        t = t + state.active.to(t.dtype)
        m = torch.where(act, b1 * m + (1 - b1) * grad, m)
        v = torch.where(act, b2 * v + (1 - b2) * grad.square(), v)
        tt = t.clamp(min=1)[:, None]
        update = (lr * phase.factor(step))[:, None] * (m / (1 - b1**tt)) / ((v / (1 - b2**tt)).sqrt() + eps)
        theta = torch.where(act, theta - update, theta)
        state.theta, state.steps = theta, state.steps + state.active.long()
        loss, grad = value_and_grad(loss_grad, theta)
        state.loss = torch.where(state.active, loss, state.loss)
        _check_divergence(state, loss, explode)
        plateau.update(state, loss)
        if not state.active.any():
            break


def _two_loop(g: Tensor, S: Tensor, Y: Tensor, rho: Tensor) -> Tensor:
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
    """Per-model L-BFGS: own history (S, Y), own step, own strong-Wolfe line search (approx.fitting.line_search).

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
    plateau = Plateau(phase, loss)
    for step in range(phase.steps):
        d = -_two_loop(grad, S, Y, rho)
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
        state.loss = torch.where(state.active, loss, state.loss)
        _check_divergence(state, loss, explode)
        plateau.update(state, loss)
        state.freeze(moved & (s.norm(dim=1) <= phase.xtol * theta.norm(dim=1).clamp(min=1.0)), "converged")
        if phase.seconds and time.perf_counter() - start_time > phase.seconds:
            state.freeze(state.active, "time")
        if not state.active.any():
            break


@dataclass
class Fit:
    """What :func:`fit` returns: final parameters and per-model status, steps, loss, wall time."""

    theta: Tensor
    status: list[str]
    stop: list[str]
    steps: list[int]
    train_loss: list[float]
    seconds: float
    chunk: int
    threads: int = 0  # CPU threads used (0: left as torch had it)


def fit_stack(
    arch: Architecture,
    theta: Tensor,
    x: Tensor,
    y: Tensor,
    phases: list[Phase],
    lr_scale: Tensor | None = None,
    explode: float = 1e6,
    compute_dtype: torch.dtype | None = None,
) -> Fit:
    """Train the stack theta (M, P) on x (M, N, d) or (N, d) and y (M, N) through the phases.

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
    state = State(theta.clone(), ["ok"] * M, ["steps"] * M, torch.zeros(M, dtype=torch.long), loss0, loss0)
    _check_divergence(state, loss0, explode)
    for phase in phases:
        if not state.active.any():
            break
        runnable = state.active.clone()
        state.stop = [s if not runnable[m] else "steps" for m, s in enumerate(state.stop)]
        if phase.optimizer == "varpro":  # one exact solve of every active model's readout
            rows = state.active.nonzero()[:, 0]
            state.theta = state.theta.index_copy(0, rows, project(state.theta[rows], rows))
            state.loss = torch.where(state.active, residuals(state.theta).square().mean(1), state.loss)
        elif phase.optimizer == "lm":
            levenberg_marquardt(state, residuals, residual_jacobian, phase, project)
        else:
            step_fn = adam if phase.optimizer == "adam" else lbfgs
            step_fn(state, loss_grad, phase, lr_scale.to(theta.dtype) * phase.lr, explode)
        # plateau/converged stop a phase, not the fit: the next phase starts from there
        state.active = runnable & torch.tensor([s == "ok" for s in state.status], device=theta.device)
    theta_out = torch.where(torch.tensor([s == "ok" for s in state.status])[:, None].to(theta.device), state.theta, 0.0)
    return Fit(
        theta_out.detach(),
        state.status,
        state.stop,
        state.steps.tolist(),
        [float(v) if s == "ok" else math.nan for v, s in zip(state.loss.tolist(), state.status, strict=True)],
        time.perf_counter() - start,
        M,
    )


# --------------------------------------------------------------------------- stacked vs one-at-a-time

_PLAN_CACHE: dict[tuple, tuple[int, int]] = {}


class intra_op_threads:
    """Context manager: run with ``n`` torch CPU threads (None: leave as is), restore afterwards.

    Why: on a small shared CPU, tiny matmuls on 2 threads can be 10-100x slower than on 1
    (threads wait on each other's barriers while the other core is busy), so the engine measures both.
    """

    def __init__(self, n: int | None):
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self):
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def time_plans(
    arch: Architecture, plans: list[tuple[int, int]], points: int, dtype=torch.float64, device="cpu", repeats=5
) -> dict[tuple[int, int], list[float]]:
    """Seconds per model of one loss+gradient pass for each (stack size, threads) plan, ``repeats`` each.

    The plans are timed round-robin, so a change in the machine's load hits all of them alike.
    """
    passes = {}
    for chunk in sorted({c for c, _ in plans}):
        theta = arch.init(list(range(chunk)), dtype, device)
        x = torch.rand(points, arch.d_in, dtype=dtype, device=device)
        y = torch.zeros(chunk, points, dtype=dtype, device=device)
        passes[chunk] = (mse_loss_grad(arch, x, y), theta)
    times: dict[tuple[int, int], list[float]] = {plan: [] for plan in plans}
    for r in range(repeats + 1):
        for chunk, threads in plans:
            loss_grad, theta = passes[chunk]
            with intra_op_threads(threads or None):
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                loss_grad(theta, True)
                if device.startswith("cuda"):
                    torch.cuda.synchronize()
                if r:  # pass 0 is the warm-up (allocator, kernels, compilation)
                    times[(chunk, threads)].append((time.perf_counter() - t0) / chunk)
    return times


def plan_cost(times: list[float]) -> float:
    """Median seconds per model: the statistic :func:`choose_plan` minimises and ``polylab bench sweep`` reports."""
    return sorted(times)[len(times) // 2]


def choose_plan(arch: Architecture, models: int, points: int, dtype=torch.float64, device="cpu") -> tuple[int, int]:
    """(stack size, CPU threads) with the least median time per model, one-at-a-time plans included.

    Stack sizes tried: 1 (one at a time), 4, 16, 64, … below ``models``, and ``models`` (all stacked): a
    wide stack can fall out of cache and lose to a smaller one. Threads: 1 and torch's default (CPU
    only); on a shared CPU two threads can lose to one. All plans are timed round-robin under the same
    load and compared on one statistic, so the plan taken is never slower than one-at-a-time at its
    best thread count in that measurement (a later change of load can still make it so).
    """
    key = (arch, models, points, dtype, device, torch.get_num_threads())
    if key not in _PLAN_CACHE:
        chunks = sorted({1, models} | {4**k for k in range(1, 8) if 4**k < models})
        threads = [0] if device != "cpu" else sorted({1, torch.get_num_threads()})
        times = time_plans(arch, [(c, t) for c in chunks for t in threads], points, dtype, device, repeats=7)
        _PLAN_CACHE[key] = min(times, key=lambda plan: (plan_cost(times[plan]), plan))
    return _PLAN_CACHE[key]


#: memory one chunk of an LM phase may hold (Jacobians, normal matrices, factors)
LM_CHUNK_BYTES = 2 * 2**30


def lm_bytes(params: int, points: int, itemsize: int = 8) -> int:
    """Bytes one model holds during an LM phase: J and its one-point copies, JᵀJ and its Cholesky factor."""
    return jacobian_bytes(1, points, params, itemsize) + 3 * params * params * itemsize


def fit(
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
) -> Fit:
    """:func:`fit_stack` over chunks of the stack; ``chunk=None`` picks chunk size and threads by timing.

    Results do not depend on the chunking (each model's run is independent); only the wall time does.
    """
    M = theta.shape[0]
    if chunk is None:
        chunk, threads = choose_plan(arch, M, x.shape[-2], compute_dtype or theta.dtype, str(theta.device))
    if any(p.optimizer == "lm" for p in phases):  # bound the Jacobians and normal matrices of one chunk
        per_model = lm_bytes(arch.size, x.shape[-2], theta.element_size())
        chunk = max(1, min(chunk, LM_CHUNK_BYTES // per_model))
    parts = []
    with intra_op_threads(threads):
        for lo in range(0, M, chunk):
            sl = slice(lo, lo + chunk)
            xs = x[sl] if x.dim() == 3 else x
            lr = None if lr_scale is None else lr_scale[sl]
            parts.append(fit_stack(arch, theta[sl], xs, y[sl], phases, lr, explode, compute_dtype))
    return Fit(
        torch.cat([p.theta for p in parts]),
        [s for p in parts for s in p.status],
        [s for p in parts for s in p.stop],
        [s for p in parts for s in p.steps],
        [v for p in parts for v in p.train_loss],
        sum(p.seconds for p in parts),
        chunk,
        threads or 0,
    )
