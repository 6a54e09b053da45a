"""Local Taylor polynomials of Theorem 3 (docs/theory.md §5, step 2), exact but structured.

P_m(x) = Σ_{|α|<n} c_{m,α} (x − m/N)^α with c_{m,α} = D^α f(m/N) / α!.

There are (N+1)^d · C(n−1+d, d) coefficients, so they are not built as one big SymPy tree. A
``TaylorTable`` creates each c_{m,α} on demand and caches it:
- rational when D^α f is a polynomial with rational coefficients (exact ``Fraction``);
- otherwise one ``TaylorValue`` node, the exact number D^α f(m/N)/α! kept unexpanded: cheap to build,
  and structurally identical wherever it is used, so the network's output weights and f_N share the
  same objects. A value that is numerically 0 is proven 0 by SymPy and stored as 0.
``numeric`` gives the same coefficients in high precision (mpmath) for export and error measurement.
"""

from __future__ import annotations

import math
from fractions import Fraction

import mpmath
import sympy as sp

from theory.exact_numbers import Exact, to_mpf
from theory.polynomial import Poly, is_zero_constant
from theory.sobolev.target import SobolevTarget, multi_indices


def factorial(alpha: tuple[int, ...]) -> int:
    return math.prod(math.factorial(a) for a in alpha)


class TaylorTable:
    """c_{m,α} = D^α f(m/N)/α! for m ∈ {0..N}^d, |α| < n."""

    def __init__(self, target: SobolevTarget, N: int):
        self.target, self.N, self.d, self.n = target, N, target.d, target.n
        self.alphas: list[tuple[int, ...]] = multi_indices(self.d, self.n - 1)
        self._exact: dict = {}
        self._numeric: dict = {}
        self._forms: dict = {}
        self.one_sided = 0  # coefficients at nodes on a kink, checked equal from every side (§5.4)

    def _form(self, alpha: tuple[int, ...], signs: tuple[int, ...]) -> tuple:
        """(D^α f on the piece of ``signs``, rational polynomial or None, mpmath function), cached."""
        key = (alpha, signs)
        if key not in self._forms:
            syms = self.target.symbols
            e = self.target.derivative(alpha, signs)
            try:
                poly = sp.Poly(e, *syms)
                rational = poly.domain.is_QQ or poly.domain.is_ZZ
            except sp.PolynomialError:
                poly, rational = None, False
            lifted = self.target.lifted  # numeric values from (x, t): t = s·u(m/N) is exact, 0 on a kink
            ts = tuple(k.t for k in lifted.kinks)
            fn = sp.lambdify(syms + ts, lifted.derivative(alpha, signs), modules="mpmath")
            self._forms[key] = (e, poly if rational else None, fn)
        return self._forms[key]

    def node(self, m: tuple[int, ...]) -> tuple[Fraction, ...]:
        return tuple(Fraction(mk, self.N) for mk in m)

    def exact(self, m: tuple[int, ...], alpha: tuple[int, ...]) -> Exact:
        """c_{m,α}; at a node on a kink, the common limit of every side, checked equal (|α| < n, §5.4)."""
        key = (m, alpha)
        if key not in self._exact:
            sides = self.target.signs_at(self.node(m))
            v = self._exact_on(m, alpha, sides[0])
            for other in sides[1:]:
                w = self._exact_on(m, alpha, other)
                if not _same(v, w):
                    raise ValueError(f"D^{alpha} f at {self.node(m)} differs between the sides {sides[0]} and {other}")
                self.one_sided += 1
            self._exact[key] = v
        return self._exact[key]

    def _exact_on(self, m: tuple[int, ...], alpha: tuple[int, ...], signs: tuple[int, ...]) -> Exact:
        e, poly, _ = self._form(alpha, signs)
        x = self.node(m)
        if poly is not None:
            return Fraction(1, factorial(alpha)) * _eval_rational(poly, x)
        v = TaylorValue(e, sp.Tuple(*self.target.symbols), sp.Tuple(*map(_rational, x)), factorial(alpha))
        value = self.numeric(m, alpha, dps=50, signs=signs)
        if abs(value) < mpmath.mpf(10) ** -40 and is_zero_constant(v.doit()):
            return Fraction(0)
        _NUMERIC[v] = value
        return v

    def numeric(self, m: tuple[int, ...], alpha: tuple[int, ...], dps: int = 30, signs=None) -> mpmath.mpf:
        signs = self.target.signs_at(self.node(m))[0] if signs is None else signs
        key = (m, alpha, dps, signs)
        if key not in self._numeric:
            with mpmath.workdps(dps):
                fn, x = self._form(alpha, signs)[2], self.node(m)
                ts = [s * k.at(x) for s, k in zip(signs, self.target.kinks, strict=True)]
                v = fn(*[to_mpf(q) for q in (*x, *ts)]) / factorial(alpha)
                self._numeric[key] = +mpmath.mpf(v)
        return self._numeric[key]

    def polynomial_basis(self, m: tuple[int, ...], alpha: tuple[int, ...]) -> Poly:
        """(x − m/N)^α as a rational Poly."""
        out = Poly.constant(self.d, 1)
        for k, (mk, ak) in enumerate(zip(m, alpha, strict=True)):
            if ak:
                out = out * Poly.affine([int(i == k) for i in range(self.d)], Fraction(-mk, self.N)) ** ak
        return out


def _same(a: Exact, b: Exact) -> bool:
    """Two exact coefficients are the same number (SymPy proves a difference of closed forms zero)."""
    if isinstance(a, int | Fraction) and isinstance(b, int | Fraction):
        return a == b
    return is_zero_constant(_closed(a) - _closed(b))


def _closed(c: Exact) -> sp.Expr:
    return _rational(Fraction(c)) if isinstance(c, int | Fraction) else c.doit()


def _rational(q: Fraction) -> sp.Rational:
    return sp.Rational(q.numerator, q.denominator)


_NUMERIC: dict = {}  # TaylorValue -> its value to 50 digits (mpmath), filled by TaylorTable.exact


class TaylorValue(sp.Function):
    """The exact real number D^α f(m/N)/α!, kept as one SymPy node: TaylorValue(D^α f, x, m/N, α!).

    It never evaluates by itself (building sin(3π/1024) eagerly costs milliseconds each, and a 2-D
    network has 10^4 such weights); ``.doit()`` gives the elementary closed form and ``evalf`` any
    precision. Equal coefficients are the same node, so cell checks compare them structurally.
    """

    is_canonical_atom = True  # one node per exact value: no numeric merging needed (theory.polynomial)

    @classmethod
    def eval(cls, expr, symbols, point, fact):
        return None

    def _eval_is_real(self):
        return True

    def _eval_is_finite(self):
        return True

    def doit(self, **hints):
        expr, symbols, point, fact = self.args
        return expr.xreplace(dict(zip(symbols, point, strict=True))) / fact

    def _eval_evalf(self, prec):
        dps = mpmath.libmp.prec_to_dps(prec)
        if self in _NUMERIC and dps <= 45:  # the table computed it to 50 digits already
            return sp.Float(_NUMERIC[self], dps)
        return self.doit().evalf(dps + 5)

    def _sympystr(self, printer):
        expr, _, point, fact = self.args
        where = ", ".join(printer.doprint(p) for p in point)
        return f"[{printer.doprint(expr)}]({where})" + (f"/{fact}" if fact != 1 else "")


def _eval_rational(poly: sp.Poly, x: tuple[Fraction, ...]) -> Fraction:
    total = Fraction(0)
    for mono, c in poly.terms():
        v = Fraction(int(c.p), int(c.q))
        for xi, e in zip(x, mono, strict=True):
            v *= xi**e
        total += v
    return total
