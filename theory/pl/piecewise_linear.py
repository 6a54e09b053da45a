"""Exact continuous piecewise-linear functions on a closed interval, and their exact sup error.

A 1-D ReLU network computes a continuous piecewise-linear (PL) function. ``PiecewiseLinear`` holds
one by its breakpoints ``xs`` and values ``ys`` (both ``fractions.Fraction``), and is closed under
the operations a network performs: affine combination, ReLU and composition (docs/theory.md §4). No
floating point is involved anywhere.

``sup_error(pl, p)`` is max_{x∈[lo,hi]} |pl(x) − p(x)| for a polynomial p with rational coefficients.
On each linear piece e = ℓ − p is a polynomial, so its maximum sits at a breakpoint or at a critical
point, a root of p'(x) = slope:

- deg p ≤ 2: that root is rational, so the sup is computed **exactly** (``SupError.exact``);
- deg p ≥ 3: the roots are algebraic; the engine returns a **certified rational enclosure**
  ``lower ≤ sup ≤ upper`` with ``upper − lower ≤ rel_tol · lower``, by branch and bound with exact
  Taylor enclosures (``lower`` is |e| at an actual point, ``upper`` a proven bound on every piece).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from numbers import Rational

Q = Fraction
Number = int | Fraction


def as_fraction(x: object) -> Fraction:
    """An exact rational, or ``ValueError``: floats are taken as the binary fractions they are."""
    if isinstance(x, bool):
        raise ValueError(f"expected a rational number, got {x!r}")
    if isinstance(x, Rational):
        return Fraction(int(x.numerator), int(x.denominator))
    if isinstance(x, float):
        if x != x or x in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {x!r}")
        return Fraction(x)
    if isinstance(x, str):
        try:
            return Fraction(x)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"not a rational number: {x!r}") from None
    try:  # SymPy Rational / Integer
        return Fraction(int(x.p), int(x.q))  # type: ignore[attr-defined]
    except AttributeError:
        raise ValueError(f"expected a rational number, got {x!r}") from None


# --------------------------------------------------------------------------- polynomials


def poly_eval(p: Sequence[Fraction], x: Fraction) -> Fraction:
    """Σ p[i] x^i by Horner (coefficients ascending, the lab's convention)."""
    y = Fraction(0)
    for c in reversed(p):
        y = y * x + c
    return y


def taylor_shift(p: Sequence[Fraction], c: Fraction) -> list[Fraction]:
    """Coefficients q with q(d) = p(c + d) (repeated synthetic division, exact)."""
    q = list(p)
    n = len(q)
    for i in range(n - 1):
        for j in range(n - 2, i - 1, -1):
            q[j] += c * q[j + 1]
    return q


def trim(p: Iterable[object]) -> tuple[Fraction, ...]:
    """Rational coefficients with trailing zeros removed (the zero polynomial is ``(0,)``)."""
    q = [as_fraction(c) for c in p]
    while len(q) > 1 and q[-1] == 0:
        q.pop()
    return tuple(q) or (Fraction(0),)


# --------------------------------------------------------------------------- PL functions


@dataclass(frozen=True, slots=True)
class PiecewiseLinear:
    """A continuous PL function on ``[xs[0], xs[-1]]``: linear between consecutive breakpoints."""

    xs: tuple[Fraction, ...]
    ys: tuple[Fraction, ...]

    def __post_init__(self) -> None:
        if len(self.xs) < 2 or len(self.xs) != len(self.ys):
            raise ValueError("a PiecewiseLinear needs ≥ 2 breakpoints and one value per breakpoint")
        if any(b <= a for a, b in zip(self.xs, self.xs[1:], strict=False)):
            raise ValueError("breakpoints must be strictly increasing")

    # ---- constructors
    @classmethod
    def affine(cls, slope: Number, intercept: Number, lo: Number, hi: Number) -> PiecewiseLinear:
        lo, hi, s, b = map(as_fraction, (lo, hi, slope, intercept))
        return cls((lo, hi), (s * lo + b, s * hi + b))

    @classmethod
    def identity(cls, lo: Number, hi: Number) -> PiecewiseLinear:
        return cls.affine(1, 0, lo, hi)

    @classmethod
    def constant(cls, c: Number, lo: Number, hi: Number) -> PiecewiseLinear:
        return cls.affine(0, c, lo, hi)

    @classmethod
    def interpolant(cls, f, nodes: Iterable[Number]) -> PiecewiseLinear:
        """The PL interpolant of ``f`` at ``nodes`` (exact if ``f`` is exact on rationals)."""
        xs = tuple(sorted({as_fraction(x) for x in nodes}))
        return cls(xs, tuple(as_fraction(f(x)) for x in xs))

    # ---- inspection
    @property
    def domain(self) -> tuple[Fraction, Fraction]:
        return self.xs[0], self.xs[-1]

    @property
    def pieces(self) -> int:
        """Number of linear pieces after merging collinear neighbours."""
        return len(self.simplify().xs) - 1

    @property
    def slopes(self) -> tuple[Fraction, ...]:
        return tuple((y1 - y0) / (x1 - x0) for x0, x1, y0, y1 in self._segments())

    def range(self) -> tuple[Fraction, Fraction]:
        return min(self.ys), max(self.ys)

    def _segments(self):
        return zip(self.xs, self.xs[1:], self.ys, self.ys[1:], strict=False)

    def __call__(self, x: Number) -> Fraction:
        x = as_fraction(x)
        lo, hi = self.domain
        if not lo <= x <= hi:
            raise ValueError(f"{x} is outside the domain [{lo}, {hi}]")
        k = min(bisect_right(self.xs, x), len(self.xs) - 1)
        x0, x1, y0, y1 = self.xs[k - 1], self.xs[k], self.ys[k - 1], self.ys[k]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)

    def values_at(self, points: Sequence[Fraction]) -> list[Fraction]:
        """Values at sorted ``points`` inside the domain, by one linear sweep (no division at breakpoints)."""
        out, k, xs, ys = [], 0, self.xs, self.ys
        last = len(xs) - 2
        slope, slope_k = Fraction(0), -1
        for x in points:
            while k < last and xs[k + 1] < x:
                k += 1
            if x == xs[k]:
                out.append(ys[k])
            elif x == xs[k + 1]:
                out.append(ys[k + 1])
            else:
                if slope_k != k:
                    slope, slope_k = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k]), k
                out.append(ys[k] + slope * (x - xs[k]))
        return out

    def simplify(self) -> PiecewiseLinear:
        """Drop breakpoints where the slope does not change (same function, fewest pieces)."""
        xs, ys = [self.xs[0]], [self.ys[0]]
        for i in range(1, len(self.xs) - 1):
            x0, y0, x1, y1, x2, y2 = xs[-1], ys[-1], self.xs[i], self.ys[i], self.xs[i + 1], self.ys[i + 1]
            if (y1 - y0) * (x2 - x1) != (y2 - y1) * (x1 - x0):
                xs.append(x1)
                ys.append(y1)
        xs.append(self.xs[-1])
        ys.append(self.ys[-1])
        return PiecewiseLinear(tuple(xs), tuple(ys))

    # ---- arithmetic: the affine layer of a network
    def _check_same_domain(self, other: PiecewiseLinear) -> None:
        if self.domain != other.domain:
            raise ValueError(f"domains differ: {self.domain} vs {other.domain}")

    @staticmethod
    def combine(terms: Sequence[tuple[Number, PiecewiseLinear]], bias: Number = 0) -> PiecewiseLinear:
        """Σ c_k f_k + bias over a common domain (one merge of all breakpoint sets)."""
        if not terms:
            raise ValueError("combine needs at least one term")
        first = terms[0][1]
        for _, f in terms[1:]:
            first._check_same_domain(f)
        xs = sorted(set().union(*(f.xs for _, f in terms)))
        ys = [as_fraction(bias)] * len(xs)
        for c, f in terms:
            c = as_fraction(c)
            if c == 0:
                continue
            vals = f.ys if len(f.xs) == len(xs) else f.values_at(xs)
            if c == 1:
                ys = [y + v for y, v in zip(ys, vals, strict=True)]
            else:
                ys = [y + c * v for y, v in zip(ys, vals, strict=True)]
        return PiecewiseLinear(tuple(xs), tuple(ys))

    def __add__(self, other: PiecewiseLinear | Number) -> PiecewiseLinear:
        if isinstance(other, PiecewiseLinear):
            return self.combine([(1, self), (1, other)])
        c = as_fraction(other)
        return PiecewiseLinear(self.xs, tuple(y + c for y in self.ys))

    __radd__ = __add__

    def __neg__(self) -> PiecewiseLinear:
        return PiecewiseLinear(self.xs, tuple(-y for y in self.ys))

    def __sub__(self, other: PiecewiseLinear | Number) -> PiecewiseLinear:
        return self + (-other)

    def __mul__(self, c: Number) -> PiecewiseLinear:
        c = as_fraction(c)
        return PiecewiseLinear(self.xs, tuple(c * y for y in self.ys))

    __rmul__ = __mul__

    # ---- the nonlinearity and composition
    def relu(self) -> PiecewiseLinear:
        """max(f, 0): a new breakpoint wherever a piece crosses zero."""
        xs, ys = [self.xs[0]], [max(self.ys[0], Fraction(0))]
        for x0, x1, y0, y1 in self._segments():
            if (y0 < 0 < y1) or (y1 < 0 < y0):
                xs.append(x0 - y0 * (x1 - x0) / (y1 - y0))
                ys.append(Fraction(0))
            xs.append(x1)
            ys.append(max(y1, Fraction(0)))
        return PiecewiseLinear(tuple(xs), tuple(ys))

    def compose(self, inner: PiecewiseLinear) -> PiecewiseLinear:
        """self ∘ inner. Every breakpoint of ``self`` met by a piece of ``inner`` becomes one of the result."""
        lo, hi = self.domain
        rlo, rhi = inner.range()
        if rlo < lo or rhi > hi:
            raise ValueError(f"inner range [{rlo}, {rhi}] leaves the outer domain [{lo}, {hi}]")
        bx, by = self.xs, self.ys
        xs, ys = [inner.xs[0]], [self(inner.ys[0])]
        for x0, x1, y0, y1 in inner._segments():
            if y0 != y1:  # outer breakpoints strictly between y0 and y1, in the order the piece meets them
                i, j = bisect_right(bx, min(y0, y1)), bisect_left(bx, max(y0, y1))
                order = range(i, j) if y0 < y1 else range(j - 1, i - 1, -1)
                scale = (x1 - x0) / (y1 - y0)
                for k in order:
                    xs.append(x0 + (bx[k] - y0) * scale)
                    ys.append(by[k])
            xs.append(x1)
            ys.append(self(y1))
        return PiecewiseLinear(tuple(xs), tuple(ys))

    def restrict(self, lo: Number, hi: Number) -> PiecewiseLinear:
        """The same function on a sub-interval [lo, hi]."""
        lo, hi = as_fraction(lo), as_fraction(hi)
        a, b = self.domain
        if not a <= lo < hi <= b:
            raise ValueError(f"[{lo}, {hi}] is not a sub-interval of [{a}, {b}]")
        inner = [x for x in self.xs if lo < x < hi]
        xs = [lo, *inner, hi]
        return PiecewiseLinear(tuple(xs), tuple(self.values_at(xs)))


# --------------------------------------------------------------------------- exact sup error


@dataclass(frozen=True, slots=True)
class SupError:
    """lower ≤ max |pl − p| ≤ upper; ``argmax`` attains ``lower``; ``exact`` when lower == upper."""

    lower: Fraction
    upper: Fraction
    argmax: Fraction

    @property
    def exact(self) -> bool:
        return self.lower == self.upper

    @property
    def value(self) -> Fraction:
        """The certified upper bound (the exact sup when ``exact``)."""
        return self.upper

    def __float__(self) -> float:
        return float(self.upper)


def _taylor_upper(p: Sequence[Fraction], s: Fraction, b: Fraction, u: Fraction, v: Fraction, sign: int) -> Fraction:
    """A proven bound on sign·e (|e| if sign == 0), e(x) = s x + b − p(x), over [u, v]: Taylor at the midpoint."""
    c, rho = (u + v) / 2, (v - u) / 2
    e = [-q for q in taylor_shift(p, c)] + [Fraction(0)] * max(0, 2 - len(p))
    e[0] += s * c + b
    e[1] += s
    bound, power = (abs(e[0]) if sign == 0 else sign * e[0]), Fraction(1)
    for ek in e[1:]:
        power *= rho
        bound += abs(ek) * power
    return bound


def sup_error(
    pl: PiecewiseLinear,
    p: Iterable[Number],
    lo: Number | None = None,
    hi: Number | None = None,
    *,
    sign: int = 0,
    rel_tol: Number = Fraction(1, 10**20),
) -> SupError:
    """max_{x∈[lo,hi]} |pl(x) − p(x)|, p = Σ p_i x^i (ascending rational coefficients).

    ``sign=+1`` gives max (pl − p) and ``sign=-1`` gives max (p − pl) instead: one-sided errors.
    Exact when deg p ≤ 2 (the critical point of each piece is rational); otherwise a certified
    enclosure [lower, upper] with upper − lower ≤ rel_tol · |lower| (see the module docstring).
    """
    if sign not in (-1, 0, 1):
        raise ValueError(f"sign must be -1, 0 or 1, got {sign!r}")
    p = trim(p)
    if lo is not None or hi is not None:
        pl = pl.restrict(pl.domain[0] if lo is None else lo, pl.domain[1] if hi is None else hi)
    rel_tol = as_fraction(rel_tol)

    def measure(e: Fraction) -> Fraction:
        return abs(e) if sign == 0 else sign * e

    arg = pl.xs[0]
    best = measure(pl.ys[0] - poly_eval(p, arg))

    def consider(x: Fraction, value: Fraction) -> None:
        nonlocal best, arg
        if value > best:
            best, arg = value, x

    for x, y in zip(pl.xs[1:], pl.ys[1:], strict=True):
        consider(x, measure(y - poly_eval(p, x)))
    if len(p) <= 2:  # e is linear on each piece: the maximum is at a breakpoint
        return SupError(best, best, arg)
    dp = [i * c for i, c in enumerate(p)][1:]
    if len(p) == 3:  # e' = s − p1 − 2 p2 x vanishes at one rational point
        for x0, x1, y0, y1 in pl._segments():
            s = (y1 - y0) / (x1 - x0)
            x = (s - dp[0]) / dp[1]
            if x0 < x < x1:
                consider(x, measure(y0 + s * (x - x0) - poly_eval(p, x)))
        return SupError(best, best, arg)

    # deg ≥ 3: branch and bound on the pieces whose proven upper bound beats the best value seen
    def slack() -> Fraction:
        return abs(best) * rel_tol

    heap: list[tuple[Fraction, Fraction, Fraction, Fraction, Fraction]] = []
    for x0, x1, y0, y1 in pl._segments():
        s = (y1 - y0) / (x1 - x0)
        b = y0 - s * x0
        up = _taylor_upper(p, s, b, x0, x1, sign)
        if up > best:
            heap.append((-up, x0, x1, s, b))
    heapq.heapify(heap)
    dropped = best  # the largest proven bound of a box dropped because it was within tolerance
    while heap and -heap[0][0] > best + slack():
        _, u, v, s, b = heapq.heappop(heap)
        m = (u + v) / 2
        consider(m, measure(s * m + b - poly_eval(p, m)))
        for a, c in ((u, m), (m, v)):
            up = _taylor_upper(p, s, b, a, c, sign)
            if up > best + slack():
                heapq.heappush(heap, (-up, a, c, s, b))
            else:
                dropped = max(dropped, up)
    upper = max(best, dropped, -heap[0][0] if heap else best)
    return SupError(best, upper, arg)
