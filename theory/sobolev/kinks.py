"""Targets that are smooth except across hyperplanes where an |affine| vanishes (docs/theory.md §5.4).

A target such as |x0 − 3/10|^{5/2} or |x0 − x1|^{5/2} is written here as f(x) = F(x, |u_1(x)|, …,
|u_k(x)|), each u_i(x) = a_i·x + b_i affine with rational coefficients (scaled so that its first
nonzero a_i is 1) and F an expression in (x, t) with no |·| left: the *lifted* form. On the piece of
sign pattern s ∈ {±1}^k, {x : s_i u_i(x) ≥ 0 for all i}, f equals the smooth f_s(x) = F(x, s·u(x)),
and its derivatives there follow from the chain rule on F,

    D_k f_s = [∂_{x_k} F + Σ_i s_i a_{i,k} ∂_{t_i} F](x, s·u(x)),

kept in (x, t) so that interval arithmetic can evaluate t_i on a box as s_i·u_i(box) ∩ [0, ∞): a
non-integer power of t_i near the kink is then a power of a non-negative interval. A box that meets a
piece only in a null set is skipped (the Sobolev norm is an essential supremum).

f ∈ W^{n,∞}([0,1]^d) when every D^α f with |α| ≤ n is bounded on every piece (certified by
``SobolevTarget.norm``) and every D^α f with |α| ≤ n − 1 is continuous across every kink:
:meth:`Lifted.jump` checks that the two one-sided formulas agree identically on the hyperplane (SymPy
simplification to 0 after eliminating one coordinate), and shows a jump at a rational point otherwise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp
from mpmath import iv

from theory.exact_numbers import to_mpf
from theory.intervals import NotSmooth

MAX_KINKS = 4  # in d ≥ 2: 2^k pieces, each with its own derivative formulas
MAX_KINKS_1D = 12  # in 1-D: k + 1 pieces

Box = tuple[tuple[Fraction, Fraction], ...]
Signs = tuple[int, ...]


@dataclass(frozen=True)
class Kink:
    """The hyperplane u(x) = a·x + b = 0 across which f may fail to be smooth; ``t`` stands for |u|."""

    normal: tuple[Fraction, ...]
    offset: Fraction
    u: sp.Expr
    t: sp.Symbol

    def range(self, box: Box) -> tuple[Fraction, Fraction]:
        """The exact min and max of u over ``box``."""
        lo = hi = self.offset
        for a, (x0, x1) in zip(self.normal, box, strict=True):
            lo, hi = lo + min(a * x0, a * x1), hi + max(a * x0, a * x1)
        return lo, hi

    def at(self, point) -> Fraction:
        return self.offset + sum((a * Fraction(x) for a, x in zip(self.normal, point, strict=True)), Fraction(0))

    def axis(self) -> int | None:
        """The coordinate k when the hyperplane is x_k = const, else None."""
        nonzero = [k for k, a in enumerate(self.normal) if a]
        return nonzero[0] if len(nonzero) == 1 else None

    def __str__(self) -> str:
        return f"{self.u} = 0"


@dataclass(frozen=True)
class Lifted:
    """f(x) = F(x, |u_1(x)|, …, |u_k(x)|): the lifted form of a target (module docstring)."""

    F: sp.Expr
    kinks: tuple[Kink, ...]
    symbols: tuple[sp.Symbol, ...]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def pieces(self) -> list[Signs]:
        """The sign patterns of f's pieces: in 1-D exactly those met in [0, 1], one between consecutive
        kinks; in d ≥ 2 every pattern (a superset: a piece that misses the cube only costs its checks)."""
        if len(self.symbols) > 1:
            return list(itertools.product((1, -1), repeat=len(self.kinks)))
        ends = sorted({Fraction(0), Fraction(1), *(z for z in self._zeros() if 0 < z < 1)})
        return list(dict.fromkeys(self.signs_at(((a + b) / 2,))[0] for a, b in itertools.pairwise(ends)))

    def _zeros(self) -> list[Fraction]:
        """1-D: where each kink sits."""
        return [-k.offset / k.normal[0] for k in self.kinks]

    def _sides(self, i: int) -> list[tuple[Signs, Signs]]:
        """The pairs of pieces that meet across kink i (sign +1, sign −1): in 1-D the two beside it, none
        if it lies outside [0, 1]; in d ≥ 2 every pair."""
        if len(self.symbols) == 1:
            z = self._zeros()[i]
            return [] if not 0 <= z <= 1 else [tuple(self.signs_at((z,))[:2])]  # type: ignore[list-item]
        pairs = itertools.product((1, -1), repeat=len(self.kinks) - 1)
        return [(o[:i] + (1,) + o[i:], o[:i] + (-1,) + o[i:]) for o in pairs]

    def derivative(self, alpha: tuple[int, ...], signs: Signs) -> sp.Expr:
        """D^α f_s in the lifted variables (x, t), by the chain rule (module docstring)."""
        key = (alpha, signs)
        if key not in self._cache:
            k = next((k for k, a in enumerate(alpha) if a), None)
            if k is None:
                self._cache[key] = self.F
            else:
                lower = alpha[:k] + (alpha[k] - 1,) + alpha[k + 1 :]
                g = self.derivative(lower, signs)
                out = sp.diff(g, self.symbols[k])
                for s, kink in zip(signs, self.kinks, strict=True):
                    if kink.normal[k]:
                        out += s * sp.Rational(kink.normal[k]) * sp.diff(g, kink.t)
                self._cache[key] = out
        return self._cache[key]

    def on_piece(self, expr: sp.Expr, signs: Signs) -> sp.Expr:
        """A lifted expression as a function of x on the piece of ``signs`` (t_i = s_i·u_i)."""
        return sp.sympify(expr).xreplace({kk.t: s * kk.u for s, kk in zip(signs, self.kinks, strict=True)})

    def formula(self, alpha: tuple[int, ...], signs: Signs) -> sp.Expr:
        """D^α f on the piece of ``signs``, in x."""
        return self.on_piece(self.derivative(alpha, signs), signs)

    def env(self, box: Box, signs: Signs) -> dict | None:
        """Intervals for x and t over box ∩ piece, or None when they meet in a null set."""
        out = {s: iv.mpf([to_mpf(a), to_mpf(b)]) for s, (a, b) in zip(self.symbols, box, strict=True)}
        for s, kink in zip(signs, self.kinks, strict=True):
            lo, hi = (s * v for v in kink.range(box))
            lo, hi = min(lo, hi), max(lo, hi)
            if hi <= 0:
                return None
            out[kink.t] = iv.mpf([to_mpf(max(lo, Fraction(0))), to_mpf(hi)])
        return out

    def signs_at(self, point) -> list[Signs]:
        """The sign patterns whose closed piece holds ``point`` (one per side where it sits on a kink)."""
        options = [(1, -1) if (v := kink.at(point)) == 0 else ((1,) if v > 0 else (-1,)) for kink in self.kinks]
        return list(itertools.product(*options))

    def jump(self, alpha: tuple[int, ...]) -> str:
        """Why D^α f is not certified continuous across some kink, or "" when it is (module docstring)."""
        for i, kink in enumerate(self.kinks):
            pivot = next(k for k, a in enumerate(kink.normal) if a)
            x = self.symbols[pivot]
            on_plane = {x: sp.solve(kink.u, x)[0]}
            for sides in self._sides(i):
                values = [self.derivative(alpha, s).xreplace({kink.t: sp.Integer(0)}) for s in sides]
                values = [self.on_piece(v, s).xreplace(on_plane) for v, s in zip(values, sides, strict=True)]
                diff = sp.simplify(values[0] - values[1])
                if diff == 0:
                    continue
                what = _name(alpha)
                if diff.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
                    return f"{what} has no finite one-sided limit on the kink {kink}"
                point = _plane_point(kink, self.symbols)
                gap = None if point is None else diff.xreplace(point)
                if point is not None and gap is not None and gap.is_number and gap.is_nonzero:
                    at = ", ".join(f"{s} = {v}" for s, v in point.items())
                    return f"{what} jumps by {sp.nsimplify(sp.Abs(gap))} across the kink {kink} (at {at})"
                return f"{what} is not certified continuous across the kink {kink} (difference {diff})"
        return ""

    def blows_up(self, alpha: tuple[int, ...], signs: Signs, kink: Kink) -> bool:
        """True when |D^α f_s| → ∞ approaching the kink from its piece along the normal (a SymPy limit)."""
        point = _plane_point(kink, self.symbols)
        if point is None:
            return False
        tau = sp.Symbol("tau", positive=True)
        s = signs[self.kinks.index(kink)]
        path = {x: point[x] + s * sp.Rational(a) * tau for x, a in zip(self.symbols, kink.normal, strict=True)}
        try:
            limit = sp.limit(self.formula(alpha, signs).xreplace(path), tau, 0, "+")
        except (NotImplementedError, ValueError):
            return False
        return limit in (sp.oo, -sp.oo, sp.zoo)


def lift(expr: sp.Expr, symbols: tuple[sp.Symbol, ...]) -> Lifted:
    """The lifted form of ``expr``: every |·| must have an affine argument with rational coefficients."""
    kinks: dict[tuple, Kink] = {}
    replace = {}
    for a in sorted(expr.atoms(sp.Abs), key=sp.default_sort_key):
        u = a.args[0]
        try:
            poly = sp.Poly(u, *symbols)
            affine = poly.total_degree() <= 1 and (poly.domain.is_QQ or poly.domain.is_ZZ)
        except sp.PolynomialError:
            affine = False
        if not affine:
            raise NotSmooth(f"|{u}| where the argument can vanish (kinks are supported for |affine| only)")
        normal = [Fraction(str(poly.coeff_monomial(s))) for s in symbols]
        offset = Fraction(str(poly.coeff_monomial(1)))
        scale = next(c for c in normal if c)
        key = (tuple(c / scale for c in normal), offset / scale)
        if key not in kinks:
            unit = sp.expand(u / sp.Rational(scale))
            kinks[key] = Kink(key[0], key[1], unit, sp.Symbol(f"t{len(kinks)}", nonnegative=True))
        replace[a] = sp.Rational(abs(scale)) * kinks[key].t
    most = MAX_KINKS_1D if len(symbols) == 1 else MAX_KINKS
    if len(kinks) > most:
        raise NotSmooth(f"{len(kinks)} kinks: at most {most} are supported in {len(symbols)}-D")
    return Lifted(expr.xreplace(replace), tuple(kinks.values()), tuple(symbols))


def _name(alpha: tuple[int, ...]) -> str:
    return "f" if not any(alpha) else f"D^{alpha} f"


def _plane_point(kink: Kink, symbols) -> dict | None:
    """A rational point of the kink inside the open cube, if the segment through its centre finds one."""
    pivot = next(k for k, a in enumerate(kink.normal) if a)
    rest = {s: sp.Rational(1, 2) for k, s in enumerate(symbols) if k != pivot}
    value = sp.solve(kink.u.xreplace(rest), symbols[pivot])[0]
    return {**rest, symbols[pivot]: value} if 0 < value < 1 else None
