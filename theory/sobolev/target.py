"""Targets for Theorem 3 (docs/theory.md §5): exact SymPy functions on [0,1]^d and their W^{n,∞} norm.

A target is a string such as ``"sin(pi*x0)*exp(x1)"``, read by the lab's one strict grammar
(:mod:`theory.expression`: numbers, ``x0..x{d-1}``, ``pi``, ``E``, ``+ - * / ** ^`` and a fixed
list of functions; nothing reaches ``eval``). Decimal literals are read exactly (``0.1`` is 1/10).

The Sobolev norm ‖f‖ = max_{|α|≤n} sup_{[0,1]^d} |D^α f| (docs/theory.md §2) is bounded from above by
interval arithmetic (:mod:`theory.intervals`, outward rounding) with branch and bound over sub-boxes. The same
interval evaluation certifies smoothness: if every D^α f with |α| ≤ n evaluates to a finite enclosure
on every box, each operation staying inside its domain (no division by an interval containing 0, no
log of a non-positive number, no non-integer power of a negative number, no |u| or sign(u) where u
can vanish), then each D^α f is continuous on the closed cube, so f ∈ C^n([0,1]^d) ⊂ W^{n,∞}.
A target for which this fails is refused: either it is not n times differentiable, or the interval
arithmetic cannot show that it is (e.g. a removable singularity like sin(x)/x) — the error says so.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property

import mpmath
import sympy as sp
from mpmath import iv

from theory.expression import ExpressionError, parse, variables
from theory.intervals import NotSmooth, box_env, interval_eval

MAX_D = 6


def parse_target(text: str, d: int) -> sp.Expr:
    """Parse ``text`` with the lab's one grammar (:mod:`theory.expression`), for d in 1..MAX_D."""
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_D:
        raise ExpressionError(f"dimension d must be an integer in 1..{MAX_D}, got {d!r}")
    return parse(text, d)


# --------------------------------------------------------------------------- the target


def _resolve_abs(expr: sp.Expr, d: int) -> sp.Expr:
    """|u| → ±u where u provably keeps one sign on [0,1]^d (so |x0+1| is smooth there, and stays so)."""
    box = {s: iv.mpf([0, 1]) for s in variables(d)}

    def fix(a: sp.Expr) -> sp.Expr:
        try:
            u = interval_eval(a.args[0], box)
        except NotSmooth:
            return a
        return a.args[0] if u.a > 0 else -a.args[0] if u.b < 0 else a

    return expr.replace(lambda e: isinstance(e, sp.Abs), fix)


def multi_indices(d: int, max_order: int, min_order: int = 0) -> list[tuple[int, ...]]:
    """All α ∈ N^d with min_order ≤ |α| ≤ max_order, ordered by |α| then lexicographically (descending)."""
    out = []
    for total in range(min_order, max_order + 1):
        out.extend(sorted((a for a in itertools.product(range(total + 1), repeat=d) if sum(a) == total), reverse=True))
    return out


@dataclass(frozen=True)
class NormBound:
    """Certified enclosure lower ≤ ‖f‖_{W^{n,∞}} ≤ upper, per derivative and in total (docs/theory.md §2)."""

    upper: Fraction  # rounded up to a short rational
    lower: float  # best point value seen: a witness, not a proof of anything beyond ‖f‖ ≥ lower
    order_n_upper: Fraction  # max over |α| = n only: the constant in the Taylor remainder
    per_alpha: dict[tuple[int, ...], tuple[float, Fraction]]
    boxes: int


@dataclass
class SobolevTarget:
    """f: [0,1]^d → R given exactly, with the smoothness order n it is used at (docs/theory.md §5)."""

    text: str
    d: int
    n: int
    expr: sp.Expr
    rtol: float = 1e-3
    max_boxes: int = 20000
    _derivs: dict = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, text: str, d: int, n: int, **kw) -> SobolevTarget:
        """Parse, then refuse a target that is not certified n times differentiable on [0,1]^d."""
        if not isinstance(n, int) or not 1 <= n <= 8:
            raise ValueError(f"smoothness order n must be an integer in 1..8, got {n!r}")
        target = cls(text=text, d=d, n=n, expr=_resolve_abs(parse_target(text, d), d), **kw)
        target.norm  # noqa: B018 - certify smoothness now, so a bad target fails at the door
        return target

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return variables(self.d)

    def derivative(self, alpha: tuple[int, ...]) -> sp.Expr:
        """D^α f, exact (SymPy differentiation, cached)."""
        if alpha not in self._derivs:
            e = self.expr
            for s, k in zip(self.symbols, alpha, strict=True):
                if k:
                    e = sp.diff(e, s, k)
            self._derivs[alpha] = e
        return self._derivs[alpha]

    def numeric(self, alpha: tuple[int, ...] | None = None):
        """D^α f as an mpmath function of d arguments (for high-precision evaluation, not proofs)."""
        alpha = alpha or (0,) * self.d
        return sp.lambdify(self.symbols, self.derivative(alpha), modules="mpmath")

    def numpy(self, alpha: tuple[int, ...] | None = None):
        """D^α f as a vectorised float64 numpy function."""
        alpha = alpha or (0,) * self.d
        f = sp.lambdify(self.symbols, self.derivative(alpha), modules="numpy")
        return lambda *xs: f(*xs) + 0.0 * xs[0]  # broadcast constants

    @cached_property
    def norm(self) -> NormBound:
        """Certified upper bound on ‖f‖ = max_{|α|≤n} sup |D^α f| by interval branch and bound."""
        per, boxes, best_lo = {}, 0, 0.0
        for alpha in multi_indices(self.d, self.n):
            lo, hi, b = self._sup_abs(self.derivative(alpha), alpha)
            per[alpha], boxes = (lo, hi), boxes + b
            best_lo = max(best_lo, lo)
        upper = max(hi for _, hi in per.values())
        upper_n = max(hi for a, (_, hi) in per.items() if sum(a) == self.n)
        return NormBound(_round_up(upper), best_lo, _round_up(upper_n), per, boxes)

    def _sup_abs(self, expr: sp.Expr, alpha) -> tuple[float, Fraction, int]:
        """(lower, upper) on sup_{[0,1]^d} |expr| by best-first branch and bound over dyadic boxes.

        Boxes whose interval evaluation leaves an operation's domain are split (the enclosure may just
        be too wide); one that is still singular at width 2^-10, or too many such boxes, means the
        target is refused. NotSmooth becomes a one-line ValueError.
        """
        syms, min_width = self.symbols, Fraction(1, 2**10)
        num = sp.lambdify(syms, expr, modules="mpmath")
        best_lo, count = 0.0, 0
        heap: list[tuple] = []  # heap of (−upper, tiebreak, box); upper = inf if singular

        def push(box):
            nonlocal best_lo, count
            count += 1
            # a witness value at the centre: only a lower bound
            with contextlib.suppress(Exception):  # e.g. a DiracDelta lambdify cannot print
                best_lo = max(best_lo, abs(float(num(*[float((a + b) / 2) for a, b in box]))))
            env = box_env(syms, box)
            try:
                e = interval_eval(expr, env)
                upper = max(_fraction(abs(e.a)), _fraction(abs(e.b)))
            except NotSmooth as err:
                if max(b - a for a, b in box) <= min_width or count > self.max_boxes:
                    raise NotSmooth(str(err)) from None
                upper = None
            heapq.heappush(heap, (-math.inf if upper is None else -float(upper), count, box, upper))

        try:
            push(tuple((Fraction(0), Fraction(1)) for _ in syms))
            while True:
                _, _, box, upper = heap[0]
                if upper is not None and (upper <= best_lo * (1 + self.rtol) or count > self.max_boxes):
                    break
                widths = [b - a for a, b in box]
                k = max(range(len(box)), key=widths.__getitem__)
                if widths[k] <= min_width:
                    break  # finest boxes reached: their enclosures stay valid upper bounds
                heapq.heappop(heap)
                a, b = box[k]
                mid = (a + b) / 2
                for half in ((a, mid), (mid, b)):
                    push(box[:k] + (half,) + box[k + 1 :])
        except NotSmooth as err:
            # a failure while enclosing f itself is a non-smooth point of f, not of a derivative
            where = "in f itself" if not any(alpha) else f"in D^{alpha} f"
            raise ValueError(
                f"target {self.text!r} is not certified {self.n} times differentiable on [0,1]^{self.d}"
                f" ({where}: {err})"
            ) from None
        upper = max(entry[3] for entry in heap)
        return best_lo, upper, count


def _fraction(x) -> Fraction:
    """The exact value of a finite mpf (an interval end, already outward rounded)."""
    x = mpmath.mpf(x)
    if not mpmath.isfinite(x):
        raise NotSmooth("unbounded enclosure")
    man, exp = x.man_exp
    return Fraction(man) * Fraction(2) ** exp


def _round_up(x: Fraction, digits: int = 6) -> Fraction:
    """A short decimal rational ≥ x."""
    if x <= 0:
        return Fraction(0)
    q = Fraction(10) ** (digits - 1 - math.floor(math.log10(x)))
    return Fraction(math.ceil(x * q)) / q


def scale_into_ball(target: SobolevTarget) -> tuple[SobolevTarget, Fraction]:
    """(f/B, 1/B) with B ≥ ‖f‖ certified, so f/B ∈ F_{n,d}; a target with B = 0 is returned as is."""
    bound = target.norm.upper
    if bound == 0:
        return target, Fraction(1)
    s = 1 / bound
    scaled = SobolevTarget(
        text=f"({target.text})*{s}",
        d=target.d,
        n=target.n,
        expr=target.expr * sp.Rational(s.numerator, s.denominator),
        rtol=target.rtol,
        max_boxes=target.max_boxes,
    )
    return scaled, s
