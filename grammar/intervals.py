"""Certified interval enclosures of expression trees (docs/theory.md §2), with ``mpmath.iv``.

The primitives (:func:`exp`, :func:`power`, :func:`function`, :func:`absolute`) enclose one operation
over an interval with outward rounding, and raise :class:`NotSmooth` wherever the operation may leave
its domain on it: a division by an interval containing 0, a log of a non-positive number, a
non-integer power of a negative number, a pole of tan, an exp beyond any float. With
``continuous=False``, |u| where u can vanish is refused too (theory/intervals.py encloses derivatives
with the same primitives, and a finite enclosure of every D^α f then certifies f ∈ C^n).

:func:`certify_finite` bisects the closed cube [0,1]^d until every box has a finite enclosure, and
names a point near which it cannot: the guard against targets such as ``1/x0``, singular where no
grid point would see it.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
from mpmath import iv

from grammar.tree import BinOp, Call, Const, ExpressionError, Neg, Node, Num, Var, show, variables

EXP_LIMIT = 10_000  # exp(u) for u beyond this is no number any float can hold: refuse, don't compute


class NotSmooth(ValueError):
    """Interval evaluation left an operation's domain (or its smoothness) on some box."""


def number(q: Fraction | int) -> iv.mpf:
    """The exact rational q as a (tight) interval."""
    q = Fraction(q)
    return iv.mpf(q.numerator) / q.denominator


def exp(u: iv.mpf, what: str) -> iv.mpf:
    if u.b > EXP_LIMIT:
        raise NotSmooth(f"exp of {what} can exceed {EXP_LIMIT}")
    return iv.exp(u)


def absolute(u: iv.mpf, continuous: bool, what: str) -> iv.mpf:
    """|u|; where u can vanish only with ``continuous`` (|·| is not differentiable at 0)."""
    if u.a > 0 or u.b < 0:
        return u if u.a > 0 else -u
    if continuous:
        return iv.mpf([0, max(-u.a, u.b)])
    raise NotSmooth(f"Abs({what}) where the argument can vanish")


def power(u: iv.mpf, e: iv.mpf, integer: int | None, constant: bool, base: str, what: str) -> iv.mpf:
    """u^e: ``integer`` when the exponent is that integer, ``constant`` when it has no variable."""
    if integer is not None:
        if integer < 0:
            if u.a <= 0 <= u.b:
                raise NotSmooth(f"division by {base}, which can vanish")
            return 1 / u ** (-integer)
        return u**integer
    if not constant:  # u^v = exp(v log u) needs u > 0
        if u.a <= 0:
            raise NotSmooth(f"variable exponent on {base}, which can be <= 0")
        return exp(e * iv.log(u), what)
    if u.a < 0:
        raise NotSmooth(f"non-integer power of {base}, which can be negative")
    if u.a == 0 and e.a <= 0:
        raise NotSmooth(f"negative non-integer power of {base}, which can vanish")
    if u.a == 0:  # u^e for e > 0 is continuous on [0, ∞) and monotone: [0, hi^e]
        hi = iv.exp(e * iv.log(iv.mpf(u.b))) if u.b > 0 else iv.mpf(0)
        return iv.mpf([0, hi.b])
    return exp(e * iv.log(u), what)


def function(name: str, u: iv.mpf, what: str) -> iv.mpf:
    """One of the grammar's functions (not abs: :func:`absolute`) of an interval."""
    match name:
        case "log":
            if u.a <= 0:
                raise NotSmooth(f"log({what}) where the argument can be <= 0")
            return iv.log(u)
        case "sqrt":
            return power(u, number(Fraction(1, 2)), None, True, what, f"sqrt({what})")
        case "tan":
            c = iv.cos(u)
            if c.a <= 0 <= c.b:
                raise NotSmooth(f"tan({what}) near a pole")
            return iv.sin(u) / c
        case "exp":
            return exp(u, what)
        case "sinh":
            return (exp(u, what) - exp(-u, what)) / 2
        case "cosh":
            return (exp(u, what) + exp(-u, what)) / 2
        case "atan":
            # increasing, |atan| < 2: end values at 20 extra bits, widened by 2^-prec (mpmath.iv has no atan)
            with mpmath.workprec(iv.prec + 20):
                lo, hi = mpmath.atan(mpmath.mpf(u.a)), mpmath.atan(mpmath.mpf(u.b))
            eps = mpmath.mpf(2) ** -iv.prec
            return iv.mpf([lo - eps, hi + eps])
        case "tanh":
            # increasing, with values in (-1, 1): enclose by the ends (and by ±1 beyond any float)
            lo = iv.mpf(-1) if u.a < -EXP_LIMIT else 1 - 2 / (iv.exp(2 * iv.mpf(u.a)) + 1)
            hi = iv.mpf(1) if u.b > EXP_LIMIT else 1 - 2 / (iv.exp(2 * iv.mpf(u.b)) + 1)
            return iv.mpf([lo.a, hi.b])
        case "sin":
            return iv.sin(u)
        case "cos":
            return iv.cos(u)
    raise NotSmooth(f"cannot bound {name}({what}) by interval arithmetic")


def enclose(node: Node, box: list[iv.mpf], continuous: bool = False) -> iv.mpf:
    """An enclosure of the tree over ``box`` (one interval per coordinate); NotSmooth where it fails."""
    match node:
        case Num(value=q):
            return number(q)
        case Const(name="pi"):
            return iv.pi
        case Const(name="E"):
            return iv.e
        case Var(index=k):
            return box[k]
        case Neg(arg=a):
            return -enclose(a, box, continuous)
        case Call(name="abs", arg=a):
            return absolute(enclose(a, box, continuous), continuous, show(a))
        case Call(name=name, arg=a):
            return function(name, enclose(a, box, continuous), show(a))
        case BinOp(op="^", left=a, right=b):
            integer = int(b.value) if isinstance(b, Num) and b.value.denominator == 1 else None
            e = number(b.value) if isinstance(b, Num) else enclose(b, box, continuous)
            u = enclose(a, box, continuous)
            return power(u, e, integer, not variables(b), show(a), show(node))
        case BinOp(op=op, left=a, right=b):
            u, v = enclose(a, box, continuous), enclose(b, box, continuous)
            if op == "/":
                if v.a <= 0 <= v.b:
                    raise NotSmooth(f"division by {show(b)}, which can vanish")
                return u / v
            return u + v if op == "+" else u - v if op == "-" else u * v
    raise TypeError(f"not an expression node: {node!r}")


def certify_finite(node: Node, d: int, text: str | None = None, max_boxes: int = 4096) -> int:
    """Certify the tree continuous and finite on the closed cube [0,1]^d; returns the boxes used.

    Boxes on which the enclosure fails are bisected (along the widest axis among the variables that
    occur), depth first, down to width 2^-12. A box that still fails there, or running out of the
    box budget, refuses the target with an :class:`ExpressionError` naming the box's centre: f may
    be singular there, or interval arithmetic cannot show otherwise (``sin(x0)/x0``).
    """
    used = sorted(variables(node))
    if any(k >= d for k in used):
        raise ExpressionError(f"target {text or show(node)}: variables beyond x{d - 1}")
    min_width, count = Fraction(1, 2**12), 0
    stack = [tuple((Fraction(0), Fraction(1)) for _ in used)]
    while stack:
        box = stack.pop()
        count += 1
        full = [iv.mpf(0)] * d
        for k, (lo, hi) in zip(used, box, strict=True):
            full[k] = iv.mpf([number(lo).a, number(hi).b])
        try:
            enclose(node, full, continuous=True)
            continue
        except NotSmooth as err:
            widths = [b - a for a, b in box]
            if not box or max(widths) <= min_width or count >= max_boxes:
                where = ", ".join(f"x{k}={float((a + b) / 2):.4g}" for k, (a, b) in zip(used, box, strict=True))
                raise ExpressionError(
                    f"target {text or show(node)!r} is not certified finite on [0,1]^{d}"
                    f" (near {where or 'every point'}: {err})"
                ) from None
            k = max(range(len(box)), key=widths.__getitem__)
            a, b = box[k]
            mid = (a + b) / 2
            stack += [box[:k] + (half,) + box[k + 1 :] for half in ((mid, b), (a, mid))]
    return count
