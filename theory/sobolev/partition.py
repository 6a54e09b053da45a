"""The trapezoid partition of unity of Theorem 3 (docs/theory.md §5, step 1), exact.

ψ(t) = ReLU(t+2) − ReLU(t+1) − ReLU(t−1) + ReLU(t−2): 1 on [−1,1], 0 outside (−2,2), affine between.
φ_m(x) = Π_k ψ(3N(x_k − m_k/N)) for m ∈ {0..N}^d.

A ``Trapezoid`` is any Σ_i w_i ReLU(t − b_i) (so a test can pass a wrong one); ``Partition`` places it on
the grid. ``Partition.certify()`` proves, exactly, the three facts the error bound of §5 uses:
- Σ_m φ_m ≡ 1 on [0,1]^d, and every φ_m ≥ 0;
- at most 2^d of the φ_m are nonzero at any x;
- φ_m(x) ≠ 0 only where |x_k − m_k/N| ≤ ρ/N for every k (ρ = 2/3 for the standard ψ).
Each 1-D map x ↦ ψ(3N(x − m/N)) is piecewise affine with breakpoints at m/N + b_i/(3N), so checking
values at all breakpoints (and at 0, 1) proves the identities on the whole interval, and checking the
midpoints between consecutive breakpoints counts the nonzero terms on each open piece. φ_m is a
product over coordinates, so the d-dimensional facts follow from the 1-D ones: Σ_m φ_m = Π_k Σ_{m_k} ψ,
and the number of nonzero φ_m at x is the product of the 1-D counts.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

from theory.polynomial import Poly

Box = tuple[tuple[Fraction, Fraction], ...]


@dataclass(frozen=True)
class PartitionCheck:
    """What ``Partition.certify`` proved, exactly: Σ_m φ_m ≡ 1, φ_m ≥ 0, at most 2 nonzero ψ per axis,
    and |x_k − m_k/N| ≤ ρ/N on the support of φ_m with ρ = ``support_radius_times_N`` (None: ψ is
    not compactly supported, and Theorem 3's bound does not apply)."""

    sum_is_one: bool
    nonnegative: bool
    max_active_1d: int
    d: int
    support_radius_times_N: Fraction | None

    @property
    def max_active(self) -> int:
        return self.max_active_1d**self.d

    @property
    def holds(self) -> bool:
        return (
            self.sum_is_one and self.nonnegative and self.max_active_1d <= 2 and self.support_radius_times_N is not None
        )


@dataclass(frozen=True)
class Trapezoid:
    """ψ(t) = Σ_i w_i ReLU(t − b_i); the default is docs/theory.md §5's trapezoid."""

    weights: tuple[Fraction, ...] = (Fraction(1), Fraction(-1), Fraction(-1), Fraction(1))
    breaks: tuple[Fraction, ...] = (Fraction(-2), Fraction(-1), Fraction(1), Fraction(2))

    def __call__(self, t: Fraction) -> Fraction:
        return sum((w * max(t - b, Fraction(0)) for w, b in zip(self.weights, self.breaks, strict=True)), Fraction(0))

    def support_radius(self) -> Fraction:
        """ρ' with ψ = 0 outside [−ρ', ρ']: ψ vanishes left of its first breakpoint, and right of the last
        one if its slope there (Σ w_i) and its value there are 0. Raises if ψ is not compactly supported."""
        if sum(self.weights) != 0 or self(max(self.breaks)) != 0:
            raise ValueError("ψ is not compactly supported within its breakpoints")
        return max(abs(b) for b in self.breaks)


STANDARD_PSI = Trapezoid()


@dataclass(frozen=True)
class Partition:
    """φ_m(x) = Π_k ψ(scale·N·x_k − scale·m_k), m ∈ {0..N}^d (scale = 3 in docs/theory.md §5)."""

    N: int
    d: int
    psi: Trapezoid = STANDARD_PSI
    scale: int = 3

    def __post_init__(self):
        if not isinstance(self.N, int) or self.N < 1:
            raise ValueError(f"grid size N must be an integer >= 1, got {self.N!r}")

    def nodes(self) -> Iterator[tuple[int, ...]]:
        return itertools.product(range(self.N + 1), repeat=self.d)

    def psi_1d(self, m: int, x: Fraction) -> Fraction:
        return self.psi(self.scale * self.N * Fraction(x) - self.scale * m)

    def phi(self, m: Sequence[int], x: Sequence[Fraction]) -> Fraction:
        out = Fraction(1)
        for mk, xk in zip(m, x, strict=True):
            out *= self.psi_1d(mk, xk)
            if not out:
                break
        return out

    def active(self, x: Sequence[Fraction]) -> list[tuple[int, ...]]:
        """The m with φ_m(x) ≠ 0 (searched near x; certify() proves nothing further away is active)."""
        reach = int(max(abs(b) for b in self.psi.breaks) / self.scale) + 1
        per_axis = []
        for xk in x:
            c = int(Fraction(xk) * self.N)
            per_axis.append(
                [m for m in range(max(0, c - reach), min(self.N, c + reach) + 1) if self.psi_1d(m, xk) != 0]
            )
        return list(itertools.product(*per_axis))

    # -- cells on which every φ_m is a polynomial
    @property
    def cell_width(self) -> Fraction:
        return Fraction(1, self.scale * self.N)

    def breakpoints_1d(self) -> list[Fraction]:
        pts = {Fraction(0), Fraction(1)}
        for m in range(self.N + 1):
            for b in self.psi.breaks:
                x = (b + self.scale * m) / Fraction(self.scale * self.N)
                if 0 < x < 1:
                    pts.add(x)
        return sorted(pts)

    def cells(self) -> Iterator[Box]:
        """All boxes of the grid of breakpoints: on each, every φ_m is a polynomial."""
        pts = self.breakpoints_1d()
        pieces = list(zip(pts[:-1], pts[1:], strict=True))
        return itertools.product(pieces, repeat=self.d)

    def psi_on_piece(self, m: int, a: Fraction, b: Fraction, k: int) -> Poly:
        """x_k ↦ ψ(scale·N·(x_k − m/N)) on [a, b] (a piece between breakpoints) as an affine Poly."""
        va, vb = self.psi_1d(m, a), self.psi_1d(m, b)
        slope = (vb - va) / (b - a)
        coeffs = [slope if i == k else 0 for i in range(self.d)]
        return Poly.affine(coeffs, va - slope * a)

    def phi_on_cell(self, m: Sequence[int], cell: Box) -> Poly:
        out = Poly.constant(self.d, 1)
        for k, (mk, (a, b)) in enumerate(zip(m, cell, strict=True)):
            out = out * self.psi_on_piece(mk, a, b, k)
            if out.is_zero():
                break
        return out

    def active_on_cell(self, cell: Box) -> list[tuple[int, ...]]:
        """The m whose φ_m is not identically 0 on the cell (ψ ≥ 0 and affine there: test the midpoint)."""
        return self.active([(a + b) / 2 for a, b in cell])

    # -- the certificate
    def certify(self) -> PartitionCheck:
        """Exact proof of Σφ_m ≡ 1, φ_m ≥ 0, ≤ 2^d nonzero, and the support radius (see module docstring).

        Once ψ is proved to vanish outside [−ρ', ρ'], the terms with |3N·x − 3m| > ρ' are exactly 0, so each
        point sums only the m near it: O(N) work, not O(N²)."""
        try:
            radius = self.psi.support_radius()
        except ValueError:  # ψ does not vanish outside its breakpoints: no support bound, no theorem
            radius = None
        pts = self.breakpoints_1d()
        mids = [(a + b) / 2 for a, b in zip(pts[:-1], pts[1:], strict=True)]

        def terms(x: Fraction) -> list[Fraction]:
            if radius is None:
                ms = range(self.N + 1)
            else:
                reach = radius / self.scale
                ms = range(max(0, _ceil(self.N * x - reach)), min(self.N, _floor(self.N * x + reach)) + 1)
            return [self.psi_1d(m, x) for m in ms]

        at_points = [terms(x) for x in pts]
        sums_one = all(sum(t) == 1 for t in at_points)
        nonnegative = all(v >= 0 for t in at_points for v in t)
        max_active_1d = max(sum(1 for v in terms(x) if v != 0) for x in pts + mids)
        rho = None if radius is None else radius / self.scale
        return PartitionCheck(sums_one, nonnegative, max_active_1d, self.d, rho)


def _floor(q: Fraction) -> int:
    return q.numerator // q.denominator


def _ceil(q: Fraction) -> int:
    return -((-q.numerator) // q.denominator)
