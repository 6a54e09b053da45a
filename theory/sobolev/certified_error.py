"""A certified enclosure of sup_{[0,1]^d} |f − p| for p given exactly cell by cell (docs/theory.md §5.3).

On a cell with centre c and half-widths r, and K ≥ deg p, Taylor's theorem along the segment from c
(the cell is convex) gives
    f(c + h) = Σ_{|β|≤K} D^β f(c)/β!·h^β + Σ_{|β|=K+1} D^β f(ξ)/β!·h^β,   ξ in the cell.
With g = jet_K(f, c) − p(c + ·), a polynomial in h:
    upper:  sup_cell |f − p| ≤ |g_0| + Σ_{0<|β|≤K} |g_β| r^β + Σ_{|β|=K+1} sup_cell |D^β f/β!|·r^β,
    lower:  sup_cell |f − p| ≥ |f(c) − p(c)|,
where the last sup is enclosed by the jet of f over the cell's ball (``theory.sobolev.jets``). Everything is
ball arithmetic, so max over cells of the lower and of the upper ends enclose the sup over the cube.
The coefficients of p may be exact irrational atoms (``theory.polynomial.AtomPoly``); each is
enclosed once from its own definition.

A cell that a kink of f crosses (§5.4) is split into its pieces: cut on an axis-parallel kink, or,
for an oblique one, the convex region box ∩ piece expanded from a point inside it (the radii then
reach the far edges). Near a kink f_s may have only n bounded derivatives; there the expansion is of
order n − 1 (p still of degree K) with the remainder of order n, bounded on the piece.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction

from flint import arb

from theory.intervals import NotSmooth
from theory.polynomial import ONE, AtomPoly
from theory.sobolev.jets import Jet, _layout, ball, box_ball, constant_ball, lower, point_jets, upper
from theory.sobolev.kinks import Lifted
from theory.sobolev.piece_jets import PieceJet, compile_piece
from theory.sobolev.target import SobolevTarget

Box = tuple[tuple[Fraction, Fraction], ...]


@dataclass(frozen=True)
class SupError:
    """lower ≤ sup|f − p| ≤ upper, both exact rationals; ``worst`` is the cell of the largest upper end."""

    lower: Fraction
    upper: Fraction
    cells: int
    worst: Box | None

    def as_dict(self) -> dict:
        return {
            "lower": str(self.lower),
            "upper": str(self.upper),
            "lower_float": float(self.lower),
            "upper_float": float(self.upper),
            "cells": self.cells,
        }


class AtomBalls:
    """Enclosures of the atoms of exact coefficients, computed once each."""

    def __init__(self) -> None:
        self._cache: dict[object, arb] = {}

    def __getitem__(self, atom) -> arb:
        if atom == ONE:
            return ball(1)
        if atom not in self._cache:
            self._cache[atom] = constant_ball(atom)
        return self._cache[atom]


def sup_error(
    target: SobolevTarget, cells: Iterable[tuple[Box, AtomPoly]], degree: int, atoms: AtomBalls | None = None
):
    """[lower, upper] of sup_{[0,1]^d} |f − p| over the given cells (module docstring), each cell a kink
    crosses split into its pieces (§5.4)."""
    atoms = atoms or AtomBalls()
    f = compile_piece(target)
    lo_best, hi_best, worst, count = ball(0), ball(0), None, 0
    for box, poly in cells:
        count += 1
        for region in pieces(target.lifted, box):
            lo, hi = enclose_region(f, region, poly, degree, target.n, atoms)
            if not hi.is_finite():  # a NaN ball compares False with everything: never let it pass unseen
                raise NotSmooth(f"no finite enclosure of |f - p| on {region.box}")
            if lo.lower() > lo_best.lower():
                lo_best = lo
            if hi.upper() > hi_best.upper():
                hi_best, worst = hi, box
    return SupError(max(lower(lo_best), Fraction(0)), upper(hi_best), count, worst)


@dataclass(frozen=True)
class Region:
    """box ∩ (the piece of ``signs``), with a ``centre`` in it and the radii of the box seen from there."""

    box: Box
    signs: tuple[int, ...]
    centre: tuple[Fraction, ...]

    @property
    def radius(self) -> list[arb]:
        return [ball(max(c - a, b - c)) for c, (a, b) in zip(self.centre, self.box, strict=True)]


Interval = tuple[Fraction, Fraction]


def tighten(
    pieces: Iterable[Interval], enclose: Callable[[Interval], tuple], rtol: Fraction, max_pieces: int
) -> dict[Interval, tuple]:
    """1-D: enclose every piece (``enclose`` returns lower ball, upper ball, anything), then bisect the
    pieces whose upper end could exceed (1 + rtol)·(the best lower end) until none can, or until the next
    round would pass ``max_pieces`` pieces. The maxima of the ends enclose the sup over the union."""
    live = {p: enclose(p) for p in pieces}
    while True:
        best = max(lower(e[0]) for e in live.values())
        wide = [p for p, e in live.items() if upper(e[1]) > best * (1 + rtol)]
        if not wide or len(live) + len(wide) > max_pieces:
            return live
        for u, v in wide:
            del live[(u, v)]
            m = (u + v) / 2
            live[(u, m)], live[(m, v)] = enclose((u, m)), enclose((m, v))


#: bisections of a cell that an oblique kink crosses, before its pieces are expanded from a corner
OBLIQUE_SPLITS = 6


def pieces(lifted: Lifted, box: Box, depth: int = 0) -> list[Region]:
    """The regions of ``box`` on which f is one smooth formula: the box cut at every axis-parallel kink
    that crosses it; a box that an oblique kink crosses is bisected ``OBLIQUE_SPLITS`` times (the parts
    it misses get the tight expansion), then each piece of it is expanded from its deepest corner."""
    fixed, oblique = [], []
    for i, kink in enumerate(lifted.kinks):
        lo, hi = kink.range(box)
        if lo < 0 < hi:
            k = kink.axis()
            if k is not None:  # cut the box on the plane x_k = −b/a
                at = -kink.offset / kink.normal[k]
                a, b = box[k]
                halves = [box[:k] + ((a, at),) + box[k + 1 :], box[:k] + ((at, b),) + box[k + 1 :]]
                return [r for half in halves for r in pieces(lifted, half, depth)]
            oblique.append(i)
        fixed.append((1,) if lo >= 0 else (-1,) if hi <= 0 else (1, -1))
    middle = tuple((a + b) / 2 for a, b in box)
    if not oblique:
        return [Region(box, tuple(s[0] for s in fixed), middle)]
    if depth < OBLIQUE_SPLITS:
        return [r for half in _halves(box) for r in pieces(lifted, half, depth + 1)]
    corners = [middle, *itertools.product(*box)]
    out = []
    for signs in itertools.product(*fixed):

        def inside(x, signs=signs):
            return min(s * lifted.kinks[i].at(x) for i, s in enumerate(signs) if i in oblique)

        centre = max(corners, key=inside)
        if inside(centre) > 0:
            out.append(Region(box, signs, tuple(centre)))
        elif len(oblique) > 1:
            raise ValueError(f"kinks {', '.join(str(lifted.kinks[i]) for i in oblique)} cross too close together")
    return out


def _halves(box: Box) -> list[Box]:
    k = max(range(len(box)), key=lambda i: box[i][1] - box[i][0])
    a, b = box[k]
    m = (a + b) / 2
    return [box[:k] + ((a, m),) + box[k + 1 :], box[:k] + ((m, b),) + box[k + 1 :]]


def enclose_region(f: PieceJet, region: Region, poly: AtomPoly, K: int, n: int, atoms: AtomBalls) -> tuple[arb, arb]:
    """(lower, upper) of sup |f − p| over one region: Taylor at its centre to order K with the remainder
    of order K + 1, or, where f is only W^{n,∞} there (a kink's edge), to order n − 1 with the remainder
    of order n, bounded on the piece."""
    d, box, centre, radius = len(region.box), region.box, list(region.centre), region.radius
    p = _shifted(poly, centre, d, K, atoms)
    for order in (K, n - 1) if n - 1 < K else (K,):
        try:
            g = _padded(f(point_jets(d, order, centre), region.signs), K) - p
            top = f([Jet.variable(d, order + 1, k, box_ball(a, b)) for k, (a, b) in enumerate(box)], region.signs)
        except NotSmooth:
            if order == min(K, n - 1):
                raise
            continue
        hi = abs(g.c[0])
        for beta, c in g.coefficients().items():
            if any(beta):
                hi += abs(c) * _power(radius, beta)
        for beta, c in top.coefficients().items():
            if sum(beta) == order + 1:
                hi += abs(c) * _power(radius, beta)
        return abs(g.c[0]), hi
    raise AssertionError("unreachable")


def _padded(jet: Jet, K: int) -> Jet:
    """A jet of order ≤ K as one of order K (the higher coefficients 0)."""
    if jet.K == K:
        return jet
    out = Jet.constant(jet.d, K, jet.c[0] * 0)
    index = _layout(jet.d, K)[1]
    for beta, c in jet.coefficients().items():
        out.c[index[beta]] = c
    return out


def _power(radius: list[arb], beta: tuple[int, ...]) -> arb:
    out = ball(1)
    for r, e in zip(radius, beta, strict=True):
        if e:
            out *= r**e
    return out


def _shifted(poly: AtomPoly, centre: list[Fraction], d: int, K: int, atoms: AtomBalls) -> Jet:
    """p(c + h) as a jet of degree K, its coefficients enclosed in balls."""
    coeffs: dict[tuple[int, ...], arb] = {}
    for atom, p in poly.parts.items():
        a = atoms[atom]
        for mono, q in p.terms.items():
            if sum(mono) > K:
                raise ValueError(f"the cell polynomial has degree {sum(mono)} > {K}")
            coeffs[mono] = coeffs.get(mono, ball(0)) + a * ball(q)
    xs = point_jets(d, K, centre)
    powers = [[Jet.constant(d, K, ball(1))] for _ in range(d)]
    out = Jet.constant(d, K, ball(0))
    for mono, c in coeffs.items():
        term = Jet.constant(d, K, c)
        for k, e in enumerate(mono):
            while len(powers[k]) <= e:
                powers[k].append(powers[k][-1] * xs[k])
            if e:
                term = term * powers[k][e]
        out = out + term
    return out
