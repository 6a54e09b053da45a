"""Executors (docs/scaling.md): Ray runs give the local results, survive dying workers and drivers."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, TINY, run_polylab

from experiments import executors
from experiments.user_errors import UserError

ray = pytest.importorskip("ray", reason="Ray is the 'distributed' extra; make test installs it")

TIMING = {"seconds", "stack", "threads"}  # how long and in which chunks: the only columns allowed to differ


def _rows(out) -> dict[str, dict]:
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert len(rows) == len({r["job"] for r in rows}), "a job appears twice"
    return {r["job"]: {k: v for k, v in r.items() if k not in TIMING} for r in rows}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    (tmp / "tiny.toml").write_text(TINY)
    result = run_polylab("rates", str(tmp / "tiny.toml"), "--out", str(tmp / "out"), "--threads", "1", "--no-progress")
    assert result.returncode == 0, result.stderr
    return _rows(tmp / "out")


def test_ray_run_equals_the_local_run_bit_for_bit(tmp_path, local_run):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "out"
    result = run_polylab(
        "rates", str(tmp_path / "tiny.toml"), "--out", str(out), "--executor", "ray", "--threads", "1", "--no-progress"
    )
    assert result.returncode == 0, result.stderr
    assert _rows(out) == local_run
    run = json.loads((out / "run.json").read_text())["runs"][-1]
    assert run["executor"] == "ray" and run["ray_version"] == ray.__version__ and run["address"] == "local"
    assert set(run["nodes"]) == set(local_run)


def test_a_worker_killed_mid_task_is_retried_and_nothing_is_lost_or_doubled(tmp_path, local_run):
    (tmp_path / "tiny.toml").write_text(TINY)
    out, marker = tmp_path / "out", tmp_path / "killed"
    env = {"POLYLAB_KILL_ONCE": f"task:{marker}"}
    result = run_polylab(
        "rates",
        str(tmp_path / "tiny.toml"),
        "--out",
        str(out),
        "--executor",
        "ray",
        "--threads",
        "1",
        "--no-progress",
        env=env,
    )
    assert marker.exists(), "no worker was killed: the test tested nothing"
    assert result.returncode == 0, result.stderr
    assert _rows(out) == local_run


def test_a_killed_driver_resumes_through_ray(tmp_path, local_run):
    (tmp_path / "tiny.toml").write_text(TINY)
    out = tmp_path / "out"
    args = [
        "rates",
        str(tmp_path / "tiny.toml"),
        "--out",
        str(out),
        "--executor",
        "ray",
        "--threads",
        "1",
        "--no-progress",
    ]
    killed = run_polylab(*args, env={"POLYLAB_KILL_AT": "stack@2"})
    assert killed.returncode == -9
    partial = _rows(out)
    assert 0 < len(partial) < len(local_run)
    resumed = run_polylab(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _rows(out) == local_run


def test_lm_runs_through_ray(tmp_path):
    out = tmp_path / "lm"
    result = run_polylab(
        "lm",
        "tiny",
        "--out",
        str(out),
        "--steps",
        "2",
        "--variants",
        "gelu,polynorm",
        "--executor",
        "ray",
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr
    runs = sorted(p.name for p in (out / "runs").glob("*.json"))
    assert runs and all("seed" in r for r in runs)
    assert all('"node"' in (out / "runs" / r).read_text() for r in runs)


def test_a_missing_ray_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(UserError, match=r"pip install -e '\.\[distributed\]'"):
        executors.make("ray")
    (tmp_path / "tiny.toml").write_text(TINY)
    code = "import sys; sys.modules['ray'] = None; from experiments.cli import main; sys.exit(main())"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "rates",
            str(tmp_path / "tiny.toml"),
            "--out",
            str(tmp_path / "o"),
            "--executor",
            "ray",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2 and "distributed" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_addresses_are_redacted_to_host_and_port():
    assert executors.redact("ray://user:secret@head.example.org:10001/x") == "head.example.org:10001"
    assert executors.redact("10.0.0.5:6379") == "10.0.0.5:6379"
    assert executors.redact("local") == "local"
    with pytest.raises(UserError, match="needs --executor ray"):
        executors.make("local", "10.0.0.5:6379")


def test_a_task_that_raises_is_recorded_and_the_others_finish():
    def _raises_on(key: str) -> str:  # local, so Ray ships it by value (tests/ is not importable in a worker)
        if key == "bad":
            raise ValueError("a config value this task cannot use")
        return key

    executor = executors.RayExecutor("local", num_cpus=2)
    try:
        done = []
        tasks = [executors.Task(k, _raises_on, (k,)) for k in ("a", "bad", "c")]
        outcome = executor.run(tasks, lambda task, result, node: done.append(result))
    finally:
        executor.close()
    assert sorted(done) == ["a", "c"]
    assert [(f.key, f.error) for f in outcome.failures] == [("bad", "ValueError: a config value this task cannot use")]


def _counting():
    """A task function that fails on key "bad" and otherwise counts its predecessors; made here, not at
    module level, so Ray ships it by value (tests/ is not importable in a worker)."""

    def plus_one(key: str, previous: int | None = None) -> int:
        if key == "bad":
            raise ValueError("a task that fails")
        return 0 if previous is None else previous + 1

    return plus_one


@pytest.mark.parametrize("name", ["local", "ray"])
def test_a_task_after_another_starts_from_its_result(name):
    plus_one = _counting()
    chain = [executors.Task("a", plus_one, ("a",))]
    chain += [executors.Task(k, plus_one, (k,), after=prev) for prev, k in zip("abc", "bcd", strict=True)]
    executor = executors.make(name, "local" if name == "ray" else None, num_cpus=2)
    try:
        done = {}
        executor.run(chain, lambda task, result, node: done.__setitem__(task.key, result))
    finally:
        getattr(executor, "close", lambda: None)()
    assert done == {"a": 0, "b": 1, "c": 2, "d": 3}


def test_a_task_after_a_failed_one_fails_too_and_the_others_finish():
    plus_one = _counting()
    tasks = [
        executors.Task("bad", plus_one, ("bad",)),
        executors.Task("then", plus_one, ("then",), after="bad"),
        executors.Task("a", plus_one, ("a",)),
        executors.Task("b", plus_one, ("b",), after="a"),
    ]
    executor = executors.RayExecutor("local", num_cpus=2)
    try:
        done = {}
        outcome = executor.run(tasks, lambda task, result, node: done.__setitem__(task.key, result))
    finally:
        executor.close()
    assert done == {"a": 0, "b": 1}
    assert sorted(f.key for f in outcome.failures) == ["bad", "then"]
