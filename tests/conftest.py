"""Shared helpers: the polylab CLI as a subprocess and in process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import cli

REPO = Path(__file__).resolve().parent.parent


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
