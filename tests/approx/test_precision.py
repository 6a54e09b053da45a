"""Precision fitting: Jacobians, strong-Wolfe L-BFGS, Levenberg–Marquardt, the VarPro floor, approx.fit."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_polylab
from hypothesis import given, settings
from hypothesis import strategies as st

import approx
from approx.fitting import targets
from approx.fitting.jacobian import output_jacobian
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


@pytest.mark.parametrize("act", ACTS, ids=str)
def test_jacobian_equals_autograd_in_float64(act):
    arch, theta, x, _ = problem(act, width=5, seeds=(0, 1))
    out, J = output_jacobian(arch, theta, x[:12])
    for m in range(2):
        ref = torch.autograd.functional.jacobian(lambda t, m=m: arch.forward(t[None], x[:12])[0], theta[m])
        assert torch.allclose(J[m], ref, rtol=1e-12, atol=1e-13)
        assert torch.allclose(out[m], arch.forward(theta[m : m + 1], x[:12])[0], rtol=1e-14)


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


@settings(max_examples=12, deadline=None)
@given(act=st.sampled_from(ACTS), width=st.integers(2, 9), depth=st.integers(1, 3), seed=st.integers(0, 99))
def test_lm_never_increases_the_loss(act, width, depth, seed):
    """k LM steps are a prefix of k + 1 (deterministic), so the loss after k steps cannot rise with k.

    LM accepts a step on its own residuals; the reported loss is a second forward pass, whose sums may
    round differently, so "cannot rise" holds to a few ulps (gelu, width 9, depth 3, seed 24: +5.6e-17).
    """
    arch, theta, x, y = problem(act, width, depth, (seed,), points=48)
    losses = [fit(arch, theta, x, y, [Phase("lm", k)], chunk=1).train_loss[0] for k in range(0, 9)]
    start = float((arch.forward(theta, x) - y).square().mean())
    ulps = 8 * torch.finfo(torch.float64).eps
    assert all(b <= a * (1 + ulps) for a, b in zip([start, *losses], losses, strict=False))


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


def test_lm_chunking_does_not_change_results(monkeypatch):
    import approx.fitting.plans as plans

    arch, theta, x, y = problem("tanh", width=6, seeds=(0, 1, 2, 3))
    phases = [Phase("lm", 15)]
    whole = fit(arch, theta, x, y, phases, chunk=4)
    monkeypatch.setattr(plans, "LM_CHUNK_BYTES", plans.lm_bytes(arch.size, x.shape[0]) + 1)  # one model per chunk
    parts = fit(arch, theta, x, y, phases, chunk=4)
    assert parts.chunk == 1
    assert parts.train_loss == pytest.approx(whole.train_loss, rel=1e-9)


def test_lm_reaches_far_below_first_order_on_a_smooth_target():
    """The point of the engine: on an analytic 1-D target a tanh net reaches a loss Adam never gets near."""
    arch, theta, x, y = problem("tanh", width=8, points=128)
    adam = fit(arch, theta, x, y, [Phase("adam", 600, 1e-2, "cosine")], chunk=1)
    lm = fit(arch, theta, x, y, [Phase("adam", 100, 1e-2, "cosine"), Phase("lm", 300)], chunk=1)
    assert lm.train_loss[0] < 1e-3 * adam.train_loss[0]


def test_fit_api_returns_a_module_and_errors():
    r = approx.fit("runge", activation="tanh", params=60, phases=[Phase("adam", 50, 1e-2), Phase("lm", 60)])
    x = targets.dense_grid(1, 8192)
    with torch.no_grad():
        sup = float((r.module(x) - targets.get("runge")(x)).abs().max())
    assert sup == pytest.approx(r.sup_error, rel=1e-9) and r.params == sum(p.numel() for p in r.module.parameters())
    assert r.floor_rms_error <= r.rms_error * 1.5 and r.steps > 0


def test_polylab_fit_command(tmp_path):
    out = run_polylab(
        "fit",
        "exp(sin(pi*x0))",
        "--activation",
        "polynorm",
        "--params",
        "40",
        "80",
        "--seeds",
        "2",
        "--json",
        tmp_path / "fit.json",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads((tmp_path / "fit.json").read_text())
    sizes = [r["params"] for r in data["results"]]
    assert len(sizes) == 4 and sizes[0] == sizes[1] < sizes[2] == sizes[3]  # two sizes × two seeds
    assert all(r["sup_error"] < 0.1 for r in data["results"]) and data["git_commit"]
    bad = run_polylab("fit", "x0 +* 1")
    assert bad.returncode == 2 and "malformed" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_rates_csv_has_floor_columns_and_default_schedule(tmp_path, polylab_in_process):
    (tmp_path / "c.toml").write_text("""
name = "floor"
depth = 1
sizes = [20]
seeds = [0]
targets = [{ name = "runge" }]
activations = ["tanh"]
[data]
train_points = 64
test_points = 512
""")
    code, _, err = polylab_in_process("rates", tmp_path / "c.toml", "--out", tmp_path / "o", "--no-progress")
    assert code == 0, err
    (row,) = __import__("csv").DictReader((tmp_path / "o" / "results.csv").read_text().splitlines())
    assert float(row["floor_train_rmse"]) <= float(row["train_rmse"]) * (1 + 1e-9)
    assert float(row["floor_max_abs"]) > 0 and int(row["steps"]) > 300  # Adam's 300, then LM steps


def test_matrix_free_cg_matches_cholesky():
    """Above cg_above the LM step comes from CG on JᵀJ + λD; it must follow the Cholesky path."""
    arch, theta, x, y = problem("tanh", width=6, seeds=(0, 1))
    phases = [Phase("adam", 50, 1e-2), Phase("lm", 40)]
    direct = fit(arch, theta, x, y, phases, chunk=2)
    cg = fit(arch, theta, x, y, [phases[0], Phase("lm", 40, cg_above=0, cg_iters=200)], chunk=2)
    assert cg.train_loss == pytest.approx(direct.train_loss, rel=1e-5)
    assert cg.steps == direct.steps
