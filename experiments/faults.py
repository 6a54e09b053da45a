"""Fault injection for the kill-and-resume tests: die by SIGKILL at a named point of a run.

``POLYLAB_KILL_AT=point[@k]`` kills the process the k-th time (default 1st) it passes
:func:`checkpoint` with that name. Unset, as in every normal run, a checkpoint does nothing.
Points: ``stack`` (a rates stack fitted, its rows not yet written), ``run`` (an lm run trained, not yet
written), and ``write:NAME`` (file NAME written to its temp file, not yet moved into place).
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
