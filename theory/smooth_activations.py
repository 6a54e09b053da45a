"""Smooth activations over an interval, certified (docs/theory.md §8.1): tanh, GELU and SiLU.

Each σ is given in ball arithmetic with its derivative, and with balls that hold every turning point
of σ (zeros of σ') and of σ' (zeros of σ''). Between turning points a function is monotone, so its
range over [lo, hi] is the hull of its values at lo, at hi and on every turning ball that meets
[lo, hi]: tight, where evaluating σ on the wide ball [lo, hi] is not.

Turning points, each unique (the signs below are of the named function on the named interval):
- tanh: tanh' = sech² > 0 (none); tanh'' = −2 tanh·sech², zero at 0 only.
- GELU(z) = z Φ(z): GELU' = Φ + zφ is < 0 on (−∞, −√2] and increasing on (−√2, √2) (GELU'' =
  φ(2 − z²) > 0), > 0 beyond: one zero, near −0.7518; GELU'' zero at ±√2.
- SiLU(z) = z s(z), s the logistic: SiLU' = s(1 + z(1 − s)) is < 0 below its one zero near −1.2785
  and > 0 above; SiLU'' = s(1 − s)(2 + z(1 − 2s)) is zero at ±2.3994 only (2 + z(1 − 2s) is even,
  decreasing in |z|).
Every turning ball is a rational bracket whose sign change is checked in ball arithmetic at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flint import arb

Ball = Callable[[arb], arb]


@dataclass(frozen=True)
class Smooth:
    value: Ball
    slope: Ball
    value_turns: tuple[arb, ...]  # balls holding every zero of σ'
    slope_turns: tuple[arb, ...]  # balls holding every zero of σ''

    def range(self, lo: float, hi: float) -> arb:
        """A ball holding σ([lo, hi])."""
        return _range(self.value, self.value_turns, lo, hi)

    def ranges(self, lo: float, hi: float) -> tuple[arb, arb]:
        """Balls holding σ([lo, hi]) and σ'([lo, hi])."""
        return self.range(lo, hi), _range(self.slope, self.slope_turns, lo, hi)


def _range(g: Ball, turns: tuple[arb, ...], lo: float, hi: float) -> arb:
    out = g(arb(lo)).union(g(arb(hi)))
    for t in turns:
        if t.upper() >= lo and t.lower() <= hi:
            out = out.union(g(t))
    return out


def _bracket(g: Ball, a: str, b: str) -> arb:
    """The ball [a, b], after checking that g changes sign on it (g has a zero there)."""
    lo, hi = arb(a), arb(b)
    if not (g(lo) * g(hi) < 0):
        raise AssertionError(f"no certified sign change of a turning-point bracket [{a}, {b}]")
    return lo.union(hi)


def _phi(z: arb) -> arb:
    return (-z * z / 2).exp() / (2 * arb.pi()).sqrt()


def _Phi(z: arb) -> arb:
    return (1 + (z / arb(2).sqrt()).erf()) / 2


def _logistic(z: arb) -> arb:
    return 1 / (1 + (-z).exp())


def _tanh_slope(z: arb) -> arb:
    return 1 - z.tanh() ** 2


def _gelu_slope(z: arb) -> arb:
    return _Phi(z) + z * _phi(z)


def _silu_slope(z: arb) -> arb:
    s = _logistic(z)
    return s * (1 + z * (1 - s))


def _silu_curvature(z: arb) -> arb:
    s = _logistic(z)
    return s * (1 - s) * (2 + z * (1 - 2 * s))


SQRT2 = arb(2).sqrt()
SMOOTH: dict[str, Smooth] = {
    "tanh": Smooth(lambda z: z.tanh(), _tanh_slope, (), (arb(0),)),
    "gelu": Smooth(lambda z: z * _Phi(z), _gelu_slope, (_bracket(_gelu_slope, "-0.7518", "-0.7517"),), (-SQRT2, SQRT2)),
    "silu": Smooth(
        lambda z: z * _logistic(z),
        _silu_slope,
        (_bracket(_silu_slope, "-1.2785", "-1.2784"),),
        (_bracket(_silu_curvature, "-2.3995", "-2.3993"), _bracket(_silu_curvature, "2.3993", "2.3995")),
    ),
}
