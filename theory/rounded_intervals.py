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


def div(a: Interval, b: Interval) -> Interval:
    """a / b for b > 0."""
    if np.any(b[0] <= 0):
        raise ValueError("interval division needs a positive divisor")
    quotients = np.stack(np.broadcast_arrays(a[0] / b[0], a[0] / b[1], a[1] / b[0], a[1] / b[1]))
    return down(quotients.min(0)), up(quotients.max(0))


def sqrt(a: Interval) -> Interval:
    """√a for a ≥ 0 (IEEE square roots are correctly rounded)."""
    return down(np.sqrt(np.maximum(a[0], 0))), up(np.sqrt(a[1]))


def power(a: Interval, k: int) -> Interval:
    """a^k (k ≥ 1) from its monotone pieces: odd powers from the ends, even ones from |a|."""
    if k % 2:
        lo, hi = point(a[0]), point(a[1])
    else:
        inside = (a[0] <= 0) & (a[1] >= 0)
        near = np.where(inside, 0.0, np.minimum(np.abs(a[0]), np.abs(a[1])))
        lo, hi = point(near), point(magnitude(a))
    out_lo, out_hi = lo, hi
    for _ in range(k - 1):
        out_lo, out_hi = mul(out_lo, lo), mul(out_hi, hi)
    return out_lo[0], out_hi[1]


def total(a: Interval) -> Interval:
    """The sum over the last axis, kept as an axis of length 1."""
    return matmul(a, np.ones((a[0].shape[-1], 1)))
