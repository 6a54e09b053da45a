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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

from flint import arb

from theory.polynomial import ONE, AtomPoly
from theory.sobolev.jets import Jet, ball, box_ball, compile_jet, constant_ball, lower, point_jets, upper
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

    def __init__(self):
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
    """[lower, upper] of sup_{[0,1]^d} |f − p| over the given cells (module docstring)."""
    atoms = atoms or AtomBalls()
    d, K = target.d, degree
    f = compile_jet(target.expr, target.symbols)
    lo_best, hi_best, worst, count = ball(0), ball(0), None, 0
    for box, poly in cells:
        count += 1
        centre = [(a + b) / 2 for a, b in box]
        radius = [ball((b - a) / 2) for a, b in box]
        g = f(point_jets(d, K, centre)) - _shifted(poly, centre, d, K, atoms)
        top = f([Jet.variable(d, K + 1, k, box_ball(a, b)) for k, (a, b) in enumerate(box)])
        hi = abs(g.c[0])
        for beta, c in g.coefficients().items():
            if any(beta):
                hi += abs(c) * _power(radius, beta)
        for beta, c in top.coefficients().items():
            if sum(beta) == K + 1:
                hi += abs(c) * _power(radius, beta)
        lo = abs(g.c[0])
        if lo.lower() > lo_best.lower():
            lo_best = lo
        if hi.upper() > hi_best.upper():
            hi_best, worst = hi, box
    return SupError(max(lower(lo_best), Fraction(0)), upper(hi_best), count, worst)


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
