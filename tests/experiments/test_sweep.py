"""experiments.rates.sweep and `polylab rates/report`: config errors up front, atomic resumable results."""

import csv
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from experiments.rates import config as rates_config
from experiments.rates import run as rates_run

TINY = """
name = "tiny"
depth = 1
sizes = [12, 18, 24, 30, 40, 50]
init = "uniform"  # one start: these tests are about the run, not the choice of start
seeds = [0, 1]
targets = [{ family = "abs_power", n = 1, d = 1 }, { name = "runge" }]
activations = ["relu", "polyrelu", "gelu"]
[data]
train_points = 32
test_points = 256
[[phases]]
optimizer = "adam"
steps = 40
lr = 1e-2
"""


def polylab(*args, **kw):
    return subprocess.Popen(
        [sys.executable, "-m", "experiments", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
    )


def rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text()))) if path.exists() else []


def test_kill_and_resume_loses_and_duplicates_nothing(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    out = tmp_path / "run"
    results = out / "results.csv"
    proc = polylab("rates", str(config), "--out", str(out), "--no-progress")
    deadline = time.time() + 240
    while len(rows(results)) == 0 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # mid-run: some stacks written, most not
    proc.wait()
    before = rows(results)
    total = len(rates_config.from_dict(__import__("tomllib").loads(TINY), TINY).jobs)
    assert 0 < len(before) < total, "the kill must land mid-run for this test to mean anything"

    again = polylab("rates", str(config), "--out", str(out))  # without --resume: refuses, touches nothing
    assert again.wait() == 2 and "--resume" in again.stderr.read()
    assert rows(results) == before

    resumed = polylab("rates", str(config), "--out", str(out), "--resume", "--no-progress")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    after = rows(results)
    ids = [r["job"] for r in after]
    assert len(ids) == len(set(ids)) == total  # nothing lost, nothing twice
    assert after[: len(before)] == before  # finished fits are kept as written
    assert {j.id for j in rates_config.load(config).jobs} == set(ids)

    # the same final set as an uninterrupted run: each fit is independent of the stack it ran in
    ref = rates_run.run(rates_config.load(config), tmp_path / "ref", progress=False)
    assert ref["done"] == total
    by_id = {r["job"]: r for r in rows(tmp_path / "ref" / "results.csv")}
    for r in after:
        assert float(r["rmse"]) == pytest.approx(float(by_id[r["job"]]["rmse"]), rel=1e-7)
    assert (out / "report.md").exists() and (out / "figures" / "rates.png").exists()


def test_resume_refuses_a_changed_config(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("sizes = [12, 18, 24, 30, 40, 50]", "sizes = [12]"))
    cfg = rates_config.load(config)
    rates_run.run(cfg, tmp_path / "run", progress=False)
    config.write_text(config.read_text().replace("steps = 40", "steps = 41"))
    with pytest.raises(ValueError, match="differs"):
        rates_run.run(rates_config.load(config), tmp_path / "run", resume=True, progress=False)


BAD = [
    ("sizes = [12, 18, 24, 30, 40, 50]", "sizes = []", "sizes must be a non-empty list"),
    ('"relu", "polyrelu", "gelu"', '"relu", "swish"', "unknown activation 'swish'"),
    ('{ name = "runge" }', '{ name = "rungee" }', "unknown target 'rungee'"),
    ('{ name = "runge" }', '{ expr = "sin(x0", d = 1 }', "malformed target"),
    ('optimizer = "adam"', 'optimizer = "sgd"', "unknown optimizer"),
    ("depth = 1", "depth = 0", "depth must be"),
    ("depth = 1", 'depth = 1\ncolour = "red"', "unknown config key"),
    ("train_points = 32", "train_points = { 2 = 32 }", "no entry for d=1"),
    ('"relu", "polyrelu", "gelu"', '"relu", "relu"', "duplicate activation"),
    ("lr = 1e-2", "lr = -1.0", "lr must be a positive number"),
    ("name =", "name = = ", "invalid TOML"),
]


@pytest.mark.parametrize("old, new, message", BAD, ids=[b[2] for b in BAD])
def test_bad_config_is_one_clear_error(tmp_path, old, new, message):
    assert old in TINY
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace(old, new, 1))
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        rates_config.load(path)


def test_bad_config_on_the_command_line_stops_before_any_work(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(TINY.replace('"gelu"', '"gelu", { name = "polyrelu", order = 40 }'))
    proc = polylab("rates", str(path), "--out", str(tmp_path / "out"))
    assert proc.wait(timeout=120) == 2
    err = proc.stderr.read().strip()
    assert len(err.splitlines()) == 1 and err.startswith("polylab rates: error:") and "order" in err
    assert not (tmp_path / "out").exists()


def test_cuda_without_cuda_is_a_clear_error(tmp_path):
    if __import__("torch").cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="no CUDA device"):
        rates_run.check_device("cuda", "float64")


def test_report_command_rewrites_from_results(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace("sizes = [12, 18, 24, 30, 40, 50]", "sizes = [12, 30]"))
    rates_run.run(rates_config.load(config), tmp_path / "run", progress=False)
    proc = polylab("report", str(tmp_path / "run"), "--boot", "50", env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.wait(timeout=120) == 0, proc.stderr.read()
    text = (tmp_path / "run" / "report.md").read_text()
    assert "| abs_power_n1_d1 | 1 | 1 | polyrelu_r3 |" in text and "figures/rates.png" in text
    assert "Chebyshev" in text
    missing = polylab("report", str(tmp_path / "nothing"))
    assert missing.wait() == 2 and "no such folder" in missing.stderr.read()


def test_bfloat16_is_mixed_precision_and_trains(tmp_path):
    """dtype = "bfloat16": bf16 forward, float32 optimiser (pure bf16 Adam rounds 1 − 0.999 to 0 and diverges)."""
    results = {}
    for dtype in ("float64", "bfloat16"):
        # TINY trains one start: the portfolio could choose differently at another precision
        text = TINY.replace("sizes = [12, 18, 24, 30, 40, 50]", f'sizes = [30]\ndtype = "{dtype}"')
        cfg = rates_config.from_dict(__import__("tomllib").loads(text), text)
        rates_run.run(cfg, tmp_path / dtype, progress=False)
        results[dtype] = {r["job"]: r for r in rows(tmp_path / dtype / "results.csv")}
    for job, r in results["bfloat16"].items():
        assert r["status"] == "ok" and r["dtype"] == "bfloat16"
        assert float(r["rmse"]) == pytest.approx(float(results["float64"][job]["rmse"]), rel=0.5)
