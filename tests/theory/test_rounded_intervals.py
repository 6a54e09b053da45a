"""Outward-rounded float64 intervals (docs/theory.md §8.1): every result holds the exact one."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import rounded_intervals as ri

floats = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False) | st.floats(-1e-300, 1e-300)


def _holds(interval, exact) -> bool:
    lo, hi = interval
    return all(
        Fraction(float(a)) <= e <= Fraction(float(b)) for a, b, e in zip(np.ravel(lo), np.ravel(hi), exact, strict=True)
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(floats, min_size=4, max_size=4))
def test_sums_and_products_hold_the_exact_result(v):
    a, b = (
        (np.array([min(v[0], v[1])]), np.array([max(v[0], v[1])])),
        (np.array([min(v[2], v[3])]), np.array([max(v[2], v[3])])),
    )
    ends = [(Fraction(float(x)), Fraction(float(y))) for x in (a[0][0], a[1][0]) for y in (b[0][0], b[1][0])]
    assert _holds(ri.add(a, b), [ends[0][0] + ends[0][1]]) and _holds(ri.add(a, b), [ends[3][0] + ends[3][1]])
    for x, y in ends:  # every corner product lies inside
        assert _holds(ri.mul(a, b), [x * y])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_a_matrix_product_holds_every_exact_product_of_its_corners(m, n, seed):
    rng = np.random.default_rng(seed)
    scale = 10.0 ** rng.integers(-8, 8, size=(m, n))
    W = rng.normal(size=(m, n)) * scale
    lo = rng.normal(size=(3, m))
    hi = lo + np.abs(rng.normal(size=(3, m))) * 1e-3
    out = ri.matmul((lo, hi), W)
    for corner in (lo, hi):
        exact = [
            sum(Fraction(float(corner[r, i])) * Fraction(float(W[i, j])) for i in range(m))
            for r in range(3)
            for j in range(n)
        ]
        assert _holds(out, exact)


def test_rounding_to_nearest_alone_would_lose_the_exact_sum(monkeypatch):
    """Mutant: without the outward step, 0.1 + 0.2 misses the exact sum of the two floats."""
    a, b = ri.point(np.array([0.1])), ri.point(np.array([0.2]))
    exact = Fraction(0.1) + Fraction(0.2)
    assert _holds(ri.add(a, b), [exact])
    monkeypatch.setattr(ri, "down", lambda x: x)
    monkeypatch.setattr(ri, "up", lambda x: x)
    assert not _holds(ri.add(a, b), [exact])
