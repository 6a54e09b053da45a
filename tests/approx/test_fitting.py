"""approx.fitting.train and optim/: per-model optimisers. Stacking must not couple models; the tests would see it."""

import math

import pytest
import torch

from approx.fitting import targets as T
from approx.fitting.models import Activation, Architecture
from approx.fitting.plans import choose_plan, intra_op_threads
from approx.fitting.schedule import Phase
from approx.fitting.train import train as fit
from approx.fitting.train import train_chunk as fit_stack

SEEDS = [0, 1, 2, 3]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny matmuls run fastest on one thread on a shared CPU (approx.fitting.plans.intra_op_threads)."""
    with intra_op_threads(1):
        yield


def problem(act="polyrelu", width=6, depth=2, points=64):
    arch = Architecture(1, width, depth, Activation(act))
    x = torch.stack([T.sample(1, points, "sobol", s) for s in SEEDS])
    y = torch.stack([T.get("runge")(x[0]), T.get("abs_power", n=1)(x[1]), T.get("sin")(x[2]), T.get("exp")(x[3])])
    return arch, arch.init(SEEDS), x, y


def solo(arch, theta, x, y, phases, lr_scale=None):
    """Each model alone: a stack of one."""
    fits = [
        fit_stack(
            arch,
            theta[m : m + 1],
            x[m : m + 1],
            y[m : m + 1],
            phases,
            None if lr_scale is None else lr_scale[m : m + 1],
        )
        for m in range(len(theta))
    ]
    return torch.cat([f.theta for f in fits]), [f.train_loss[0] for f in fits], [f.steps[0] for f in fits]


def test_batched_lbfgs_matches_one_model_lbfgs():
    """Per-model history, step and line search: the stacked run is each model's solo run, to float64 rounding.

    Different lr per model makes the step sizes differ, so one shared step would show at once.
    """
    arch, theta, x, y = problem()
    phases = [Phase("lbfgs", 12, 1.0, history=5)]
    lr = torch.tensor([1.0, 0.5, 0.25, 1.0], dtype=torch.float64)
    stacked = fit_stack(arch, theta, x, y, phases, lr)
    alone, losses, steps = solo(arch, theta, x, y, phases, lr)
    assert stacked.steps == steps
    torch.testing.assert_close(stacked.theta, alone, rtol=1e-9, atol=1e-11)
    assert stacked.train_loss == pytest.approx(losses, rel=1e-9)
    start = (arch.forward(theta, x) - y).square().mean(-1)
    assert all(stacked.train_loss[m] < float(start[m]) for m in range(4))  # it does optimise


def test_the_check_would_catch_an_lbfgs_on_the_summed_loss():
    """torch.optim.LBFGS on Σ_m L_m (one history, one step for all) is what the engine must not be."""
    arch, theta, x, y = problem()
    alone, _, _ = solo(arch, theta, x, y, [Phase("lbfgs", 12, 1.0, history=5, max_line_search=25)])
    coupled = theta.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([coupled], lr=1.0, max_iter=12, history_size=5, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (arch.forward(coupled, x) - y).square().mean(-1).sum()
        loss.backward()
        return loss

    opt.step(closure)
    assert not torch.allclose(coupled.detach(), alone, rtol=1e-6, atol=1e-8)


def test_stacked_adam_equals_one_at_a_time():
    arch, theta, x, y = problem("polynorm")
    phases = [Phase("adam", 100, 1e-2, schedule="cosine")]
    stacked = fit_stack(arch, theta, x, y, phases)
    alone, losses, _ = solo(arch, theta, x, y, phases)
    torch.testing.assert_close(stacked.theta, alone, rtol=1e-12, atol=1e-13)
    assert stacked.train_loss == pytest.approx(losses, rel=1e-10)


def test_chunking_does_not_change_results():
    arch, theta, x, y = problem("relu")
    phases = [Phase("adam", 40, 1e-2), Phase("lbfgs", 5, 1.0)]
    a = fit(arch, theta, x, y, phases, chunk=4)
    b = fit(arch, theta, x, y, phases, chunk=1)
    c = fit(arch, theta, x, y, phases)  # chunk chosen by timing
    torch.testing.assert_close(a.theta, b.theta, rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(a.theta, c.theta, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_a_diverging_model_is_marked_and_the_others_carry_on(optimizer):
    arch, theta, x, y = problem("polynomial")
    phases = [Phase(optimizer, 30, 1e-2 if optimizer == "adam" else 1.0)]
    poisoned = theta.clone()
    poisoned[2, 0] = float("inf") if optimizer == "adam" else 1e200  # model 2 blows up at once
    result = fit_stack(arch, poisoned, x, y, phases)
    assert result.status == ["ok", "ok", "diverged", "ok"] and result.stop[2] == "diverged"
    assert math.isnan(result.train_loss[2]) and result.theta[2].eq(0).all()
    healthy = [0, 1, 3]
    alone, losses, _ = solo(arch, theta[healthy], x[healthy], y[healthy], phases)
    torch.testing.assert_close(result.theta[healthy], alone, rtol=1e-9, atol=1e-11)


def test_explosion_during_training_is_divergence():
    arch, theta, x, y = problem("polynomial", depth=3)
    lr = torch.tensor([1e-3, 1e-3, 50.0, 1e-3], dtype=torch.float64)  # model 2: absurd step
    result = fit_stack(arch, theta, x, y, [Phase("adam", 60, 1.0)], lr, explode=1e3)
    assert result.status[2] == "diverged" and result.status.count("ok") == 3


def test_a_seed_reproduces_a_run():
    arch, theta, x, y = problem()
    phases = [Phase("adam", 30, 1e-2), Phase("lbfgs", 10, 1.0)]
    a, b = fit_stack(arch, theta, x, y, phases), fit_stack(arch, arch.init(SEEDS), x, y, phases)
    assert torch.equal(a.theta, b.theta) and a.train_loss == b.train_loss


def test_plateau_early_stop_is_per_model():
    arch, theta, x, y = problem()
    lr = torch.tensor([1e-2, 1e-12, 1e-2, 1e-2], dtype=torch.float64)  # model 1 cannot improve
    result = fit_stack(arch, theta, x, y, [Phase("adam", 60, 1.0, patience=10, min_delta=1e-3)], lr)
    assert result.stop[1] == "plateau" and result.steps[1] < 30
    assert result.steps[0] > result.steps[1]


def test_schedules():
    assert Phase(steps=10, schedule="cosine").factor(10) == pytest.approx(0.0, abs=1e-15)
    assert Phase(steps=10, schedule="exponential").factor(10) == pytest.approx(1e-2)
    assert Phase(steps=10).factor(7) == 1.0


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"optimizer": "sgd"}, "unknown optimizer"),
        ({"lr": -1}, "lr"),
        ({"steps": 1.5}, "steps"),
        ({"schedule": "linear"}, "unknown schedule"),
    ],
)
def test_bad_phases(kw, message):
    with pytest.raises(ValueError, match=message):
        Phase(**kw)


def test_plan_is_a_valid_choice():
    arch = Architecture(1, 8, 2, Activation("relu"))
    chunk, threads = choose_plan(arch, 12, 128)
    assert chunk in (1, 4, 12) and 1 <= threads <= max(1, torch.get_num_threads())


@pytest.mark.parametrize("fastest", [(1, 2), (4, 1), (12, 2)])
def test_plan_is_the_argmin_of_the_median_never_slower_than_one_at_a_time(fastest, monkeypatch):
    """With timings in hand, the engine takes the fastest plan by median, one-at-a-time plans included."""
    import approx.fitting.plans as T

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    monkeypatch.setattr(T, "_PLAN_CACHE", {})

    def fake_times(arch, plans, points, dtype, device, repeats):
        # every plan 1.0 s per model with one 100 s outlier; the chosen one 0.5 s with two outliers
        return {p: ([0.5, 0.5, 0.5, 50.0, 50.0] if p == fastest else [1.0] * 4 + [100.0]) for p in plans}

    monkeypatch.setattr(T, "time_plans", fake_times)
    assert T.choose_plan(Architecture(1, 8, 2, Activation("relu")), 12, 128) == fastest


def test_bench_sweep_measures_both_sides():
    from experiments.bench import sweep as bench_sweep

    r = bench_sweep.stacking(width=4, act="polyrelu", models=5, points=32, depth=1, repeats=2)
    assert r["one_ms"] > 0 and r["stacked_ms"] > 0
    assert r["speedup"] == pytest.approx(r["one_ms"] / r["stacked_ms"]) and r["engine_speedup"] > 0


def test_bench_kernel_forms_agree():
    """The forms `polylab bench sweep` races (library, checkpointed, eager fused, C kernel) compute one function."""
    from experiments.bench import sweep as bench_sweep

    g = torch.Generator().manual_seed(0)
    h = torch.randn(2, 5, 3, generator=g, dtype=torch.float64)
    for act in bench_sweep.KERNEL_ACTIVATIONS:
        kind = act.label
        a = torch.randn(2, 1, 3 if act.coefficients == "per_neuron" else 1, 4, generator=g, dtype=torch.float64)
        forms = bench_sweep._kernel_forms(act)
        ref = forms.pop("library")(h, a)
        forms.pop("compiled")  # compiles for ~5 s; covered by the slow compiled-activations test
        for name, fn in forms.items():
            if fn is None:
                continue
            torch.testing.assert_close(fn(h, a), ref, rtol=1e-12, atol=1e-12, msg=f"{kind}: {name}")
