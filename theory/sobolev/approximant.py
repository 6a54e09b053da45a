"""The Sobolev approximant f_N = Σ_m φ_m P_m of Theorem 3 and its certified error bound (docs/theory.md §5).

``Approximant(target, N)`` evaluates f_N in high precision at points (mpmath), in float64 on large grids
(numpy), and exactly on a grid cell (an ``AtomPoly``: on a cell every φ_m is a polynomial).

The bound (``certified_bound``), with ‖f‖_n := max_{|α|=n} sup |D^α f| ≤ ‖f‖ (certified upper bounds
from ``SobolevTarget.norm``). For x ∈ [0,1]^d, since φ_m ≥ 0 and Σ_m φ_m = 1 (``Partition.certify``),
    |f(x) − f_N(x)| = |Σ_m φ_m(x)(f(x) − P_m(x))| ≤ max_{m: φ_m(x) ≠ 0} |f(x) − P_m(x)|.
Where φ_m(x) ≠ 0, |x_k − m_k/N| ≤ ρ/N (ρ = 2/3), and Taylor's theorem with integral remainder along
the segment from m/N to x (inside the convex cube) gives
    |f(x) − P_m(x)| ≤ Σ_{|α|=n} ‖D^α f‖∞ |h^α|/α! ≤ ‖f‖_n (Σ_k |h_k|)^n/n! ≤ ‖f‖_n (dρ)^n/n! · N^{−n}.
So ‖f − f_N‖∞ ≤ C_cert N^{−n} ‖f‖_n with C_cert = (dρ)^n/n!, and C_cert ≤ 2^d d^n/n! (the paper's
constant, which counts the 2^d active terms instead of using the convex combination) because
ρ^n ≤ 1 ≤ 2^d. Both are reported; the proof needs only f ∈ C^n, which ``SobolevTarget`` certifies.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from fractions import Fraction

import mpmath
import numpy as np

from theory.exact_numbers import to_mpf
from theory.polynomial import AtomPoly, Poly
from theory.sobolev.partition import Box, Partition
from theory.sobolev.target import SobolevTarget
from theory.sobolev.taylor import TaylorTable


@dataclass(frozen=True)
class Bound:
    """Theorem 3's bound on sup|f − f_N|, certified and as the paper states it, both exact (§5):
    ``bound`` = (dρ)^n/n! · N^-n · ‖f‖_n and ``bound_paper`` = 2^d d^n/n! · N^-n · ‖f‖."""

    partition_holds: bool
    norm_upper: Fraction
    order_n_norm_upper: Fraction
    constant_certified: Fraction
    constant_paper: Fraction
    bound: Fraction
    bound_paper: Fraction

    @property
    def constant_below_paper(self) -> bool:
        return self.constant_certified <= self.constant_paper


class Approximant:
    """f_N = Σ_{m ∈ {0..N}^d} φ_m P_m for one target and one grid size N."""

    def __init__(
        self, target: SobolevTarget, N: int, partition: Partition | None = None, table: TaylorTable | None = None
    ):
        self.target, self.N, self.d, self.n = target, N, target.d, target.n
        self.partition = partition or Partition(N, target.d)
        self.table = table or TaylorTable(target, N)
        self._pieces: dict = {}  # (m_k, piece, k) -> ψ on that piece, and (m, α, …) -> basis: cells share them

    # -- the certified bound
    def certified_bound(self) -> Bound:
        cert = self.partition.certify()
        d, n, N = self.d, self.n, self.N
        rho = cert.support_radius_times_N
        if rho is None:
            raise ValueError("the partition's ψ is not compactly supported: Theorem 3's bound does not apply")
        c_cert = (d * rho) ** n / math.factorial(n)
        c_paper = Fraction(2**d * d**n, math.factorial(n))
        norm = self.target.norm
        return Bound(
            partition_holds=cert.holds,
            norm_upper=norm.upper,
            order_n_norm_upper=norm.order_n_upper,
            constant_certified=c_cert,
            constant_paper=c_paper,
            bound=c_cert * Fraction(1, N**n) * norm.order_n_upper,
            bound_paper=c_paper * Fraction(1, N**n) * norm.upper,
        )

    # -- evaluation
    def value_mp(self, x: tuple[Fraction, ...], dps: int = 30) -> mpmath.mpf:
        """f_N(x) in ``dps``-digit arithmetic (φ_m exact, Taylor coefficients to dps digits)."""
        with mpmath.workdps(dps):
            total = mpmath.mpf(0)
            for m in self.partition.active(x):
                w = self.partition.phi(m, x)
                p = mpmath.mpf(0)
                for a in self.table.alphas:
                    term = self.table.numeric(m, a, dps)
                    for xk, mk, ak in zip(x, m, a, strict=True):
                        if ak:
                            term *= (to_mpf(Fraction(xk)) - mpmath.mpf(mk) / self.N) ** ak
                    p += term
                total += to_mpf(w) * p
            return +total

    def sup_error_mp(self, points: list[tuple[Fraction, ...]], dps: int = 30) -> float:
        """max over ``points`` of |f − f_N| in ``dps``-digit arithmetic: a lower estimate of the sup."""
        f = self.target.numeric()
        worst = mpmath.mpf(0)
        with mpmath.workdps(dps):
            for x in points:
                xm = [to_mpf(q) for q in x]
                worst = max(worst, abs(f(*xm) - self.value_mp(x, dps)))
        return float(worst)

    def coefficient_array(self, dps: int = 20) -> np.ndarray:
        """c_{m,α} in float64, shape (N+1,)*d + (#α,)."""
        out = np.zeros((self.N + 1,) * self.d + (len(self.table.alphas),))
        for m in self.partition.nodes():
            for i, a in enumerate(self.table.alphas):
                out[m + (i,)] = float(self.table.numeric(m, a, dps))
        return out

    def values_float(self, X: np.ndarray, coefficients: np.ndarray | None = None) -> np.ndarray:
        """f_N at the rows of X (shape (P, d)) in float64, vectorised."""
        c = self.coefficient_array() if coefficients is None else coefficients
        X = np.asarray(X, dtype=np.float64)
        psi = self.partition.psi
        s = self.partition.scale
        base = np.floor(X * self.N).astype(np.int64)
        total = np.zeros(len(X))
        reach = int(max(abs(float(b)) for b in psi.breaks) / s) + 1
        for offs in itertools.product(range(-reach, reach + 1), repeat=self.d):
            m = base + np.array(offs)
            inside = np.all((m >= 0) & (m <= self.N), axis=1)
            mc = np.clip(m, 0, self.N)
            h = X - mc / self.N
            t = s * self.N * h
            w = np.ones(len(X))
            for k in range(self.d):
                w *= sum(
                    float(wi) * np.maximum(t[:, k] - float(bi), 0)
                    for wi, bi in zip(psi.weights, psi.breaks, strict=True)
                )
            p = np.zeros(len(X))
            for i, a in enumerate(self.table.alphas):
                p += c[tuple(mc.T) + (i,)] * np.prod(h ** np.array(a), axis=1)
            total += np.where(inside, w * p, 0.0)
        return total

    # -- exact, on a cell
    def on_cell(self, cell: Box) -> AtomPoly:
        """f_N restricted to a cell between breakpoints, as an exact AtomPoly."""
        out = AtomPoly(self.d)
        for m in self.partition.active_on_cell(cell):
            phi = Poly.constant(self.d, 1)
            for k, (mk, piece) in enumerate(zip(m, cell, strict=True)):
                key = (mk, piece, k)
                if key not in self._pieces:
                    self._pieces[key] = self.partition.psi_on_piece(mk, *piece, k)
                phi = phi * self._pieces[key]
            for a in self.table.alphas:
                basis_key = (m, a)
                if basis_key not in self._pieces:
                    self._pieces[basis_key] = self.table.polynomial_basis(m, a)
                out.add(self.table.exact(m, a), phi * self._pieces[basis_key])
        return out
