"""Certified sup |f − net| for a trained network in 1-D: the error axis as a proof (docs/theory.md §8).

A trained network's float64 weights are exact rationals, so on [0, 1] a network of a piecewise-polynomial
activation (ReLU, ReLU^k, PolyReLU, a polynomial), of any depth, is an exact piecewise polynomial:
layer by layer, each unit's input z is a polynomial in x on every piece, its real roots split the piece
(``_split``), and between them σ(z) is one of σ's two polynomials composed with z. A rational root is a
cut; an irrational one is enclosed by FLINT's certified root isolation in a sliver ~2^-PREC wide, on
which the network is enclosed in interval arithmetic instead (``theory.network_intervals``).
On each exact piece [u, v] the target f (an expression, with |affine| kinks allowed: §5.4) is expanded
in ball arithmetic as in §5.3, which encloses sup_{[u,v]} |f − p| in [lower, upper]; the pieces whose
upper end could hold the maximum are bisected until upper ≤ (1 + rtol)·lower or ``max_pieces`` is
reached. ``lower`` is |f − net| at a recorded witness point, enclosed in a ball: a value the error
attains, not a sample of it.

The network arrives as plain numbers (``Description``): no torch here. Other activations (no ``pieces``)
are refused with a one-line reason.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from bisect import bisect_right
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy as sp
from flint import arb, fmpq, fmpq_poly

from theory import rounded_intervals as ri
from theory.network_intervals import IntervalNet, as_ball
from theory.polynomial import AtomPoly, Poly
from theory.sobolev.certified_error import AtomBalls, Interval, Region, enclose_region, pieces, tighten
from theory.sobolev.jets import Jet, box_ball, lower, point_jets, upper
from theory.sobolev.piece_jets import PieceJet, compile_piece
from theory.sobolev.target import SobolevTarget


@dataclass(frozen=True)
class Layer:
    """One affine map (W is fan_in × fan_out, floats or rationals) and, after a hidden one, each unit's
    activation as two polynomials in z (ascending coefficients): for z ≥ 0 and for z < 0; or, for a
    smooth activation, its name in ``function`` (``theory.smooth_activations``, or ``"polynorm"`` with
    its ``coefficients`` a_0..a_r and ``eps``)."""

    W: list
    b: list
    pieces: list[tuple[list, list]] | None = None
    function: str | None = None
    coefficients: list | None = None
    eps: float = 0.0


@dataclass(frozen=True)
class Description:
    """A trained network as numbers: Σ_k scale_k · net_k(2x − 1) over stages, every stage one MLP."""

    activation: str
    stages: tuple[tuple[Fraction, tuple[Layer, ...]], ...]


@dataclass(frozen=True)
class TrainedSup:
    """lower ≤ sup_{[0,1]^d} |f − net| ≤ upper, exact rationals; |f − net|(witness) ≥ lower is certified;
    ``pieces``: the pieces (1-D) or boxes (branch and bound) the enclosure ended with."""

    lower: Fraction
    upper: Fraction
    witness: tuple[Fraction, ...]
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
            "witness": [float(w) for w in self.witness],
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
    floats = functools.cache(lambda: IntervalNet.of(net))  # needed on slivers only
    K = max((q.degree for _, _, p in polys if p is not None for q in p.parts.values()), default=1) or 1

    starts = [u for u, _, _ in polys]

    def enclose(piece: Interval) -> tuple:
        """(lower, upper, witness) on ``piece``: every region of it, with the network's polynomial there
        (on a sliver: the network's and f's balls over the region)."""
        p = polys[bisect_right(starts, piece[0]) - 1][2]
        best_lo, best_hi, at = None, None, None
        for region in pieces(target.lifted, (piece,)):
            lo, hi = (
                enclose_region(f, region, p, K, n, atoms) if p is not None else _enclose_sliver(f, region, floats())
            )
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
    return TrainedSup(lo, top, (live[witness][2],), len(live), time.perf_counter() - start)


def _enclose_sliver(f: PieceJet, region: Region, net: IntervalNet) -> tuple[arb, arb]:
    """(lower, upper) of sup |f − net| over a narrow region: both enclosed over it, and at its centre
    (the network in outward-rounded floats: a box a few floats wide)."""
    ((a, b),), (c,) = region.box, region.centre
    box = ri.down(np.array([[float(a)], [float(c)]])), ri.up(np.array([[float(b)], [float(c)]]))
    value, _ = net.forward(box)
    over = f([Jet.variable(1, 0, 0, box_ball(a, b))], region.signs).c[0] - as_ball(value, 0)
    at = f(point_jets(1, 0, [c]), region.signs).c[0] - as_ball(value, 1)
    return abs(at), abs(over)


def normalised_target(text: str, scale: Fraction, d: int = 1) -> SobolevTarget:
    """f/scale on [0, 1]^d (a fit's target in the units its network computes), f certified in W^{n,∞} for
    the largest n ≤ 2 that holds (n = 2 gives the enclosure a second-order fallback at kinks)."""
    try:
        base = SobolevTarget.parse(text, d, 2)
    except ValueError:
        base = SobolevTarget.parse(text, d, 1)  # a refusal here is the user's one line
    factor = sp.Rational(scale.denominator, scale.numerator)
    return dataclasses.replace(base, text=f"({text})/{float(scale):.6g}", expr=base.expr * factor)


def piecewise_polynomial(net: Description) -> list[tuple[Fraction, Fraction, AtomPoly | None]]:
    """The network on [0, 1] as (u, v, p), the pieces in order: p an exact polynomial on [u, v], or None on
    a sliver that holds an irrational knot (there the network is enclosed over the sliver instead)."""
    for _, layers in net.stages:
        if any(layer.pieces is None for layer in layers[:-1]):
            raise ValueError(
                "certified errors of trained networks cover piecewise-polynomial activations (ReLU, ReLU^k, "
                f"PolyReLU, polynomials), not {net.activation}"
            )
    stages = [_propagate(layers) for _, layers in net.stages]
    breaks = sorted({x for stage in stages for u, v, _ in stage for x in (u, v)})
    out: list[tuple[Fraction, Fraction, AtomPoly | None]] = []
    for u, v in zip(breaks, breaks[1:], strict=False):
        parts = [next(q for a, b, q in stage if a <= u and v <= b) for stage in stages]
        if any(q is None for q in parts):
            out.append((u, v, None))
            continue
        total = sum((q * _fmpq(scale) for (scale, _), q in zip(net.stages, parts, strict=True)), fmpq_poly())
        poly = AtomPoly(1)
        poly.add(1, Poly(1, {(i,): _fraction(c) for i, c in enumerate(total.coeffs())}))
        out.append((u, v, poly))
    return out


def _propagate(layers: tuple[Layer, ...]) -> list[tuple[Fraction, Fraction, fmpq_poly | None]]:
    """One MLP on [0, 1], layer by layer: on every piece each unit's input z is an exact polynomial in x,
    whose real roots split the piece (a rational root exactly; an irrational one inside a sliver of width
    ~2^-PREC, from FLINT's certified isolation). Between roots each σ is one of its two polynomials, so
    σ(z) is their composition; a sliver stays one piece, marked None."""
    state: list[tuple[Fraction, Fraction, list | None]] = [(Fraction(0), Fraction(1), [fmpq_poly([-1, 2])])]
    for layer in layers:
        W, b = [[_fmpq(w) for w in row] for row in layer.W], [_fmpq(v) for v in layer.b]
        nxt: list[tuple[Fraction, Fraction, list | None]] = []
        for u, v, h in state:
            if h is None:
                nxt.append((u, v, None))
                continue
            z = [sum((hi * row[j] for hi, row in zip(h, W, strict=True)), fmpq_poly([bj])) for j, bj in enumerate(b)]
            if layer.pieces is None:
                nxt.append((u, v, z))
                continue
            kinked = [zj for zj, (r, l) in zip(z, layer.pieces, strict=True) if _trimmed(r) != _trimmed(l)]
            for a, c, exact in _split(u, v, kinked):
                if not exact:
                    nxt.append((a, c, None))
                    continue
                mid = _fmpq((a + c) / 2)
                sides = [right if zj(mid) >= 0 else left for zj, (right, left) in zip(z, layer.pieces, strict=True)]
                nxt.append((a, c, [fmpq_poly([_fmpq(q) for q in s])(zj) for zj, s in zip(z, sides, strict=True)]))
        state = nxt
    return [(u, v, h if h is None else h[0]) for u, v, h in state]


def _split(u: Fraction, v: Fraction, polys: list[fmpq_poly]) -> list[tuple[Fraction, Fraction, bool]]:
    """[u, v] cut at every real root of every poly: (a, c, exact) pieces in order, exact False on a sliver
    (a rational enclosure of an irrational root, merged with any sliver it overlaps)."""
    cuts: list[tuple[Fraction, Fraction]] = []
    for p in polys:
        if p.degree() == 1:
            r = _fraction(-p[0] / p[1])
            cuts.append((r, r))
        elif p.degree() > 1:
            for root, _ in p.complex_roots():  # real roots come with an exactly zero imaginary part
                if root.imag == 0:
                    cuts.append((lower(root.real), upper(root.real)))
    cuts = sorted((max(a, u), min(c, v)) for a, c in cuts if a <= v and c >= u)
    out: list[tuple[Fraction, Fraction, bool]] = []
    at = u
    for a, c in cuts:
        if out and not out[-1][2] and a <= out[-1][1]:  # overlaps the last sliver: widen it
            out[-1] = (out[-1][0], max(out[-1][1], c), False)
            at = out[-1][1]
            continue
        a, c = max(a, at), max(c, at)
        if a > at:
            out.append((at, a, True))
        if c > a:
            out.append((a, c, False))
        at = max(at, c)
    if v > at:
        out.append((at, v, True))
    return out


def _trimmed(coeffs: list) -> list[Fraction]:
    out = [Fraction(c) for c in coeffs]
    while out and out[-1] == 0:
        out.pop()
    return out


def _fmpq(q) -> fmpq:
    q = Fraction(q)
    return fmpq(q.numerator, q.denominator)


def _fraction(q: fmpq) -> Fraction:
    return Fraction(int(q.p), int(q.q))
