"""approx.fit and polylab fit: one call, a module and its errors (approx/fitting/one_call.py, result.py)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_polylab

import approx
from approx.fitting import targets
from approx.fitting.models import Activation, Architecture
from approx.fitting.schedule import Phase

ACTS = ["tanh", "gelu", "relu2", "polyrelu", "polynorm", {"name": "polyrelu", "coefficients": "per_neuron"}]


def problem(act="tanh", width=8, depth=2, seeds=(0,), points=64):
    a = Activation.parse(act)
    arch = Architecture(1, width, depth, a)
    x = targets.sample(1, points, "sobol", 0)
    y = torch.exp(-8 * (x[:, 0] - 0.4) ** 2) * torch.sin(6 * x[:, 0])
    return arch, arch.init(list(seeds)), x, y.expand(len(seeds), -1)


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


# --------------------------------------------------------------------------- a result a user can keep


@pytest.fixture(scope="module")
def kinked():
    return approx.fit("abs(x0-0.3)**2.5", d=1, params=60)


def test_expression_strings_are_targets(kinked):
    x = torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    want = (x[:, 0] - 0.3).abs() ** 2.5
    assert kinked.target_name == "abs(x0-0.3)**2.5" and kinked.sup_error < 0.05
    torch.testing.assert_close(kinked.predict(x), want, atol=0.05 * float(want.max()), rtol=0)


def test_predict_takes_float32_and_float64_and_keeps_the_dtype(kinked):
    x64 = torch.rand(50, 1, dtype=torch.float64)
    y64, y32 = kinked.predict(x64), kinked.predict(x64.float())
    assert y64.dtype == torch.float64 and y32.dtype == torch.float32 and y64.shape == (50,)
    torch.testing.assert_close(y32.double(), y64, rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="shape"):
        kinked.predict(torch.rand(5, 2))


def test_save_and_load_round_trip(kinked, tmp_path):
    kinked.save(tmp_path / "fit.pt")
    back = approx.load(tmp_path / "fit.pt")
    x = torch.rand(64, 1, dtype=torch.float64)
    assert torch.equal(back.predict(x), kinked.predict(x))
    assert back.to_records() == kinked.to_records() and back.history == kinked.history
    assert back.target_spec == kinked.target_spec and back.plot() is not None  # the target is rebuilt


def test_load_refuses_pickled_objects_and_other_files(tmp_path):
    """weights_only loading: a file that would run code on load is refused, not executed."""

    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "CANARY"), "w"))

    torch.save({"meta": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match="not a saved polycom-lab fit"):
        approx.load(tmp_path / "evil.pt")
    assert not (tmp_path / "CANARY").exists()
    torch.save({"meta": json.dumps({"format": "other"})}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="format"):
        approx.load(tmp_path / "other.pt")


def test_records_and_history(kinked):
    (row,) = kinked.to_records()
    assert row["params"] == kinked.params and row["activation"] == "polyrelu_r3"
    # depth 2: the portfolio has no kinks start, and the winner is the best-scored candidate
    assert set(kinked.selection) == {"uniform", "grown"}
    assert row["start"] == kinked.start == min(kinked.selection, key=kinked.selection.get)
    assert len(kinked.history) >= kinked.steps > 0 and kinked.history[-1] <= kinked.history[0]


def test_plots_draw_curves_in_1d_and_maps_in_2d(kinked):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = kinked.plot()
    assert len(fig.axes) == 2 and fig.axes[1].get_yscale() == "log"
    two = approx.fit("x0*x1", d=2, params=40, activation="tanh")
    fig2 = two.plot(points=400)
    assert len(fig2.axes) == 6  # target, fit, error and their colour bars
    _, ax = plt.subplots()
    assert two.plot(ax=ax) is ax.figure
    plt.close("all")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: approx.fit("runge", d=3), "d = 1; d = 3 contradicts"),
        (lambda: approx.fit("x0 +* 1"), "malformed"),
        (lambda: approx.fit("1/x0"), "not certified finite"),
        (lambda: approx.fit("sin(x0)**2 + cos(x0)**2 - 1"), "zero on the grid"),
        (lambda: approx.fit("x0", device="cuda:7"), "device 'cuda:7'"),
        (lambda: approx.fit("x0", device="tpu"), "unknown device"),
    ],
)
def test_the_api_refuses_what_the_cli_refuses(call, message):
    with pytest.raises(ValueError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_a_catalogue_family_takes_d():
    r = approx.fit("abs_power", d=2, params=40, activation="tanh")
    assert r.arch.d_in == 2 and r.target_name == "abs_power_n1_d2"
