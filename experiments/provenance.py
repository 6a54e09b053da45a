"""What every result file records: config, seed, package versions, device and git commit."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from approx.interrupts import interrupts_held

PACKAGES = ("torch", "numpy", "sympy", "scipy", "matplotlib")
REPO = Path(__file__).resolve().parent.parent


def git_commit() -> str:
    """HEAD's hash, with ``+dirty`` when the work tree has changes; ``unknown`` outside git."""
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=REPO, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        with interrupts_held():  # a Ctrl-C in a fork's hooks would be lost
            return run("rev-parse", "HEAD") + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def device_name(device: str = "cpu") -> str:
    if device.startswith("cuda"):
        import torch

        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {platform.processor() or platform.machine()}"


def this_command() -> str:
    """The command line of this process: ``polylab …`` for the CLI, ``.venv/bin/python SCRIPT …`` for a
    benchmark script run by its path."""
    if sys.argv[0].endswith(".py"):
        return " ".join([".venv/bin/python", *sys.argv])
    return " ".join(["polylab", *sys.argv[1:]])


def provenance(config: Any = None, seed: int | None = None, device: str = "cpu", command: str | None = None) -> dict:
    """A dict to store beside every result: config, seed, versions, device, git commit, time, command."""
    return {
        "command": command if command is not None else this_command(),
        "config": config,
        "seed": seed,
        "device": device_name(device),
        "versions": versions(),
        "git_commit": git_commit(),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
