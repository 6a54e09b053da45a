"""Truncated multivariate Taylor series (jets) of target expressions, in certified ball arithmetic
(docs/theory.md §5.2).

The jet of f to order K at a point c is the array of D^β f(c)/β! for |β| ≤ K. It is computed by
walking the grammar's expression tree (``theory.expression``), with no symbolic differentiation:
- sums and products of jets truncate at total degree K (ũ^{K+1} = 0 for a jet ũ with no constant);
- a function g of a jet u = u₀ + ũ is Σ_{k≤K} g^{(k)}(u₀)/k!·ũ^k. The univariate coefficients come
  from closed forms (exp, sin, cos, sinh, cosh, log, real powers) or from the equation the function
  satisfies (tan' = 1 + tan², tanh' = 1 − tanh², atan' = 1/(1 + u²)).
Evaluated at a ball u₀ that contains a whole box, every coefficient encloses D^β f(ξ)/β! for all ξ
in the box (inclusion monotonicity): what bounds a Taylor remainder. Domain checks (log of a
non-positive ball, division by a ball containing 0, |u| where u may vanish) raise ``NotSmooth``.

Numbers are python-flint ``arb`` balls of ``PREC`` bits; ``exact=True`` computes in Fractions
instead and raises ``Irrational`` at the first irrational step (rational-polynomial targets).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache
from typing import Any

import sympy as sp
from flint import arb, ctx, fmpq

from theory.intervals import NotSmooth
from theory.sobolev.target import multi_indices

PREC = 192  # bits: far below every bound compared against, and cheap
ctx.prec = PREC


class Irrational(ValueError):
    """An exact jet met a step with an irrational result (a function, π or e)."""


def ball(q) -> arb:
    """An exact rational (or int) as a ball."""
    q = Fraction(q)
    return arb(fmpq(q.numerator, q.denominator))


@dataclass(frozen=True)
class Numbers:
    """The ball type jets compute in: how to make a rational, π and e. ``ARB`` is the default; any type
    with +, −, ×, /, integer powers, comparisons with 0, ``0 in x`` and the methods ``exp``, ``log``,
    ``sin``, ``cos``, ``tan``, ``sinh``, ``cosh``, ``tanh``, ``atan`` used by the target will do."""

    rational: Callable[[Fraction], object]
    pi: Callable[[], object]
    e: Callable[[], object]


ARB = Numbers(ball, arb.pi, arb.const_e)


def box_ball(lo: Fraction, hi: Fraction) -> arb:
    return ball(lo).union(ball(hi))


def upper(x: arb) -> Fraction:
    """An exact rational ≥ every point of the ball."""
    return _dyadic(x.upper())


def lower(x: arb) -> Fraction:
    return _dyadic(x.lower())


def _dyadic(x: arb) -> Fraction:
    man, exp = x.man_exp()  # x.upper()/x.lower() are exact points: mantissa · 2^exponent
    man, exp = int(man), int(exp)
    return Fraction(man * 2**exp) if exp >= 0 else Fraction(man, 2**-exp)


@cache
def _layout(d: int, K: int) -> tuple[list[tuple[int, ...]], dict, list[tuple[int, int, int]]]:
    monos = multi_indices(d, K)
    index = {m: i for i, m in enumerate(monos)}
    table = []
    for i, a in enumerate(monos):
        for j, b in enumerate(monos):
            s = tuple(x + y for x, y in zip(a, b, strict=True))
            if sum(s) <= K:
                table.append((i, j, index[s]))
    return monos, index, table


class Jet:
    """Σ_{|β|≤K} c_β h^β: coefficients in the order of ``multi_indices(d, K)`` (constant first)."""

    __slots__ = ("d", "K", "c")

    def __init__(self, d: int, K: int, c: list):
        self.d, self.K, self.c = d, K, c

    @classmethod
    def constant(cls, d: int, K: int, v) -> Jet:
        zero = v * 0
        return cls(d, K, [v] + [zero] * (len(_layout(d, K)[0]) - 1))

    @classmethod
    def variable(cls, d: int, K: int, k: int, at) -> Jet:
        """x_k expanded at ``at``: at + h_k."""
        j = cls.constant(d, K, at)
        if K >= 1:
            j.c[_layout(d, K)[1][tuple(int(i == k) for i in range(d))]] = at * 0 + 1
        return j

    @property
    def value(self):
        return self.c[0]

    def coefficients(self) -> dict[tuple[int, ...], Any]:  # arb balls, or Fractions in exact mode
        return dict(zip(_layout(self.d, self.K)[0], self.c, strict=True))

    def __add__(self, o: Jet) -> Jet:
        return Jet(self.d, self.K, [a + b for a, b in zip(self.c, o.c, strict=True)])

    def __sub__(self, o: Jet) -> Jet:
        return Jet(self.d, self.K, [a - b for a, b in zip(self.c, o.c, strict=True)])

    def __neg__(self) -> Jet:
        return Jet(self.d, self.K, [-a for a in self.c])

    def __mul__(self, o: Jet) -> Jet:
        out = [self.c[0] * 0] * len(self.c)
        a, b = self.c, o.c
        for i, j, k in _layout(self.d, self.K)[2]:
            out[k] += a[i] * b[j]
        return Jet(self.d, self.K, out)

    def compose(self, g: Sequence) -> Jet:
        """Σ_k g[k]·(self − self₀)^k (Horner), g[k] = g^{(k)}(self₀)/k!."""
        tail = Jet(self.d, self.K, [self.c[0] * 0, *self.c[1:]])
        out = Jet.constant(self.d, self.K, g[self.K])
        for k in range(self.K - 1, -1, -1):
            out = out * tail
            out.c[0] += g[k]
        return out


# --------------------------------------------------------------------------- univariate series


def _series(name: str, b, K: int, exact: bool) -> list:
    """g^{(k)}(b)/k! for k ≤ K, g the named function."""
    if exact:
        raise Irrational(f"{name} has no exact value")
    fact = [math.factorial(k) for k in range(K + 1)]
    match name:
        case "exp":
            e = b.exp()
            return [e / fact[k] for k in range(K + 1)]
        case "sin" | "cos":
            s, c = b.sin(), b.cos()
            cyc = [s, c, -s, -c] if name == "sin" else [c, -s, -c, s]
            return [cyc[k % 4] / fact[k] for k in range(K + 1)]
        case "sinh" | "cosh":
            s, c = b.sinh(), b.cosh()
            cyc = [s, c] if name == "sinh" else [c, s]
            return [cyc[k % 2] / fact[k] for k in range(K + 1)]
        case "log":
            if not b > 0:
                raise NotSmooth("log of a number that may be <= 0")
            return [b.log()] + [(-1) ** (k - 1) * _inverse_power(b, k, exact) / k for k in range(1, K + 1)]
        case "tan" | "tanh":
            if name == "tan" and 0 in b.cos():
                raise NotSmooth("tan near a pole")
            t = [b.tan() if name == "tan" else b.tanh()]
            sign = 1 if name == "tan" else -1
            for k in range(K):  # (k+1) t_{k+1} = [k = 0] ± Σ_{i+j=k} t_i t_j
                conv = sum((t[i] * t[k - i] for i in range(k + 1)), b * 0)
                t.append(((1 if k == 0 else 0) + sign * conv) / (k + 1))
            return t
        case "atan":
            q = [1 + b * b, 2 * b, b * 0 + 1]  # 1 + (b + t)²
            r = [1 / q[0]]
            for k in range(1, K):
                r.append(-(q[1] * r[k - 1] + (q[2] * r[k - 2] if k >= 2 else 0)) / q[0])
            return [b.atan()] + [r[k - 1] / k for k in range(1, K + 1)]
    raise NotSmooth(f"no series rule for {name}")


def _inverse_power(v, k: int, exact: bool):
    """v^{−k} for v ≠ 0 (a ball of one sign): exp(−k·log|v|), since v^k of a wide ball may hold 0."""
    if exact:
        return 1 / v**k
    sign = 1 if v > 0 else (-1) ** k
    return sign * (-k * abs(v).log()).exp()


def _power_series(b, r: Fraction, K: int, exact: bool, numbers: Numbers = ARB, nonnegative: bool = False) -> list:
    """(b + t)^r for a non-integer rational r: binom(r, k)·b^{r−k}; needs b > 0, or a base known to
    be ≥ 0 (``nonnegative``: a kink's |u|) and K < r."""
    if exact:
        raise Irrational("a non-integer power has no exact value in general")
    if not b > 0:
        if nonnegative and r > K:
            return _power_series_near_zero(b, r, K, numbers)
        raise NotSmooth("a non-integer power of a number that may be <= 0")
    out, binom, log_b = [], Fraction(1), b.log()
    for k in range(K + 1):  # b^{r−k} as one exp(log): b^r / b^k loses a wide ball (b^k may then hold 0)
        out.append((numbers.rational(r - k) * log_b).exp() * numbers.rational(binom))
        binom = binom * (r - k) / (k + 1)
    return out


def _power_series_near_zero(b, r: Fraction, K: int, numbers: Numbers) -> list:
    """(b + t)^r for a base known to be ≥ 0 that may be 0 (a kink's |u|, docs/theory.md §5.4) and K < r:
    binom(r, k)·b^{r−k}, each power r − k > 0 continuous and increasing on [0, hi], so enclosed by
    [0, hi^{r−k}] (arb balls; a ball's lower end below 0 is rounding, as the base is ≥ 0)."""
    hi, zero = arb(b.upper()), arb(0)
    if hi.upper() < 0:
        raise NotSmooth("a power of a base known >= 0 enclosed below 0")
    out, binom = [], Fraction(1)
    for k in range(K + 1):
        top = (numbers.rational(r - k) * hi.log()).exp() if hi > 0 else zero
        out.append(zero.union(top) * numbers.rational(binom))
        binom = binom * (r - k) / (k + 1)
    return out


# --------------------------------------------------------------------------- expressions


def compile_jet(
    expr: sp.Expr, symbols: Sequence[sp.Symbol], exact: bool = False, numbers: Numbers = ARB
) -> Callable[[list[Jet]], Jet]:
    """A function from the coordinate jets (one per symbol) to the jet of ``expr``."""
    index = {s: i for i, s in enumerate(symbols)}
    num = Fraction if exact else numbers.rational

    def build(e: sp.Expr):
        if e.is_Symbol:
            k = index[e]
            return lambda xs: xs[k]
        if e.is_Rational:
            v = num(Fraction(int(e.p), int(e.q)))
            return lambda xs: Jet.constant(xs[0].d, xs[0].K, v)
        if e is sp.pi or e is sp.E:
            if exact:
                raise Irrational(str(e))
            v = numbers.pi() if e is sp.pi else numbers.e()
            return lambda xs: Jet.constant(xs[0].d, xs[0].K, v)
        if e.is_Add or e.is_Mul:
            parts = [build(a) for a in e.args]
            add = e.is_Add

            def combine(xs):
                out = parts[0](xs)
                for p in parts[1:]:
                    out = out + p(xs) if add else out * p(xs)
                return out

            return combine
        if e.is_Pow:
            return _build_pow(e, build, exact, numbers)
        if isinstance(e, sp.Abs):
            inner = build(e.args[0])

            def absolute(xs):
                u = inner(xs)
                v = u.value
                if v > 0:
                    return u
                if v < 0:
                    return -u
                raise NotSmooth(f"|{e.args[0]}| where the argument may vanish")

            return absolute
        if isinstance(e, sp.Function) and len(e.args) == 1:
            inner, name = build(e.args[0]), e.func.__name__
            return lambda xs: (u := inner(xs)).compose(_series(name, u.value, u.K, exact))
        raise NotSmooth(f"no jet rule for {e.func.__name__} ({e})")

    return build(sp.sympify(expr))


def _build_pow(e: sp.Expr, build, exact: bool, numbers: Numbers):
    base, ex = e.args
    inner = build(base)
    if ex.is_Integer:
        k = int(ex)

        def integer_power(xs):
            u = inner(xs)
            if k < 0:
                v = u.value
                if (v == 0) if exact else (0 in v):
                    raise NotSmooth(f"division by {base}, which may vanish")
                g = [(-1) ** i * _inverse_power(v, i + 1, exact) for i in range(u.K + 1)]  # 1/(v + t)
                u = u.compose(g)
            out = Jet.constant(u.d, u.K, u.value * 0 + 1)
            for _ in range(abs(k)):
                out = out * u
            return out

        return integer_power
    if ex.is_Rational:
        r, nonnegative = Fraction(int(ex.p), int(ex.q)), bool(base.is_nonnegative)
        return lambda xs: (u := inner(xs)).compose(_power_series(u.value, r, u.K, exact, numbers, nonnegative))
    return build(sp.exp(sp.Mul(ex, sp.log(base), evaluate=False), evaluate=False))  # u^v = exp(v·log u)


def point_jets(d: int, K: int, point: Sequence, exact: bool = False, numbers: Numbers = ARB) -> list[Jet]:
    """The coordinate jets at an exact point (or at balls, for a box)."""
    conv = Fraction if exact else (lambda v: numbers.rational(Fraction(v)) if isinstance(v, int | Fraction) else v)
    return [Jet.variable(d, K, k, conv(v)) for k, v in enumerate(point)]


def constant_ball(expr: sp.Expr) -> arb:
    """A certified enclosure of an exact real constant (a SymPy number, or a node with ``doit``)."""
    fn = compile_jet(sp.sympify(expr).doit(), (sp.Symbol("_unused"),))
    return fn([Jet.constant(1, 0, ball(0))]).value
