"""Shared helpers: the polylab CLI as a subprocess and in process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import cli

REPO = Path(__file__).resolve().parent.parent

#: a rates config of 8 fits that runs in seconds: the kill, resume and executor tests share it
TINY = """
name = "tiny"
depth = 1
sizes = [12, 24]
init = "uniform"  # one start: these tests are about the run, not the choice of start
seeds = [0, 1]
targets = [{ expr = "sin(3*x0) + x0**2", d = 1, n = 2 }]
activations = ["relu", "polyrelu"]
[data]
train_points = 32
test_points = 256
[[phases]]
optimizer = "adam"
steps = 30
lr = 1e-2
"""


def run_polylab(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``polylab ARGS`` in a fresh interpreter (what a user's shell runs)."""
    return subprocess.run(
        [sys.executable, "-m", "experiments", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, "MPLBACKEND": "Agg", **(env or {})},
    )


@pytest.fixture
def polylab_in_process(capsys):
    """``polylab ARGS`` in this process: (exit code, stdout, stderr). An uncaught exception propagates."""

    def call(*args: str) -> tuple[int, str, str]:
        code = cli.main([str(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return call
