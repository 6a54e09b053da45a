"""Jets of a target on one piece of its kinks (docs/theory.md §5.2–§5.4).

A target with kinks is f(x) = F(x, |u_1(x)|, …) (:mod:`theory.sobolev.kinks`); on the piece of sign
pattern s it is F(x, s·u(x)). Its jets are the jets of the lifted F with t_i = s_i·u_i(x) fed in as
jets of the coordinates. Over a box that a kink crosses, the ball of s_i·u_i is cut to [0, ∞): the
piece is where s_i·u_i ≥ 0, so every point of box ∩ piece stays enclosed. A smooth target has no
kinks and s = (): this is then the jet of f itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction

from flint import arb

from theory.sobolev.jets import Jet, ball, compile_jet
from theory.sobolev.target import SobolevTarget

PieceJet = Callable[[Sequence[Jet], tuple[int, ...]], Jet]


class OffPiece(ValueError):
    """The box meets the piece in a null set: nothing to enclose there."""


def compile_piece(target: SobolevTarget, exact: bool = False) -> PieceJet:
    """(coordinate jets, signs) -> the jet of f on the piece of ``signs``."""
    lifted = target.lifted
    ts = tuple(k.t for k in lifted.kinks)
    F = compile_jet(lifted.F, lifted.symbols + ts, exact=exact)

    num = Fraction if exact else ball

    def jet(xs: Sequence[Jet], signs: tuple[int, ...] = ()) -> Jet:
        d, K = xs[0].d, xs[0].K
        lifts = []
        for s, kink in zip(signs, lifted.kinks, strict=True):
            u = Jet.constant(d, K, num(kink.offset * s))
            for a, x in zip(kink.normal, xs, strict=True):
                if a:
                    u = u + x * Jet.constant(d, K, num(a * s))
            lifts.append(_clamped(u, exact))
        return F([*xs, *lifts])

    return jet


def _clamped(u: Jet, exact: bool) -> Jet:
    """u with its value cut to [0, ∞) (see the module docstring)."""
    v = u.c[0]
    if exact:
        if v < 0:
            raise OffPiece("the point is off the piece")
        return u
    if v < 0:
        raise OffPiece("the box is off the piece")
    if v.lower() < 0:  # [0, hi], up to the ball's rounding (powers know t ≥ 0: jets._power_series)
        u = Jet(u.d, u.K, [arb(0).union(v.upper()), *u.c[1:]])
    return u
