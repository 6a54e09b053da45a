"""Differences judged against the spread between seeds (docs/theory.md §6.1).

A difference between two variants counts only when it is larger than the larger of their sample
standard deviations over seeds; with a single seed per variant the noise is unknown, and the verdict
says so.
"""

from __future__ import annotations

from statistics import mean, stdev


def stat(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None with one value)."""
    return mean(values), (stdev(values) if len(values) > 1 else None)


def fmt(values: list[float], digits: int = 4) -> str:
    """``mean ± std`` (or the mean alone for one value)."""
    m, s = stat(values)
    return f"{m:.{digits}f}" + (f" ± {s:.{digits}f}" if s is not None else "")


def compare(a: list[float], b: list[float], lower_is_better: bool) -> tuple[float, str]:
    """Mean difference a − b and a verdict on "a is better than b", against the seed spread."""
    diff = mean(a) - mean(b)
    spreads = [s for s in (stat(a)[1], stat(b)[1]) if s is not None]
    better = diff < 0 if lower_is_better else diff > 0
    if spreads and abs(diff) <= max(spreads):
        return diff, "within seed spread"
    verdict = "agrees" if better else "disagrees"
    return diff, verdict + ("" if spreads else " (single seed: noise unknown)")
