"""Float64 interval arithmetic with outward rounding, vectorised over arrays (docs/theory.md §8.1).

An interval is a pair (lo, hi) of float64 arrays. Every IEEE operation rounds to nearest, so its error
is at most half an ulp of the result; moving each computed end one float outward (``np.nextafter``)
keeps the exact result inside. A matrix product's rounding is bounded instead by the classical
|fl(Σ t_i) − Σ t_i| ≤ γ_m Σ |t_i|, γ_m = m·u/(1 − m·u), u = 2^-53, which holds for any summation order
(so for any BLAS), widened here fourfold and by m subnormal steps. The weights of a network are
float64 numbers, so they enter exactly.
"""

from __future__ import annotations

import numpy as np

Interval = tuple[np.ndarray, np.ndarray]
U = 2.0**-53
TINY = 5e-324  # the smallest subnormal: a product's absolute error near underflow


def down(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, -np.inf)


def up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, np.inf)


def point(x) -> Interval:
    """A float64 array as degenerate intervals (exact)."""
    x = np.asarray(x, dtype=np.float64)
    return x, x


def add(a: Interval, b: Interval) -> Interval:
    return down(a[0] + b[0]), up(a[1] + b[1])


def sub(a: Interval, b: Interval) -> Interval:
    return down(a[0] - b[1]), up(a[1] - b[0])


def mul(a: Interval, b: Interval) -> Interval:
    products = np.stack(np.broadcast_arrays(a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]))
    return down(products.min(0)), up(products.max(0))


def union(a: Interval, b: Interval) -> Interval:
    return np.minimum(a[0], b[0]), np.maximum(a[1], b[1])


def magnitude(a: Interval) -> np.ndarray:
    """max |x| over the interval (exact)."""
    return np.maximum(np.abs(a[0]), np.abs(a[1]))


def matmul(h: Interval, W: np.ndarray) -> Interval:
    """{x @ W : x in h} enclosed, for intervals h (..., m) and an exact float matrix W (m, n)."""
    positive, negative = np.maximum(W, 0), np.minimum(W, 0)
    lo = h[0] @ positive + h[1] @ negative
    hi = h[1] @ positive + h[0] @ negative
    m = 2 * W.shape[0] + 1
    slack = (4 * m * U) * (magnitude(h) @ np.abs(W)) + m * TINY
    return down(lo - slack), up(hi + slack)
