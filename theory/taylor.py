"""Local Taylor polynomials of Theorem 3 (THEORY.md §5, step 2), exact but structured.

P_m(x) = Σ_{|α|<n} c_{m,α} (x − m/N)^α with c_{m,α} = D^α f(m/N) / α!.

There are (N+1)^d · C(n−1+d, d) coefficients, so they are not built as one big SymPy tree. A
``TaylorTable`` creates each c_{m,α} on demand and caches it:
- rational when D^α f is a polynomial with rational coefficients (exact ``Fraction``);
- otherwise the SymPy expression D^α f(m/N)/α! left *unevaluated* (e.g. ``pi*cos(pi*(3/64))``): exact,
  cheap to build, and structurally identical wherever it is used, so the network's output weights and
  f_N share the same objects. A value that is numerically 0 is checked exactly and stored as 0.
``numeric`` gives the same coefficients in high precision (mpmath) for export and error measurement.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import cached_property

import mpmath
import sympy as sp

from theory.polynomial import Poly
from theory.sobolev_target import Target, multi_indices

Exact = Fraction | sp.Expr


def factorial(alpha: tuple[int, ...]) -> int:
    return math.prod(math.factorial(a) for a in alpha)


class TaylorTable:
    """c_{m,α} = D^α f(m/N)/α! for m ∈ {0..N}^d, |α| < n."""

    def __init__(self, target: Target, N: int):
        self.target, self.N, self.d, self.n = target, N, target.d, target.n
        self.alphas: list[tuple[int, ...]] = multi_indices(self.d, self.n - 1)
        self._exact: dict = {}
        self._numeric: dict = {}

    @cached_property
    def _forms(self) -> dict:
        """α -> (derivative expression, rational polynomial or None, mpmath function)."""
        out = {}
        syms = self.target.symbols
        for a in self.alphas:
            e = self.target.derivative(a)
            try:
                poly = sp.Poly(e, *syms)
                rational = poly.domain.is_QQ or poly.domain.is_ZZ
            except sp.PolynomialError:
                poly, rational = None, False
            out[a] = (e, poly if rational else None, sp.lambdify(syms, e, modules="mpmath"))
        return out

    def node(self, m: tuple[int, ...]) -> tuple[Fraction, ...]:
        return tuple(Fraction(mk, self.N) for mk in m)

    def exact(self, m: tuple[int, ...], alpha: tuple[int, ...]) -> Exact:
        key = (m, alpha)
        if key not in self._exact:
            e, poly, _ = self._forms[alpha]
            x = self.node(m)
            if poly is not None:
                v = Fraction(1, factorial(alpha)) * _eval_rational(poly, x)
            elif (
                abs(self.numeric(m, alpha, dps=50)) < mpmath.mpf(10) ** -40
                and sp.simplify(e.subs(dict(zip(self.target.symbols, x, strict=True)))) == 0
            ):
                v = Fraction(0)
            else:
                with sp.evaluate(False):
                    v = e.xreplace(
                        {
                            s: sp.Rational(q.numerator, q.denominator)
                            for s, q in zip(self.target.symbols, x, strict=True)
                        }
                    )
                    v = v / factorial(alpha) if factorial(alpha) != 1 else v
            self._exact[key] = v
        return self._exact[key]

    def numeric(self, m: tuple[int, ...], alpha: tuple[int, ...], dps: int = 30) -> mpmath.mpf:
        key = (m, alpha, dps)
        if key not in self._numeric:
            with mpmath.workdps(dps):
                fn = self._forms[alpha][2]
                v = fn(*[mpmath.mpf(mk) / self.N for mk in m]) / factorial(alpha)
                self._numeric[key] = +mpmath.mpf(v)
        return self._numeric[key]

    def polynomial_basis(self, m: tuple[int, ...], alpha: tuple[int, ...]) -> Poly:
        """(x − m/N)^α as a rational Poly."""
        out = Poly.constant(self.d, 1)
        for k, (mk, ak) in enumerate(zip(m, alpha, strict=True)):
            if ak:
                out = out * Poly.affine([int(i == k) for i in range(self.d)], Fraction(-mk, self.N)) ** ak
        return out


def _eval_rational(poly: sp.Poly, x: tuple[Fraction, ...]) -> Fraction:
    total = Fraction(0)
    for mono, c in poly.terms():
        v = Fraction(int(c.p), int(c.q))
        for xi, e in zip(x, mono, strict=True):
            v *= xi**e
        total += v
    return total
