"""Certified sup |f − net| for a trained network in 1-D: the error axis as a proof (docs/theory.md §8).

A trained network's float64 weights are exact rationals, so on [0, 1] it is an exact function:
- one hidden layer of a piecewise-polynomial activation (ReLU, ReLU^k, PolyReLU, a polynomial): each
  unit σ(w·(2x − 1) + b) is one polynomial on each side of its knot, a rational point, so the network
  is a polynomial with rational coefficients between consecutive knots;
- ReLU networks of any depth: exactly piecewise linear, through the PL engine (``theory.pl``).
On each such piece [u, v] the target f (an expression, with |affine| kinks allowed: §5.4) is expanded
in ball arithmetic as in §5.3, which encloses sup_{[u,v]} |f − p| in [lower, upper]; the pieces whose
upper end could hold the maximum are bisected until upper ≤ (1 + rtol)·lower or ``max_pieces`` is
reached. ``lower`` is |f − net| at a recorded witness point, enclosed in a ball: a value the error
attains, not a sample of it.

The network arrives as plain numbers (``Description``): no torch here. Deeper piecewise-polynomial
networks (knots at roots of polynomials) and other activations are refused with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import math
import time
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from theory.activation import relu
from theory.network import Affine, Network
from theory.pl.propagation import network_to_pl
from theory.polynomial import AtomPoly, Poly
from theory.sobolev.certified_error import AtomBalls, Interval, enclose_region, pieces, tighten
from theory.sobolev.jets import lower, upper
from theory.sobolev.piece_jets import compile_piece
from theory.sobolev.target import SobolevTarget


@dataclass(frozen=True)
class Layer:
    """One affine map (W is fan_in × fan_out, floats or rationals) and, after a hidden one, each unit's
    activation as two polynomials in z (ascending coefficients): for z ≥ 0 and for z < 0."""

    W: list
    b: list
    pieces: list[tuple[list, list]] | None = None


@dataclass(frozen=True)
class Description:
    """A trained network as numbers: Σ_k scale_k · net_k(2x − 1) over stages, every stage one MLP;
    ``piecewise_linear``: its activation is ReLU, so any depth is exact (``theory.pl``)."""

    activation: str
    piecewise_linear: bool
    stages: tuple[tuple[Fraction, tuple[Layer, ...]], ...]


@dataclass(frozen=True)
class TrainedSup:
    """lower ≤ sup_{[0,1]} |f − net| ≤ upper, exact rationals; |f − net|(witness) ≥ lower is certified."""

    lower: Fraction
    upper: Fraction
    witness: Fraction
    pieces: int
    seconds: float

    @property
    def gap(self) -> float:
        """upper / lower − 1."""
        return float(self.upper / self.lower) - 1 if self.lower else math.inf

    def as_dict(self) -> dict:
        return {
            "certified_lower": float(self.lower),
            "certified_upper": float(self.upper),
            "witness": float(self.witness),
            "pieces": self.pieces,
            "gap": self.gap,
            "seconds": self.seconds,
        }


def certified_sup(
    target: SobolevTarget, net: Description, rtol: Fraction = Fraction(1, 100), max_pieces: int = 200_000
) -> TrainedSup:
    """[lower, upper] of sup_{[0,1]} |f − net| (module docstring); f from ``target`` (d = 1)."""
    if target.d != 1:
        raise ValueError(f"certified errors of trained networks are built for d = 1, not d = {target.d}")
    start = time.perf_counter()
    f, atoms, n = compile_piece(target), AtomBalls(), target.n
    polys = piecewise_polynomial(net)
    K = max((q.degree for _, _, p in polys for q in p.parts.values()), default=1) or 1

    starts = [u for u, _, _ in polys]

    def enclose(piece: Interval) -> tuple:
        """(lower, upper, witness) on ``piece``: every region of it, with the network's polynomial there."""
        p = polys[bisect_right(starts, piece[0]) - 1][2]
        best_lo, best_hi, at = None, None, None
        for region in pieces(target.lifted, (piece,)):
            lo, hi = enclose_region(f, region, p, K, n, atoms)
            if not hi.is_finite():
                raise ValueError(f"no finite enclosure of |f - net| on [{piece[0]}, {piece[1]}]")
            if best_lo is None or lo.lower() > best_lo.lower():
                best_lo, at = lo, region.centre[0]
            best_hi = hi if best_hi is None or hi.upper() > best_hi.upper() else best_hi
        return best_lo, best_hi, at

    live = tighten([(u, v) for u, v, _ in polys], enclose, rtol, max_pieces)
    witness = max(live, key=lambda k: lower(live[k][0]))
    top = max(upper(e[1]) for e in live.values())
    lo = max(lower(live[witness][0]), Fraction(0))
    return TrainedSup(lo, top, live[witness][2], len(live), time.perf_counter() - start)


def normalised_target(text: str, scale: Fraction) -> SobolevTarget:
    """f/scale on [0, 1] (a fit's target in the units its network computes), f certified in W^{n,∞} for the
    largest n ≤ 2 that holds (n = 2 gives the enclosure a second-order fallback at kinks)."""
    try:
        base = SobolevTarget.parse(text, 1, 2)
    except ValueError:
        base = SobolevTarget.parse(text, 1, 1)  # a refusal here is the user's one line
    factor = sp.Rational(scale.denominator, scale.numerator)
    return dataclasses.replace(base, text=f"({text})/{float(scale):.6g}", expr=base.expr * factor)


def piecewise_polynomial(net: Description) -> list[tuple[Fraction, Fraction, AtomPoly]]:
    """The network on [0, 1] as (u, v, p): p an exact polynomial on [u, v], the pieces in order."""
    stages = [_stage(net, layers) for _, layers in net.stages]
    breaks = sorted({x for stage in stages for u, v, _ in stage for x in (u, v)})
    out = []
    for u, v in zip(breaks, breaks[1:], strict=False):
        total = Poly(1)
        for (scale, _), stage in zip(net.stages, stages, strict=True):
            p = next(q for a, b, q in stage if a <= u and v <= b)
            total = total + p.scale(scale)
        poly = AtomPoly(1)
        poly.add(1, total)
        out.append((u, v, poly))
    return out


def _stage(net: Description, layers: tuple[Layer, ...]) -> list[tuple[Fraction, Fraction, Poly]]:
    if len(layers) == 2 and layers[0].pieces is not None:
        return _one_hidden_layer(*layers)
    if net.piecewise_linear:
        return _relu_network(layers)
    raise ValueError(
        "certified errors of trained networks cover one hidden layer of a piecewise-polynomial activation "
        f"and ReLU networks of any depth; not {net.activation} at depth {len(layers) - 1}"
    )


def _one_hidden_layer(hidden: Layer, readout: Layer) -> list[tuple[Fraction, Fraction, Poly]]:
    """Σ_j c_j σ_j(z_j(x)) + c_0 with z_j = w_j(2x − 1) + b_j: one polynomial between consecutive knots."""
    assert hidden.pieces is not None
    w = [Fraction(v) for v in hidden.W[0]]
    b = [Fraction(v) for v in hidden.b]
    c = [Fraction(row[0]) for row in readout.W]
    z = [Poly.affine([2 * wj], bj - wj) for wj, bj in zip(w, b, strict=True)]
    knots = {Fraction(0), Fraction(1)} | {(wj - bj) / (2 * wj) for wj, bj in zip(w, b, strict=True) if wj}
    xs = sorted(k for k in knots if 0 <= k <= 1)
    out = []
    for u, v in zip(xs, xs[1:], strict=False):
        mid = (u + v) / 2
        total = Poly.constant(1, Fraction(readout.b[0]))
        for j, zj in enumerate(z):
            right, left = hidden.pieces[j]
            total = total + _compose(right if zj([mid]) >= 0 else left, zj).scale(c[j])
        out.append((u, v, total))
    return out


def _compose(coeffs: list, z: Poly) -> Poly:
    """Σ_i coeffs[i]·z^i (Horner)."""
    out = Poly.constant(1, 0)
    for c in reversed(coeffs):
        out = out * z + Poly.constant(1, Fraction(c))
    return out


def _relu_network(layers: tuple[Layer, ...]) -> list[tuple[Fraction, Fraction, Poly]]:
    """A ReLU network of any depth, exactly piecewise linear on [0, 1] (``theory.pl``); x enters as 2x − 1."""
    affines = []
    for k, layer in enumerate(layers):
        W = [[Fraction(v) for v in row] for row in layer.W]
        b = [Fraction(v) for v in layer.b]
        if k == 0:  # fold x ↦ 2x − 1 into the first layer
            b = [bj - sum(W[i][j] for i in range(len(W))) for j, bj in enumerate(b)]
            W = [[2 * v for v in row] for row in W]
        affines.append(Affine.from_dense([list(col) for col in zip(*W, strict=True)], b))
    net = Network(affines, [[relu()] * a.out_dim for a in affines[:-1]])
    (pl,) = network_to_pl(net, 0, 1)
    out = []
    for x0, x1, y0, y1 in zip(pl.xs, pl.xs[1:], pl.ys, pl.ys[1:], strict=False):
        slope = (y1 - y0) / (x1 - x0)
        out.append((x0, x1, Poly.affine([slope], y0 - slope * x0)))
    return out
