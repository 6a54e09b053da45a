"""Certificates: a statement, the computation that checks it, and its verdict (docs/theory.md §2-5).

A certificate's ``holds`` comes only from a computation that would say False on a wrong
construction (exact equality, a SymPy case analysis, a measured error against a bound).

API
- ``Certificate``: name, statement (docs/theory.md's precise version, in words), params, sizes, method,
  holds, error_bound, measured_error, seconds, details; ``.as_dict()`` (JSON-ready).
- ``certify(name, statement, method, check, params=None, sizes=None, error_bound=None)``: run
  ``check()`` (returns ``holds`` or a ``Check``: holds and optionally measured_error, sizes and
  details), time it, and wrap the verdict. A check that raises yields holds=False
  with the error in ``details``: a crash is never a pass.
- Groups: ``GROUPS`` maps a group name (lemma1, theorem1, lemma2, theorem2, theorem3, ...) to
  ``"module:function"``; the function takes no arguments and returns ``list[Certificate]``.
  ``register(name, target)`` adds one; ``group_names()``; ``gather(names=None)`` runs them
  (``None``: every group); ``verify(groups)`` runs them and raises if any fails.
"""

from __future__ import annotations

import importlib
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

#: group name -> "module:function"; a new group adds its line here (or calls ``register``)
GROUPS: dict[str, str] = {
    "lemma1": "theory.lemma1:certificates",
    "theorem1": "theory.theorem1:certificates",
    "lemma2": "theory.lemma2:certificates",
    "theorem2": "theory.theorem2:certificates",
    "theorem3": "theory.theorem3:certificates",
}


@dataclass(frozen=True)
class Check:
    """What a certificate's check found: the verdict, and what it measured to reach it."""

    holds: bool
    measured_error: object = None  # an exact number, an enclosure "[lower, upper]", or a float
    sizes: dict[str, Any] | None = None
    details: str = ""


@dataclass(frozen=True)
class Certificate:
    """One checked statement. ``error_bound`` is exact (a Fraction) or None; ``measured_error`` is the
    check's own account of what it measured (an exact number, an enclosure "[lower, upper]", or a float)."""

    name: str
    statement: str
    method: str
    holds: bool
    params: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, Any] = field(default_factory=dict)
    error_bound: Fraction | None = None
    measured_error: str | None = None
    seconds: float = 0.0
    details: str = ""
    group: str = ""  # set by ``gather``

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the exact ``error_bound`` as a string, and as ``error_bound_float`` for display only."""
        out = asdict(self)
        out["error_bound"] = None if self.error_bound is None else str(self.error_bound)
        out["error_bound_float"] = None if self.error_bound is None else float(self.error_bound)
        return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "as_dict"):
        return _jsonable(value.as_dict())
    return str(value)


def _exact_bound(value: object) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | Fraction):
        raise TypeError(f"a certificate's error bound must be exact (int or Fraction), got {value!r}")
    return Fraction(value)


def certify(
    name: str,
    statement: str,
    method: str,
    check: Callable[[], bool | Check],
    params: dict[str, Any] | None = None,
    sizes: dict[str, Any] | None = None,
    error_bound: object = None,
) -> Certificate:
    """Run ``check`` and record its verdict and time."""
    start = time.perf_counter()
    details, measured = "", None
    try:
        result = check()
        if isinstance(result, Check):
            holds, measured, details = result.holds, result.measured_error, result.details
            sizes = sizes if result.sizes is None else result.sizes
        else:
            holds = result
        if not isinstance(holds, bool):
            raise TypeError(f"check returned holds={holds!r}, not a bool")
    except Exception as err:  # a crash is a failed certificate, reported with its cause
        holds = False
        details = f"check raised {err.__class__.__name__}: {err}\n{traceback.format_exc(limit=3)}"
    return Certificate(
        name=name,
        statement=statement,
        method=method,
        holds=holds,
        params=_jsonable(params or {}),
        sizes=_jsonable(sizes or {}),
        error_bound=None if error_bound is None else _exact_bound(error_bound),
        measured_error=None if measured is None else str(measured),
        seconds=time.perf_counter() - start,
        details=details,
    )


def register(name: str, target: str) -> None:
    """Add (or repoint) a group: ``register("lemma2", "theory.lemma2:certificates")``."""
    if ":" not in target:
        raise ValueError(f"group target must be 'module:function', got {target!r}")
    GROUPS[name] = target


def group_names() -> list[str]:
    return list(GROUPS)


def gather(names: Sequence[str] | None = None) -> list[Certificate]:
    """Run the named groups (all available ones when ``names`` is None) and return every certificate."""
    if names is None:
        names = group_names()
    for g in names:
        if g not in GROUPS:
            raise ValueError(f"unknown certificate group {g!r}; valid: {', '.join(GROUPS)}")
    out: list[Certificate] = []
    for g in names:
        module, function = GROUPS[g].split(":")
        start = time.perf_counter()
        try:
            certs = list(getattr(importlib.import_module(module), function)())
        except Exception as err:  # a group that cannot run is one failed certificate, not a crash
            certs = [
                Certificate(
                    name=f"{g}/group",
                    statement=f"the certificate group {g} runs",
                    method=f"import {module} and call {function}()",
                    holds=False,
                    seconds=time.perf_counter() - start,
                    details=f"{err.__class__.__name__}: {err}\n{traceback.format_exc(limit=3)}",
                )
            ]
        out += [cert if cert.group else replace(cert, group=g) for cert in certs]
    return out


def verify(groups: str | Sequence[str] | None = None) -> list[Certificate]:
    """``polylab verify`` from Python: run one group (``"theorem3"``), several, or all; raises if any fails.

    Returns every certificate; a failure raises ``AssertionError`` naming the failed ones.
    """
    names = [groups] if isinstance(groups, str) else groups
    certs = gather(names)
    failed = [c.name for c in certs if not c.holds]
    if failed:
        raise AssertionError(f"{len(failed)} certificate(s) fail: {', '.join(failed)}")
    return certs
