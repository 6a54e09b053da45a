"""Strong-Wolfe L-BFGS, stacked against one-model runs, and the VarPro floor (approx/fitting/optim/, varpro.py)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting import targets
from approx.fitting.models import Activation, Architecture
from approx.fitting.optim.line_search import C1, C2, Point, strong_wolfe
from approx.fitting.schedule import Phase
from approx.fitting.train import train as fit
from approx.fitting.varpro import solve_readout

ACTS = ["tanh", "gelu", "relu2", "polyrelu", "polynorm", {"name": "polyrelu", "coefficients": "per_neuron"}]


def problem(act="tanh", width=8, depth=2, seeds=(0,), points=64):
    a = Activation.parse(act)
    arch = Architecture(1, width, depth, a)
    x = targets.sample(1, points, "sobol", 0)
    y = torch.exp(-8 * (x[:, 0] - 0.4) ** 2) * torch.sin(6 * x[:, 0])
    return arch, arch.init(list(seeds)), x, y.expand(len(seeds), -1)


def test_strong_wolfe_steps_satisfy_both_conditions_per_row():
    """Rows of very different scales: f_m(θ) = s_m Σ (θ − c)² + s_m Σ θ⁴; each row's step meets its own test."""
    scales = torch.tensor([1e-12, 1.0, 1e6], dtype=torch.float64)

    def loss_grad(theta, need_grad=True):
        f = scales * ((theta - 0.3).square().sum(1) + theta.pow(4).sum(1))
        g = scales[:, None] * (2 * (theta - 0.3) + 4 * theta.pow(3))
        return f, g

    theta = torch.full((3, 4), 2.0, dtype=torch.float64)
    f0, g0 = loss_grad(theta)
    d = -g0 / scales[:, None]  # a descent direction of each row's own scale
    start = Point(torch.zeros(3, dtype=torch.float64), f0, (g0 * d).sum(1), g0)
    new, found = strong_wolfe(
        loss_grad, theta, d, start, torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.bool), 25
    )
    assert found.all()
    assert (new.f <= f0 + C1 * new.t * start.df).all()
    assert (new.df.abs() <= C2 * start.df.abs()).all()


def test_lbfgs_matches_or_beats_torch_lbfgs_strong_wolfe():
    arch, theta, x, y = problem("tanh", width=10)
    ours = fit(arch, theta, x, y, [Phase("lbfgs", 300, 1.0)], chunk=1)
    module = arch.to_module(theta[0].clone())
    opt = torch.optim.LBFGS(
        module.parameters(),
        lr=1.0,
        max_iter=300,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )

    def closure():
        opt.zero_grad()
        loss = (module(x) - y[0]).square().mean()
        loss.backward()
        return loss

    opt.step(closure)
    theirs = float((module(x) - y[0]).square().mean().detach())
    assert ours.train_loss[0] <= theirs


def test_lbfgs_curvature_test_is_scale_invariant():
    """The same fit on y and on 1e-12·y makes the same relative progress (an absolute sᵀy test stalls the second)."""
    arch, theta, x, y = problem("tanh", width=6)
    phases = [Phase("lbfgs", 150, 1.0)]
    big = fit(arch, theta, x, y, phases, chunk=1)
    small = fit(arch, theta * torch.tensor(1.0), x, 1e-12 * y, phases, chunk=1)
    start_big = float((arch.forward(theta, x) - y).square().mean())
    start_small = float((arch.forward(theta, x) - 1e-12 * y).square().mean())
    assert small.train_loss[0] / start_small < 1e-2 and big.train_loss[0] / start_big < 1e-2


@pytest.mark.parametrize("optimizer", ["lbfgs", "lm"])
def test_stacked_runs_match_one_model_runs(optimizer):
    arch, theta, x, y = problem("polynorm", width=6, seeds=(0, 1, 2))
    phases = [Phase("adam", 20, 1e-2), Phase(optimizer, 30)]
    stacked = fit(arch, theta, x, y, phases, chunk=3)
    for m in range(3):
        alone = fit(arch, theta[m : m + 1], x, y[m : m + 1], phases, chunk=1)
        assert alone.train_loss[0] == pytest.approx(stacked.train_loss[m], rel=1e-6)
        assert alone.steps[0] == stacked.steps[m]


@settings(max_examples=15, deadline=None)
@given(act=st.sampled_from(ACTS), width=st.integers(2, 9), depth=st.integers(1, 3), seed=st.integers(0, 99))
def test_varpro_floor_is_never_above_the_trained_loss(act, width, depth, seed):
    arch, theta, x, y = problem(act, width, depth, (seed, seed + 1), points=48)
    trained = fit(arch, theta, x, y, [Phase("adam", 30, 1e-2)], chunk=2)
    floor = solve_readout(arch, trained.theta, x, y)
    loss = lambda th: (arch.forward(th, x) - y).square().mean(1)  # noqa: E731
    assert (loss(floor) <= loss(trained.theta) * (1 + 1e-9) + 1e-30).all()
    hidden = [c for c in range(arch.size) if c not in range(*arch.readout_slice().indices(arch.size))]
    assert torch.equal(floor[:, hidden], trained.theta[:, hidden])  # only the readout moves
