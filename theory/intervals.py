"""Certified interval enclosures of SymPy expressions (docs/theory.md §2), with ``mpmath.iv``.

:func:`interval_eval` encloses a SymPy expression over a box with outward rounding, one operation at
a time with the grammar's primitives (grammar/intervals.py), so a target string and its derivatives
are enclosed by the same rules. It raises :class:`NotSmooth` wherever an operation may leave its
domain on the box. With ``continuous=False`` it also refuses |u| where u can vanish, so a finite
enclosure of every D^α f certifies f ∈ C^n (Theorem 3's use); with ``continuous=True`` |u| is
allowed, and a finite enclosure certifies f continuous and bounded. Certifying a target string
finite on the closed cube is :func:`grammar.intervals.certify_finite`.
"""

from __future__ import annotations

from fractions import Fraction

import sympy as sp
from mpmath import iv

from grammar import intervals as primitives
from grammar.intervals import NotSmooth
from theory.exact_numbers import to_mpf

__all__ = ["NotSmooth", "box_env", "interval_eval"]

#: SymPy's functions by the grammar's names
_NAMES = {
    sp.sin: "sin",
    sp.cos: "cos",
    sp.tan: "tan",
    sp.exp: "exp",
    sp.log: "log",
    sp.sinh: "sinh",
    sp.cosh: "cosh",
    sp.tanh: "tanh",
    sp.atan: "atan",
}


def interval_eval(expr: sp.Expr, box: dict[sp.Symbol, iv.mpf], *, continuous: bool = False) -> iv.mpf:
    """An enclosure of ``expr`` over ``box``; raises NotSmooth where an operation leaves its domain."""

    def ev(e: sp.Expr) -> iv.mpf:
        return interval_eval(e, box, continuous=continuous)

    if expr.is_Symbol:
        return box[expr]
    if expr.is_Rational:
        return primitives.number(Fraction(int(expr.p), int(expr.q)))
    if expr is sp.pi:
        return iv.pi
    if expr is sp.E:
        return iv.e
    if expr.is_Add:
        out = iv.mpf(0)
        for a in expr.args:
            out = out + ev(a)
        return out
    if expr.is_Mul:
        out = iv.mpf(1)
        for a in expr.args:
            out = out * ev(a)
        return out
    if expr.is_Pow:
        base, ex = expr.args
        integer = int(ex) if ex.is_Integer else None
        return primitives.power(ev(base), ev(ex), integer, bool(ex.is_number), str(base), str(expr))
    if isinstance(expr, sp.Abs):
        return primitives.absolute(ev(expr.args[0]), continuous, str(expr.args[0]))
    if isinstance(expr, sp.sign):
        u = ev(expr.args[0])
        if u.a > 0 or u.b < 0:
            return iv.mpf(1 if u.a > 0 else -1)
        raise NotSmooth(f"sign({expr.args[0]}) where the argument can vanish")
    if expr.func in _NAMES:
        return primitives.function(_NAMES[expr.func], ev(expr.args[0]), str(expr.args[0]))
    raise NotSmooth(f"cannot bound {expr.func.__name__} ({expr}) by interval arithmetic")


def box_env(symbols, box) -> dict[sp.Symbol, iv.mpf]:
    """Symbols -> intervals for a box of exact (dyadic) ends."""
    return {s: iv.mpf([to_mpf(a), to_mpf(b)]) for s, (a, b) in zip(symbols, box, strict=True)}
