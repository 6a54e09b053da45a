"""Rates configs: residual stages, the learning-rate axis and construction starts (init = theorem3[-relu])."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from approx.fitting import metrics, pattern, stack, targets
from experiments.constructions import theorem3_start
from experiments.rates import config as rates_config
from experiments.rates import results_table
from experiments.rates import run as rates_run
from theory import theorem3 as T3
from theory.sobolev.target import SobolevTarget

BASE = {
    "name": "opts",
    "depth": 1,
    "sizes": [20, 40],
    "seeds": [0, 1],
    "targets": [{"expr": "sin(pi*x0)", "d": 1, "n": 2}],
    "activations": ["polyrelu"],
    "data": {"train_points": 64, "test_points": 256},
    "phases": [{"optimizer": "adam", "steps": 20, "lr": 1e-2}, {"optimizer": "lm", "steps": 10}],
}


def config(**changes) -> rates_config.Config:
    return rates_config.from_dict({**BASE, **changes}, text=repr(changes))


def test_stages_count_every_stage_and_the_second_lowers_the_training_error():
    cfg = config(stages=2, phases=[*BASE["phases"], {"optimizer": "varpro"}])
    group = rates_config.stacks(cfg.jobs)[0]
    request = rates_run.request(cfg, group, "cpu")
    x, y = stack.sample_points(request)
    staged = stack.train_stages(request, x, y)
    one = group[0].arch.count()
    assert len(staged.fits) == 2 and staged.count["total"] == 2 * one.total
    assert staged.count["weights"] == 2 * one.weights and staged.count["neurons"] == 2 * one.neurons
    first = [
        float(
            (staged.scales[0][m] * metrics.predict(group[0].arch, staged.thetas[0][m : m + 1], x[m]) - y[m])
            .square()
            .mean()
        )
        for m in range(len(group))
    ]
    both = [float((staged.predict(x[m], slice(m, m + 1)) - y[m]).square().mean()) for m in range(len(group))]
    # the second stage's readout is the least-squares one, and readout 0 would leave the residual as it was
    assert all(b <= f * (1 + 1e-9) for b, f in zip(both, first, strict=True))
    assert all(staged.scales[1] > 0) and torch.all(staged.scales[0] == 1)
    rows = rates_run.run_stack(cfg, group, "cpu", rates_run.held_out_sets(cfg)).rows
    assert {int(r["params"]) for r in rows} == {2 * one.total} and {r["stages"] for r in rows} == {2}


def test_a_stage_size_is_the_configured_size_shared_out():
    one, two = config(), config(stages=2)
    for a, b in zip(one.jobs, two.jobs, strict=True):
        assert (
            b.arch.size <= a.arch.size
            and abs(2 * b.arch.size - a.size) <= abs(a.arch.size - a.size) + 2 * b.arch.width + 4
        )


def test_the_lr_axis_makes_one_job_and_one_stack_per_rate_and_sets_adam_only():
    cfg = config(lrs=[1e-3, 3e-2])
    assert len(cfg.jobs) == 2 * 2 * 2 and len({j.id for j in cfg.jobs}) == len(cfg.jobs)
    assert all(len({j.lr for j in g}) == 1 for g in rates_config.stacks(cfg.jobs))
    fast = [rates_run.request(cfg, g, "cpu") for g in rates_config.stacks(cfg.jobs) if g[0].lr == 3e-2][0]
    (uniform,) = [s for s in fast.candidates if s.name == "uniform"]
    assert uniform.phases[0].lr == 3e-2 and uniform.phases[1] == cfg.phases[1]  # Adam phases only
    plain = rates_run.request(config(), rates_config.stacks(config().jobs)[0], "cpu")
    assert [s.phases for s in plain.candidates if s.name == "uniform"] == [tuple(cfg.phases)]
    assert "|lr0.03" in cfg.jobs[-1].id and "|lr" not in config().jobs[0].id  # old ids unchanged


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"lrs": []}, "lrs must be a list"),
        ({"lrs": [0.0]}, "lrs entry must be"),
        ({"lrs": [1e-3, 1e-3]}, "distinct"),
        ({"lrs": "1e-3"}, "lrs must be a list"),
        ({"stages": 0}, "stages must be"),
        ({"stages": 9}, "stages must be"),
        ({"init": "theorem4"}, "unknown init .theorem4."),
        ({"init": "theorem3", "activations": ["relu"]}, "remove activation"),
        ({"init": "theorem3-relu"}, "remove activation"),
        ({"init": "theorem3", "targets": ["runge"]}, "needs expression targets"),
        ({"init": "theorem3", "targets": [{"expr": "sin(x0)", "d": 1}]}, "needs expression targets"),
        (
            {"init": "theorem3", "targets": [{"expr": "abs(x0-0.5)", "d": 1, "n": 2}]},
            "largest valid n is 1",
        ),
        ({"init": "theorem3", "stages": 2}, "no stages"),
        ({"init": "theorem3", "lrs": [1e-3]}, "no stages, no lrs"),
        ({"init": "theorem3", "certify": True}, "no certify"),
        ({"certify": "yes"}, "certify must be true or false"),
        ({"chunk": 0}, "chunk must be"),
        ({"chunk": True}, "chunk must be"),
        ({"chunk": 1.5}, "chunk must be"),
    ],
)
def test_bad_options_are_one_clear_error(changes, message):
    with pytest.raises(rates_config.UserError, match=message):
        config(**changes)


@pytest.mark.parametrize("text, d, N", [("sin(pi*x0)", 1, 5), ("exp(x0)*cos(x1)", 2, 2)])
def test_a_theorem3_start_is_the_construction_before_training(text, d, N):
    scale = 1.7
    begin = theorem3_start.start(text, d, 2, N, "theorem3", scale)
    built = T3.build(SobolevTarget.parse(text, d, 2), N)
    x = torch.rand(300, d, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = begin.net(x).reshape(-1).numpy()
    assert np.max(np.abs(y * scale - built.approximant.values_float(x.numpy()))) < 1e-12
    nonzeros = sum(
        int((a.weight.to_dense() != 0).sum() + (a.bias != 0).sum()) for a in built.to_torch(sparse=True).affines
    )
    assert begin.net.count == nonzeros == sum(p.numel() for p in begin.net.parameters() if p.requires_grad)
    assert begin.bound == built.approximant.certified_bound().bound


def test_the_relu_twin_start_is_the_exact_relu_network():
    begin = theorem3_start.start("sin(pi*x0)", 1, 2, 3, "theorem3-relu", 1.0)
    built = T3.build(SobolevTarget.parse("sin(pi*x0)", 1, 2), 3, form="relu")
    pts = [(Fraction(k, 37),) for k in range(38)]
    exact = np.array([float(v[0]) for v in built.network.evaluate_many(pts)])
    with torch.no_grad():
        y = begin.net(torch.tensor([[float(p[0])] for p in pts], dtype=torch.float64)).reshape(-1).numpy()
    assert np.max(np.abs(y - exact)) < 1e-12
    assert begin.bound > built.approximant.certified_bound().bound  # the twin adds its product error


def test_the_grid_for_a_size_is_the_largest_that_fits():
    for size in (300, 700, 1200):
        N = theorem3_start.grid_for_size("sin(pi*x0)", 1, 2, size, "theorem3")
        count = lambda n: theorem3_start.start("sin(pi*x0)", 1, 2, n, "theorem3", 1.0).net.count  # noqa: E731
        assert count(N) <= size < count(N + 1)


def test_training_a_pattern_keeps_it_and_a_readout_solve_never_hurts():
    begin = theorem3_start.start("sin(pi*x0)", 1, 2, 4, "theorem3", 1.0)
    net, f = begin.net, lambda x: torch.sin(torch.pi * x[:, 0])
    x = targets.sample(1, 512, "sobol", 0)
    mse = lambda m: float((m(x).reshape(-1) - f(x)).square().mean().detach())  # noqa: E731
    before = mse(net)
    pattern.solve_readout(net, x, f(x))
    assert mse(net) <= before
    index = [layer.index.clone() for layer in net.linears]
    pattern.train(net, x, f(x), pattern.Schedule(adam=5, lbfgs=5))
    assert all(torch.equal(a, layer.index) for a, layer in zip(index, net.linears, strict=True))
    dense = net.linears[1].weight()
    mask = torch.zeros_like(dense, dtype=torch.bool)
    mask[index[1][0], index[1][1]] = True
    assert torch.all(dense[~mask] == 0)
    rand = pattern.random_like(net, seed=1)
    assert rand.count == net.count and not torch.equal(rand.linears[0].values, net.linears[0].values)


def test_a_construction_row_records_the_start_and_trains_inside_it():
    cfg = config(
        init="theorem3", sizes=[200, 400], phases=[{"optimizer": "lbfgs", "steps": 15}, {"optimizer": "varpro"}]
    )
    group = rates_config.stacks(cfg.jobs)[0]
    rows = rates_run.run_stack(cfg, group, "cpu", rates_run.held_out_sets(cfg)).rows
    for r in rows:
        assert r["init"] == "theorem3" and int(r["params"]) <= r["size_target"] and r["grid"] >= 1
        assert r["status"] == "ok" and float(r["max_abs"]) < 10 * float(r["construction_max_abs"])


def test_per_parameter_points_grow_with_the_network_and_are_bounded():
    cfg = config(data={"train_points": 64, "test_points": 256, "per_parameter": 2.5})
    small, large = cfg.jobs[0].arch, cfg.jobs[-1].arch
    assert rates_config.points_for(cfg, 1, small.size) == max(64, -(-5 * small.size // 2))
    assert rates_config.points_for(cfg, 1, large.size) == -(-5 * large.size // 2) > 64
    assert rates_config.points_for(config(), 1, 10**6) == 64  # off by default
    with pytest.raises(rates_config.UserError, match="per_parameter"):
        config(data={"train_points": 64, "per_parameter": -1})


def test_auto_trains_the_portfolio_and_each_start_gets_its_schedule():
    from approx.fitting.models import Activation, Architecture
    from approx.fitting.portfolio import starts
    from approx.fitting.schedule import GROWN_SCHEDULE, KINKS_SCHEDULE, UNIFORM_SCHEDULE

    def names(act: str, depth: int, **kw) -> dict:
        return {s.name: s.phases for s in starts(Architecture(1, 8, depth, Activation(act)), "auto", **kw)}

    assert names("relu2", 1) == {"uniform": UNIFORM_SCHEDULE, "kinks": KINKS_SCHEDULE}
    assert names("tanh", 1) == {"uniform": UNIFORM_SCHEDULE, "kinks": KINKS_SCHEDULE}  # knees on the grid
    assert names("polynomial", 1) == {"uniform": UNIFORM_SCHEDULE}  # no kinks, and depth 1: nothing to grow
    assert names("polyrelu", 2) == {"uniform": UNIFORM_SCHEDULE, "grown": GROWN_SCHEDULE}
    given = tuple(config(init="auto").phases)
    assert names("relu2", 1, phases=given)["uniform"] == given  # [[phases]] schedule the uniform start
    assert [s.name for s in starts(Architecture(1, 8, 2, Activation("relu")), "kinks")] == ["kinks"]


def test_kinks_phases_schedule_the_kinks_starts_only():
    cfg = config(init="auto", activations=["relu", "gelu"], kinks_phases=[{"optimizer": "lm", "steps": 3}])
    stack = next(g for g in rates_config.stacks(cfg.jobs) if g[0].activation.name == "relu")
    request = rates_run.request(cfg, stack, "cpu")
    schedules = {s.name: s.phases for s in request.candidates}
    assert [p.optimizer for p in schedules["kinks"]] == ["lm"] and schedules["uniform"] == tuple(cfg.phases)
    with pytest.raises(rates_config.UserError, match="kinks_phases must be a non-empty list"):
        config(kinks_phases=[])


def test_certify_adds_the_interval_where_it_exists_and_leaves_the_rest_blank(tmp_path):
    """ReLU and PolyReLU fits (depth 2) are certified, exactly in 1-D and by branch and bound in 2-D;
    PolyCom's (type I, ρ = ReLU: not covered) are left blank."""
    cfg = config(
        certify=True,
        depth=2,
        sizes=[20],
        seeds=[0],
        targets=[{"family": "abs_power", "n": 1, "d": 1}, {"expr": "x0*x1", "d": 2}],
        activations=["relu", "polyrelu", "polycom"],
    )
    rates_run.run(cfg, tmp_path, device="cpu", progress=False)
    table = results_table.read(tmp_path / "results.csv", drop_cut_line=False).rows
    for row in table:
        covered = not row["activation"].startswith("polycom")
        assert (row["certified_upper"] != "") == covered, row
        if covered:
            lo, hi = float(row["certified_lower"]), float(row["certified_upper"])
            assert float(row["max_abs"]) <= hi * (1 + 1e-6) and hi <= lo * (1.01 if row["d"] == "1" else 1.1)
    from experiments.rates import report

    summary = report.write_all(tmp_path, cfg, boot=20)
    assert {f["activation"] for f in summary["fits"] if f["certified"]} == {"relu", "polyrelu_r3"}  # polycom: none
    assert "Certified sup errors" in (tmp_path / "report.md").read_text()


def test_chunk_1_fits_every_model_alone_whatever_its_stack():
    """``chunk = 1``: each model of a stack is exactly (bit for bit) the fit it gets alone, so a study
    does not depend on the timing that otherwise picks the chunks (docs/engine.md, "Budgets")."""
    cfg = config(chunk=1, init="auto", activations=["relu"], targets=["runge", {"expr": "sin(pi*x0)", "d": 1}])
    assert config().chunk is None and cfg.chunk == 1
    group = rates_config.stacks(cfg.jobs)[0]
    assert len(group) == 4
    whole = stack.fit(rates_run.request(cfg, group, "cpu"), rates_run.held_out_sets(cfg))
    for m, job in enumerate(group):
        alone = stack.fit(rates_run.request(cfg, [job], "cpu"), rates_run.held_out_sets(cfg))
        assert torch.equal(whole.thetas[0][m], alone.thetas[0][0])
