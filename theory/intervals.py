"""Certified interval enclosures of target expressions (docs/theory.md §2), with ``mpmath.iv``.

:func:`interval_eval` encloses an expression of :mod:`theory.expression` over a box with outward
rounding. It raises :class:`NotSmooth` wherever an operation may leave its domain on the box: a
division by an interval containing 0, a log of a non-positive number, a non-integer power of a
negative number, a pole of tan, an exp beyond any float. With ``continuous=False`` it also refuses
|u| where u can vanish, so a finite enclosure of every D^α f certifies f ∈ C^n (Theorem 3's use);
with ``continuous=True`` |u| is allowed, and a finite enclosure certifies f continuous and bounded.

:func:`certify_finite` runs that check by bisection over the closed cube [0,1]^d and names a point
near which it fails: the lab's guard against targets such as ``1/x0`` that are singular on the
boundary, where no grid point would see it.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import sympy as sp
from mpmath import iv

from theory.exact_numbers import to_mpf
from theory.expression import ExpressionError

EXP_LIMIT = 10_000  # exp(u) for u beyond this is no number any float can hold: refuse, don't compute


class NotSmooth(ValueError):
    """Interval evaluation left an operation's domain (or its smoothness) on some box."""


def _iv(value) -> iv.mpf:
    return iv.mpf(value)


def _exp(u: iv.mpf, what: sp.Expr) -> iv.mpf:
    if u.b > EXP_LIMIT:
        raise NotSmooth(f"exp of {what} can exceed {EXP_LIMIT}")
    return iv.exp(u)


def interval_eval(expr: sp.Expr, box: dict[sp.Symbol, iv.mpf], *, continuous: bool = False) -> iv.mpf:
    """An enclosure of ``expr`` over ``box``; raises NotSmooth where an operation leaves its domain."""

    def ev(e: sp.Expr) -> iv.mpf:
        return interval_eval(e, box, continuous=continuous)

    if expr.is_Symbol:
        return box[expr]
    if expr.is_Rational:
        return _iv(expr.p) / expr.q
    if expr is sp.pi:
        return iv.pi
    if expr is sp.E:
        return iv.e
    if expr.is_Add:
        out = _iv(0)
        for a in expr.args:
            out = out + ev(a)
        return out
    if expr.is_Mul:
        out = _iv(1)
        for a in expr.args:
            out = out * ev(a)
        return out
    if expr.is_Pow:
        return _power(expr, ev)
    if isinstance(expr, sp.Abs | sp.sign):
        u = ev(expr.args[0])
        if u.a > 0 or u.b < 0:
            s = 1 if u.a > 0 else -1
            return u * s if isinstance(expr, sp.Abs) else _iv(s)
        if continuous and isinstance(expr, sp.Abs):
            return iv.mpf([0, max(-u.a, u.b)])
        raise NotSmooth(f"{expr.func.__name__}({expr.args[0]}) where the argument can vanish")
    if isinstance(expr, sp.Function) and len(expr.args) == 1:
        return _function(expr, ev(expr.args[0]))
    raise NotSmooth(f"cannot bound {expr.func.__name__} ({expr}) by interval arithmetic")


def _power(expr: sp.Expr, ev) -> iv.mpf:
    base, ex = expr.args
    u = ev(base)
    if ex.is_Integer:
        k = int(ex)
        if k < 0:
            if u.a <= 0 <= u.b:
                raise NotSmooth(f"division by {base}, which can vanish")
            return 1 / u ** (-k)
        return u**k
    e = ev(ex)
    if not ex.is_number:  # u^v = exp(v log u) needs u > 0
        if u.a <= 0:
            raise NotSmooth(f"variable exponent on {base}, which can be <= 0")
        return _exp(e * iv.log(u), expr)
    if u.a < 0:
        raise NotSmooth(f"non-integer power of {base}, which can be negative")
    if u.a == 0 and e.a <= 0:
        raise NotSmooth(f"negative non-integer power of {base}, which can vanish")
    if u.a == 0:
        # u^e for e > 0 is continuous on [0, ∞) and monotone, so the enclosure is [0, hi^e]
        hi = iv.exp(e * iv.log(_iv(u.b))) if u.b > 0 else _iv(0)
        return iv.mpf([0, hi.b])
    return _exp(e * iv.log(u), expr)


def _function(expr: sp.Expr, u: iv.mpf) -> iv.mpf:
    arg = expr.args[0]
    match expr.func:
        case sp.log:
            if u.a <= 0:
                raise NotSmooth(f"log({arg}) where the argument can be <= 0")
            return iv.log(u)
        case sp.tan:
            c = iv.cos(u)
            if c.a <= 0 <= c.b:
                raise NotSmooth(f"tan({arg}) near a pole")
            return iv.sin(u) / c
        case sp.exp:
            return _exp(u, arg)
        case sp.sinh:
            return (_exp(u, arg) - _exp(-u, arg)) / 2
        case sp.cosh:
            return (_exp(u, arg) + _exp(-u, arg)) / 2
        case sp.atan:
            # increasing, |atan| < 2: end values at 20 extra bits, widened by 2^-prec (mpmath.iv has no atan)
            with mpmath.workprec(iv.prec + 20):
                lo, hi = mpmath.atan(mpmath.mpf(u.a)), mpmath.atan(mpmath.mpf(u.b))
            eps = mpmath.mpf(2) ** -iv.prec
            return iv.mpf([lo - eps, hi + eps])
        case sp.tanh:
            # increasing, with values in (-1, 1): enclose by the ends (and by ±1 beyond any float)
            lo = _iv(-1) if u.a < -EXP_LIMIT else 1 - 2 / (iv.exp(2 * _iv(u.a)) + 1)
            hi = _iv(1) if u.b > EXP_LIMIT else 1 - 2 / (iv.exp(2 * _iv(u.b)) + 1)
            return iv.mpf([lo.a, hi.b])
        case sp.sin:
            return iv.sin(u)
        case sp.cos:
            return iv.cos(u)
    raise NotSmooth(f"cannot bound {expr.func.__name__} ({expr}) by interval arithmetic")


def box_env(symbols, box) -> dict[sp.Symbol, iv.mpf]:
    """Symbols -> intervals for a box of exact (dyadic) ends."""
    return {s: iv.mpf([_mpf(a), _mpf(b)]) for s, (a, b) in zip(symbols, box, strict=True)}


def _mpf(q: Fraction) -> mpmath.mpf:
    return to_mpf(q)  # dyadic box ends: exact


def certify_finite(expr: sp.Expr, d: int, text: str | None = None, max_boxes: int = 4096) -> int:
    """Certify ``expr`` continuous and finite on the closed cube [0,1]^d; returns the boxes used.

    Boxes on which the enclosure fails are bisected (along the widest axis among the variables that
    occur), depth first, down to width 2^-12. A box that still fails there, or running out of the
    box budget, refuses the target with an :class:`ExpressionError` naming the box's centre: f may
    be singular there, or interval arithmetic cannot show otherwise (``sin(x0)/x0``).
    """
    used = sorted(expr.free_symbols, key=lambda s: s.name)
    if any(not s.name.startswith("x") or int(s.name[1:]) >= d for s in used):
        raise ExpressionError(f"target {text or expr}: variables beyond x{d - 1}")
    min_width, count = Fraction(1, 2**12), 0
    stack = [tuple((Fraction(0), Fraction(1)) for _ in used)]
    while stack:
        box = stack.pop()
        count += 1
        try:
            interval_eval(expr, box_env(used, box), continuous=True)
            continue
        except NotSmooth as err:
            widths = [b - a for a, b in box]
            if not box or max(widths) <= min_width or count >= max_boxes:
                where = ", ".join(f"{s}={float((a + b) / 2):.4g}" for s, (a, b) in zip(used, box, strict=True))
                raise ExpressionError(
                    f"target {text or str(expr)!r} is not certified finite on [0,1]^{d}"
                    f" (near {where or 'every point'}: {err})"
                ) from None
            k = max(range(len(box)), key=widths.__getitem__)
            a, b = box[k]
            mid = (a + b) / 2
            stack += [box[:k] + (half,) + box[k + 1 :] for half in ((mid, b), (a, mid))]
    return count
