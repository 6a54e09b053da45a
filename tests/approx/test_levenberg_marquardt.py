"""Levenberg–Marquardt (approx/fitting/optim/levenberg_marquardt.py): Jacobians, monotone loss, chunking, CG."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting import targets
from approx.fitting.jacobian import output_jacobian
from approx.fitting.models import Activation, Architecture
from approx.fitting.optim import levenberg_marquardt
from approx.fitting.schedule import Phase
from approx.fitting.train import train as fit

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


@pytest.mark.parametrize("steps, rel", [(5, 1e-9), (15, 1e-6)])
def test_lm_chunking_does_not_change_results(monkeypatch, steps, rel):
    """One model per chunk gives what four per chunk give, to round-off. A batched and a single
    Cholesky factor round differently, and LM's steps amplify the difference (here ~1e-15 after one
    step, ~1e-8 after 15, depending on the CPU's kernels); a chunking bug moves the losses by O(1)."""
    import approx.fitting.plans as plans

    arch, theta, x, y = problem("tanh", width=6, seeds=(0, 1, 2, 3))
    phases = [Phase("lm", steps)]
    whole = fit(arch, theta, x, y, phases, chunk=4)
    monkeypatch.setattr(plans, "LM_CHUNK_BYTES", plans.lm_bytes(arch.size, x.shape[0]) + 1)  # one model per chunk
    parts = fit(arch, theta, x, y, phases, chunk=4)
    assert parts.chunk == 1
    assert parts.train_loss == pytest.approx(whole.train_loss, rel=rel)


def test_lm_reaches_far_below_first_order_on_a_smooth_target():
    """The point of the engine: on an analytic 1-D target a tanh net reaches a loss Adam never gets near."""
    arch, theta, x, y = problem("tanh", width=8, points=128)
    adam = fit(arch, theta, x, y, [Phase("adam", 600, 1e-2, "cosine")], chunk=1)
    lm = fit(arch, theta, x, y, [Phase("adam", 100, 1e-2, "cosine"), Phase("lm", 300)], chunk=1)
    assert lm.train_loss[0] < 1e-3 * adam.train_loss[0]


def _relu2_kink(lift: float, monkeypatch) -> list[float]:
    """ReLU² at depth 2 on |x₀ − x₁|^{5/2}: each model's loss after Adam, then 300 LM steps."""
    monkeypatch.setattr(levenberg_marquardt, "LIFT", lift)
    arch = Architecture(2, 10, 2, Activation.parse("relu2"))
    x = targets.sample(2, 300, "sobol", 0)
    y = ((x[:, 0] - x[:, 1]).abs() ** 2.5).expand(3, -1)
    phases = [Phase("adam", 100, 1e-2, "cosine"), Phase("lm", 300)]
    return fit(arch, arch.init([0, 1, 2]), x, y, phases, chunk=3).train_loss


def test_lifted_scaling_keeps_lm_moving_where_marquardts_stalls(monkeypatch):
    """Under Marquardt's D = diag(JᵀJ) a parameter the loss barely sees is barely damped, and LM stalls
    here; the lift (LIFT·mean diag) keeps it descending. The mutant, Marquardt's scaling with only a
    rounding-size lift, must stall on at least one seed."""
    assert max(_relu2_kink(levenberg_marquardt.LIFT, monkeypatch)) < 1e-7
    assert max(_relu2_kink(1e-16, monkeypatch)) > 1e-6


def test_matrix_free_cg_matches_cholesky():
    """Above cg_above the LM step comes from CG on JᵀJ + λD; it must follow the Cholesky path."""
    arch, theta, x, y = problem("tanh", width=6, seeds=(0, 1))
    phases = [Phase("adam", 50, 1e-2), Phase("lm", 40)]
    direct = fit(arch, theta, x, y, phases, chunk=2)
    cg = fit(arch, theta, x, y, [phases[0], Phase("lm", 40, cg_above=0, cg_iters=200)], chunk=2)
    assert cg.train_loss == pytest.approx(direct.train_loss, rel=1e-5)
    assert cg.steps == direct.steps


def test_lm_plateau_stops_a_model_that_stops_improving():
    """``patience`` reaches LM too (it was ignored there): a narrow network fitted on noise stops gaining
    and stops (``plateau``), per model, while its stack-mate on a smooth target goes on."""
    arch, theta, x, y = problem(width=3, seeds=(0, 1))
    y = y.clone()
    y[1] = torch.rand(x.shape[0], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    patient = fit(arch, theta, x, y, [Phase("lm", 200, patience=10, min_delta=1e-3)], chunk=2)
    alone = fit(arch, theta, x, y, [Phase("lm", 200)], chunk=2)
    assert patient.stop[1] == "plateau" and patient.steps[1] < alone.steps[1]
    assert patient.steps[0] > patient.steps[1]
