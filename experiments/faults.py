"""Fault injection for the kill-and-resume tests: die by SIGKILL at a named point of a run.

``POLYLAB_KILL_AT=point[@k]`` kills the process the k-th time (default 1st) it passes
:func:`checkpoint` with that name. Unset, as in every normal run, a checkpoint does nothing.
Points: ``stack`` (a rates stack fitted, its rows not yet written), ``run`` (an lm run trained, not yet
written), and ``write:NAME`` (file NAME written to its temp file, not yet moved into place).

``POLYLAB_KILL_ONCE=point:MARKER`` kills the first process that passes :func:`kill_once` at that point
and creates the file MARKER, so a retried task survives: a worker that dies mid-task (point ``task``).
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passed: Counter[str] = Counter()  # per-process hit counts; only read when POLYLAB_KILL_AT is set


def checkpoint(point: str) -> None:
    spec = os.environ.get("POLYLAB_KILL_AT")
    if not spec:
        return
    name, _, k = spec.partition("@")
    if name != point:
        return
    _passed[point] += 1
    if _passed[point] >= int(k or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def kill_once(point: str) -> None:
    spec = os.environ.get("POLYLAB_KILL_ONCE")
    if not spec:
        return
    name, _, marker = spec.partition(":")
    if name != point or not marker:
        return
    try:
        with open(marker, "x"):  # exactly one process gets to create it
            pass
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
