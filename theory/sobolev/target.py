"""Targets for Theorem 3 (docs/theory.md §5): exact SymPy functions on [0,1]^d and their W^{n,∞} norm.

A target is a string such as ``"sin(pi*x0)*exp(x1)"``, read by the lab's one strict grammar
(:mod:`theory.expression`: numbers, ``x0..x{d-1}``, ``pi``, ``E``, ``+ - * / ** ^`` and a fixed
list of functions; nothing reaches ``eval``). Decimal literals are read exactly (``0.1`` is 1/10).

The Sobolev norm ‖f‖ = max_{|α|≤n} sup_{[0,1]^d} |D^α f| (docs/theory.md §2) is bounded from above by
interval arithmetic (:mod:`theory.intervals`, outward rounding) with branch and bound over sub-boxes. The same
interval evaluation certifies smoothness: if every D^α f with |α| ≤ n evaluates to a finite enclosure
on every box, each operation staying inside its domain (no division by an interval containing 0, no
log of a non-positive number, no non-integer power of a negative number), then each D^α f is
continuous on the closed cube, so f ∈ C^n([0,1]^d) ⊂ W^{n,∞}. A target with kinks where an |affine|
vanishes is certified piece by piece, with continuity across the kinks below order n (§5.4,
:mod:`theory.sobolev.kinks`). A target for which this fails is refused with the largest n that is
certified: either f is not in W^{n,∞}, or interval arithmetic cannot show that it is (e.g. a
removable singularity like sin(x)/x) — the error says which.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

import mpmath
import sympy as sp
from mpmath import iv

from theory.expression import ExpressionError, parse, variables
from theory.intervals import NotSmooth, interval_eval
from theory.sobolev.kinks import Kink, Lifted, Signs, lift

MAX_D = 6


def parse_target(text: str, d: int) -> sp.Expr:
    """Parse ``text`` with the lab's one grammar (:mod:`theory.expression`), for d in 1..MAX_D."""
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_D:
        raise ExpressionError(f"dimension d must be an integer in 1..{MAX_D}, got {d!r}")
    return parse(text, d)


# --------------------------------------------------------------------------- the target


def _resolve_abs(expr: sp.Expr, d: int) -> sp.Expr:
    """|u| → ±u where u provably keeps one sign on [0,1]^d (so |x0+1| and |x0| are no kinks there)."""
    box = {s: iv.mpf([0, 1]) for s in variables(d)}

    def fix(a: sp.Expr) -> sp.Expr:
        try:
            u = interval_eval(a.args[0], box)
        except NotSmooth:
            return a
        return a.args[0] if u.a >= 0 else -a.args[0] if u.b <= 0 else a

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
    """f: [0,1]^d → R given exactly, with the smoothness order n it is used at (docs/theory.md §5).

    f may have kinks where an |affine| vanishes (docs/theory.md §5.4, :mod:`theory.sobolev.kinks`):
    its derivatives are then given per piece, by a sign pattern ``signs``.
    """

    text: str
    d: int
    n: int
    expr: sp.Expr
    rtol: float = 1e-3
    max_boxes: int = 20000

    @classmethod
    def parse(cls, text: str, d: int, n: int, **kw) -> SobolevTarget:
        """Parse, then refuse a target not certified in W^{n,∞}([0,1]^d), naming the largest n that is."""
        if not isinstance(n, int) or not 1 <= n <= 8:
            raise ValueError(f"smoothness order n must be an integer in 1..8, got {n!r}")
        target = cls(text=text, d=d, n=n, expr=_resolve_abs(parse_target(text, d), d), **kw)
        target.norm  # noqa: B018 - certify membership now, so a bad target fails at the door
        return target

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return variables(self.d)

    @cached_property
    def lifted(self) -> Lifted:
        """f = F(x, |u_1|, …): the kinks of f and its lifted form (none for a smooth target)."""
        try:
            return lift(self.expr, self.symbols)
        except NotSmooth as err:
            why = f"target {self.text!r} is not certified in W^{{{self.n},∞}}: {err}; no n is certified"
            raise ValueError(why) from None

    @property
    def kinks(self) -> tuple[Kink, ...]:
        return self.lifted.kinks

    def signs_at(self, point) -> list[Signs]:
        """The pieces whose closure holds ``point`` (``[()]`` for a smooth target)."""
        return self.lifted.signs_at(point)

    def derivative(self, alpha: tuple[int, ...], signs: Signs = ()) -> sp.Expr:
        """D^α f, exact, in x: on the piece of ``signs`` when f has kinks (SymPy, cached)."""
        if len(signs) != len(self.kinks):
            raise ValueError(f"{self.text!r} has {len(self.kinks)} kinks: D^α f needs one sign per kink")
        return self.lifted.formula(alpha, signs)

    def numeric(self):
        """f as an mpmath function of d arguments (for high-precision evaluation, not proofs)."""
        return sp.lambdify(self.symbols, self.expr, modules="mpmath")

    def numpy(self):
        """f as a vectorised float64 numpy function."""
        f = sp.lambdify(self.symbols, self.expr, modules="numpy")
        return lambda *xs: f(*xs) + 0.0 * xs[0]  # broadcast constants

    @cached_property
    def norm(self) -> NormBound:
        """Certified upper bound on ‖f‖ = max_{|α|≤n} ess sup |D^α f|, order by order and piece by piece,
        with D^α f continuous across every kink for |α| < n: the W^{n,∞} certificate (§5.4)."""
        per, boxes = {}, 0
        for order in range(self.n + 1):
            for alpha in multi_indices(self.d, order, order):
                lo, hi = 0.0, Fraction(0)
                for signs in self.lifted.pieces:
                    try:
                        piece_lo, piece_hi, b = self._sup_abs(alpha, signs)
                    except NotSmooth as err:
                        self._refuse(order - 1, str(err))
                    lo, hi, boxes = max(lo, piece_lo), max(hi, piece_hi), boxes + b
                per[alpha] = (lo, hi)
            if order < self.n:
                for alpha in multi_indices(self.d, order, order):
                    if why := self.lifted.jump(alpha):
                        self._refuse(order, why)
        upper = max(hi for _, hi in per.values())
        upper_n = max(hi for a, (_, hi) in per.items() if sum(a) == self.n)
        best_lo = max(lo for lo, _ in per.values())
        return NormBound(_round_up(upper), best_lo, _round_up(upper_n), per, boxes)

    def _refuse(self, largest: int, why: str):
        """One line: why f is not certified in W^{n,∞}, and the largest order that is certified."""
        held = "f itself is not certified bounded" if largest < 0 else f"f ∈ W^{{{largest},∞}} is certified"
        raise ValueError(
            f"target {self.text!r} is not certified in W^{{{self.n},∞}}([0,1]^{self.d}): {why}; {held}"
            + (f", so the largest valid n is {largest}" if largest >= 1 else ", so no n >= 1 is valid")
        )

    def _sup_abs(self, alpha: tuple[int, ...], signs: Signs) -> tuple[float, Fraction, int]:
        """(lower, upper) on ess sup |D^α f| over the piece of ``signs``, by best-first branch and bound
        over dyadic boxes (only the boxes that meet the piece in positive measure).

        Boxes whose interval evaluation leaves an operation's domain are split (the enclosure may just
        be too wide); one that is still singular at width 2^-10, or too many such boxes, raises
        NotSmooth with a one-line reason that says where.
        """
        lifted, min_width = self.lifted, Fraction(1, 2**10)
        expr = lifted.derivative(alpha, signs)
        num = sp.lambdify(self.symbols, lifted.on_piece(expr, signs), modules="mpmath")
        best_lo, count = 0.0, 0
        heap: list[tuple] = []  # heap of (−upper, tiebreak, box); upper = inf if singular

        def push(box):
            nonlocal best_lo, count
            env = lifted.env(box, signs)
            if env is None:
                return
            count += 1
            centre = [(a + b) / 2 for a, b in box]
            if all(s * k.at(centre) >= 0 for s, k in zip(signs, lifted.kinks, strict=True)):
                with contextlib.suppress(Exception):  # a witness value at the centre: only a lower bound
                    best_lo = max(best_lo, abs(float(num(*map(float, centre)))))
            try:
                e = interval_eval(expr, env)
                upper = max(_fraction(abs(e.a)), _fraction(abs(e.b)))
            except NotSmooth as err:
                if max(b - a for a, b in box) <= min_width or count > self.max_boxes:
                    raise NotSmooth(self._where(alpha, signs, box, str(err))) from None
                upper = None
            heapq.heappush(heap, (-math.inf if upper is None else -float(upper), count, box, upper))

        push(tuple((Fraction(0), Fraction(1)) for _ in self.symbols))
        while heap:
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
        upper = max((entry[3] for entry in heap), default=Fraction(0))
        return best_lo, upper, count

    def _where(self, alpha, signs, box, err: str) -> str:
        """The reason a box could not be bounded, naming the kink it touches (and a proven blow-up)."""
        what = "f" if not any(alpha) else f"D^{alpha} f"
        for kink in self.kinks:  # the lifted symbols t_i read as what they stand for
            err = err.replace(str(kink.t), f"|{kink.u}|")
        for kink in self.kinks:
            lo, hi = kink.range(box)
            if lo <= 0 <= hi:
                verdict = "is unbounded" if self.lifted.blows_up(alpha, signs, kink) else "could not be bounded"
                return f"{what} {verdict} near the kink {kink} ({err})"
        at = " x ".join(f"[{float(a):.4g}, {float(b):.4g}]" for a, b in box)
        return f"{what} could not be bounded on {at} ({err})"


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
