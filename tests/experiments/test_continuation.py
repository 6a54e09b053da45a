"""Continuation in size (experiments/rates/continuation.py, approx/fitting/portfolio.py ``widened``)."""

from __future__ import annotations

import csv
import io
import math
import tomllib

import pytest
import torch
from conftest import run_polylab

from approx.fitting import portfolio, targets
from approx.fitting.models import Activation, Architecture
from approx.fitting.schedule import Phase
from experiments.rates import config as rates_config
from experiments.rates import report as rate_report
from experiments.rates import run as rates_run
from experiments.user_errors import UserError

CHAIN = """
name = "chain"
depth = 1
sizes = [16, 32, 64]
continuation = true
seeds = [0]
targets = [{ expr = "abs(x0 - 0.37)**1.5", d = 1, n = 1 }]
activations = ["relu", "gelu", "polynorm"]
[data]
train_points = 64
test_points = 256
[[phases]]
optimizer = "adam"
steps = 30
lr = 1e-2
[[phases]]
optimizer = "lm"
steps = 20
"""
SHORT = (Phase("lm", steps=20), Phase("varpro"))
ONE_THREAD = ("--no-progress", "--threads", "1")


def rows(path) -> dict[str, dict]:
    return {r["job"]: r for r in csv.DictReader(io.StringIO(path.read_text()))}


def _small_fit(act: str | dict, width: int):
    """A trained width-``width`` network on Runge's function, two models, and its points."""
    arch = Architecture(1, width, 1, Activation.parse(act))
    x = torch.stack([targets.sample(1, 96, seed=s) for s in (0, 1)])
    y = torch.stack([targets.get("runge")(xi) for xi in x])
    train_part, val_part = portfolio.split(x, y)
    start = portfolio.Start("u", "uniform", SHORT)
    fit = portfolio._train(arch, arch.init([0, 1]), *train_part, start, portfolio.Engine())
    return arch, fit.theta, train_part, val_part


@pytest.mark.parametrize(
    ("act", "tol"),
    [("relu", 0), ("gelu", 0), ({"name": "polyrelu", "coefficients": "per_neuron"}, 0), ("polynorm", 1e-4)],
)
def test_a_widened_start_is_the_smaller_fit_and_training_only_lowers_its_loss(act, tol, monkeypatch):
    """Exactly for a pointwise activation; PolyNorm's start moves by ~ε/mean(h^{2i}) (growth.py), ``tol``."""
    small, theta, train_part, val_part = _small_fit(act, 4)
    wide = Architecture(1, 9, 1, small.activation)
    first = {}
    real = portfolio._train

    def spy(arch, theta0, x, y, cand, engine):
        first[cand.name] = theta0.clone()
        return real(arch, theta0, x, y, cand, engine)

    monkeypatch.setattr(portfolio, "_train", spy)
    cands = tuple(s for s in portfolio.starts(wide, smaller=portfolio.Smaller(small, theta)) if s.name == "widened")
    run = portfolio.train_candidates(wide, [0, 1], train_part, val_part, cands, portfolio.Engine())["widened"]
    grid = targets.dense_grid(1, 513) * 3 - 1  # beyond the cube too: the widened network is the smaller one
    before = small.forward(theta, grid)
    atol = max(1e-13, tol * float(before.abs().max()))
    torch.testing.assert_close(wide.forward(first["widened"], grid), before, rtol=0, atol=atol)
    x, y = train_part
    loss_small = (small.forward(theta, x) - y).square().mean(1)
    assert all(run.train_loss[m] <= float(loss_small[m]) * (1 + 1e-12 + 10 * tol) for m in range(2))


def test_a_smaller_fit_that_is_not_one_is_refused():
    arch = Architecture(1, 8, 2, Activation("relu"))
    for other in (
        Architecture(1, 9, 2, Activation("relu")),
        Architecture(1, 4, 1, Activation("relu")),
        Architecture(2, 4, 2, Activation("relu")),
        Architecture(1, 4, 2, Activation("gelu")),
    ):
        with pytest.raises(ValueError, match="cannot continue"):
            portfolio.starts(arch, smaller=portfolio.Smaller(other, other.init([0])))


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """One uninterrupted continuation run: the reference a killed and resumed one must reproduce."""
    out = tmp_path_factory.mktemp("chain") / "run"
    (out.parent / "chain.toml").write_text(CHAIN)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses below: LM amplifies how a thread count rounds
    try:
        rates_run.run(rates_config.load(out.parent / "chain.toml"), out, progress=False)
    finally:
        torch.set_num_threads(threads)
    return out


def test_each_size_after_the_first_tries_the_smaller_fit_widened(chain):
    table = rows(chain / "results.csv")
    for job, r in table.items():
        first = "|P16|" in job
        assert ("widened=" in r["selection"]) == (not first), (job, r["selection"])
        assert r["start"] and r["start"] in (r["selection"] or r["start"])
    summary = rate_report.write_all(chain, boot=20)
    assert summary["starts"].get("widened") and "continuation in size" in (chain / "report.md").read_text()
    assert summary["bounded_in_width"] == ["polynorm_r3"] and "bounded dimension" in (chain / "report.md").read_text()
    saved = sorted(p.name for p in (chain / "params").iterdir())
    widths = {"relu": (5, 10, 21), "gelu": (5, 10, 21), "polynorm_r3": (4, 9, 20)}
    assert saved == sorted(f"{a}-d1-L1-w{w}.pt" for a, ws in widths.items() for w in ws), saved


def _killed_at_stack_4_and_resumed(chain, tmp_path, *flags: str) -> None:
    """A continuation run killed after its fourth stack and resumed gives the uninterrupted run's rows."""
    config = tmp_path / "chain.toml"
    config.write_text(CHAIN)
    out = tmp_path / "run"
    killed = run_polylab("rates", config, "--out", out, *flags, env={"POLYLAB_KILL_AT": "stack@4"})
    assert killed.returncode == -9, killed.stderr
    assert 0 < len(rows(out / "results.csv")) < 9
    resumed = run_polylab("rates", config, "--out", out, "--resume", *flags)
    assert resumed.returncode == 0, resumed.stderr
    after, reference = rows(out / "results.csv"), rows(chain / "results.csv")
    assert set(after) == set(reference)
    for job, r in after.items():  # the same networks as the whole run: the resumed sizes started from the saved fits
        assert float(r["max_abs"]) == pytest.approx(float(reference[job]["max_abs"]), rel=1e-6), job
        assert r["start"] == reference[job]["start"]


def test_a_killed_continuation_run_resumes_from_the_saved_fits(chain, tmp_path):
    _killed_at_stack_4_and_resumed(chain, tmp_path, *ONE_THREAD)


@pytest.mark.parametrize(
    "spoil, message",
    [
        (lambda path: path.unlink(), "is missing"),
        (lambda path: path.write_bytes(b"not a checkpoint"), "is not a saved fit"),
        (lambda path: torch.save({"rows": {}}, path), "is not a saved fit"),
        (lambda path: torch.save({"rows": _spoilt(path, torch.float32)}, path), "float64 parameters"),
        (lambda path: torch.save({"rows": _spoilt(path, torch.float64, math.nan)}, path), "non-finite"),
    ],
)
def test_a_resume_from_missing_or_spoilt_fits_is_refused(spoil, message, tmp_path):
    config = tmp_path / "chain.toml"
    config.write_text(CHAIN)
    out = tmp_path / "run"
    killed = run_polylab("rates", config, "--out", out, *ONE_THREAD, env={"POLYLAB_KILL_AT": "stack@4"})
    assert killed.returncode == -9, killed.stderr
    for saved in (out / "params").iterdir():
        spoil(saved)
    resumed = run_polylab("rates", config, "--out", out, "--resume", *ONE_THREAD)
    assert resumed.returncode == 2, resumed.stderr
    assert message in resumed.stderr and "Traceback" not in resumed.stderr, resumed.stderr


def _spoilt(path, dtype, value=0.0) -> dict:
    rows = torch.load(path, weights_only=True)["rows"]
    return {k: torch.full_like(v, value, dtype=dtype) for k, v in rows.items()}


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("continuation = true", "continuation = 1", "true or false"),
        ("continuation = true", 'continuation = true\ninit = "uniform"', "init = 'auto'"),
        ("continuation = true", "continuation = true\nstages = 2", "stages = 1"),
    ],
)
def test_continuation_needs_what_it_builds_on(old, new, message):
    text = CHAIN.replace(old, new)
    with pytest.raises(UserError, match=message):
        rates_config.from_dict(tomllib.loads(text), text)


def test_a_continuation_run_through_ray_killed_and_resumed_gives_the_local_rows(chain, tmp_path):
    """Each size's Ray task comes after the smaller size's and starts from its fits; the driver, killed
    mid-run, resumes from the saved fits. Two workers: the relu and gelu chains run side by side."""
    pytest.importorskip("ray", reason="Ray is the 'distributed' extra; make test installs it")
    _killed_at_stack_4_and_resumed(chain, tmp_path, "--executor", "ray", *ONE_THREAD)
