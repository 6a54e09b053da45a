"""Work budgets (approx/fitting/optim/budget.py): counted caps that end a fit alike under any load or chunking."""

from __future__ import annotations

import itertools
import math
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting import targets
from approx.fitting.models import Activation, Architecture
from approx.fitting.optim import budget as budget_mod
from approx.fitting.optim.budget import budget_steps, step_seconds
from approx.fitting.optim.levenberg_marquardt import MatrixFree
from approx.fitting.schedule import Phase
from approx.fitting.train import train


def problem(width=8, seeds=(0, 1, 2), points=64):
    arch = Architecture(1, width, 1, Activation.parse("tanh"))
    x = targets.sample(1, points, "sobol", 0)
    y = torch.sin(6 * x[:, 0]) * torch.exp(-x[:, 0])
    return arch, arch.init(list(seeds)), x, y.expand(len(seeds), -1)


@settings(max_examples=40, deadline=None)
@given(
    optimizer=st.sampled_from(["adam", "lbfgs", "lm"]),
    points=st.integers(1, 10**5),
    params=st.integers(1, 10**4),
    cg_above=st.integers(0, 3000),
    budget=st.floats(1e-6, 1e3),
)
def test_budget_buys_what_its_steps_cost(optimizer, points, params, cg_above, budget):
    """The steps taken cost at most the budget, one more would exceed it (or the phase's steps bind)."""
    phase = Phase(optimizer, steps=500, cg_above=cg_above, budget=budget)
    k, cost = budget_steps(phase, points, params), step_seconds(phase, points, params)
    assert 1 <= k <= 500
    assert k == 1 or k * cost <= budget * (1 + 1e-12)
    assert k == 500 or (k + 1) * cost > budget * (1 - 1e-12)
    assert budget_steps(Phase(optimizer, steps=500, cg_above=cg_above), points, params) == 500


def test_step_costs_follow_the_operation_counts():
    """Cholesky LM grows as N·P² + P³/6N, CG LM and first-order passes as N·P (docs/engine.md, "Budgets")."""
    lm, cg, lbfgs = Phase("lm"), Phase("lm", cg_above=0, cg_iters=9), Phase("lbfgs")
    assert step_seconds(lm, 200, 100) / step_seconds(lm, 100, 100) == pytest.approx((4e6 + 1e6 / 3) / (2e6 + 1e6 / 3))
    assert step_seconds(cg, 100, 100) == pytest.approx(4 * 100 * 100 * 10 / budget_mod.MATVEC_RATE)
    assert step_seconds(lbfgs, 30, 70) == pytest.approx(2 * step_seconds(Phase("adam"), 30, 70))


def test_budget_ends_the_phase_and_says_so():
    arch, theta, x, y = problem()
    phase = Phase("lm", steps=200, budget=0)
    k = 7
    phase_budget = Phase("lm", steps=200, budget=k * step_seconds(phase, x.shape[0], arch.size))
    fit = train(arch, theta, x, y, [Phase("adam", 20, 1e-2), phase_budget], chunk=3)
    history = len(fit.history[0])
    assert history == 20 + k
    assert all(stop in ("budget", "converged") for stop in fit.stop)
    assert "budget" in fit.stop


def slow_clock(monkeypatch, tick: float) -> None:
    """Make every reading of the clock ``tick`` seconds later than the last: a machine under load."""
    counter = itertools.count()
    monkeypatch.setattr(time, "perf_counter", lambda: tick * next(counter))


@pytest.mark.parametrize("cap", ["seconds", "budget"])
def test_only_a_budget_ends_alike_under_load(monkeypatch, cap):
    """Under a slowed clock a wall-clock cap ends LM earlier and the fit changes; a budget does not (the
    wall-clock cap is the mutant: it must fail the equality)."""
    arch, theta, x, y = problem()
    limit = 30 * step_seconds(Phase("lm"), x.shape[0], arch.size) if cap == "budget" else 2.0  # 60 steps fit in 2 s
    lm = Phase("lm", steps=60, **{cap: limit})
    phases = [Phase("adam", 30, 1e-2), lm, Phase("varpro")]
    quiet = train(arch, theta, x, y, phases, chunk=3)
    slow_clock(monkeypatch, tick=0.05)
    loaded = train(arch, theta, x, y, phases, chunk=3)
    same = quiet.steps == loaded.steps and torch.equal(quiet.theta, loaded.theta)
    assert same == (cap == "budget")


def test_budget_does_not_depend_on_the_chunking():
    """A budget charges every model the same steps whatever its stack: one per chunk equals three."""
    arch, theta, x, y = problem(width=12)
    lm = Phase("lm", steps=100, cg_above=0, cg_iters=30)
    lm = Phase("lm", steps=100, cg_above=0, cg_iters=30, budget=12 * step_seconds(lm, x.shape[0], arch.size))
    phases = [Phase("adam", 30, 1e-2), lm]
    whole, alone = train(arch, theta, x, y, phases, chunk=3), train(arch, theta, x, y, phases, chunk=1)
    assert whole.steps == alone.steps and whole.stop == alone.stop
    for a, b in zip(whole.train_loss, alone.train_loss, strict=True):
        assert math.isclose(a, b, rel_tol=1e-6)


def test_a_converged_cg_row_stops_moving_while_its_stack_iterates():
    """Conjugate gradients freeze a row once it has converged: its step equals the one it gets alone,
    though a slower row keeps the stack iterating (before, it kept iterating with it)."""
    torch.manual_seed(0)
    easy = torch.eye(40, 6, dtype=torch.float64)[None]  # JᵀJ = I: converged after one iteration
    hard = torch.randn(1, 40, 6, dtype=torch.float64) * torch.logspace(0, 3, 6, dtype=torch.float64)
    r = torch.randn(2, 40, dtype=torch.float64)
    lam = torch.tensor([1e-3, 1e-3], dtype=torch.float64)
    both, _, _ = MatrixFree(torch.cat([easy, hard]), r, 50).step(lam)
    alone, _, _ = MatrixFree(easy, r[:1], 50).step(lam[:1])
    assert torch.equal(both[0], alone[0])


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan, "6", True])
def test_a_budget_is_a_finite_number_of_seconds(bad):
    with pytest.raises(ValueError, match="phase budget must be a number >= 0"):
        Phase("lm", budget=bad)
