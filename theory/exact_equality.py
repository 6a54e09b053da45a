"""Exact equality of two functions given as networks (docs/theory.md §3, "Verified"): points and proofs.

- At random exact rational points: both sides evaluate in exact arithmetic; the measured error is the
  exact max |f - g| (0 when equal), so a perturbed weight shows up as a nonzero rational.
- As closed forms (small networks): SymPy case analysis proves f - g = 0 on every sign branch.

API
- ``random_points(dim, n, seed, low=-1, high=1, denominator=1000)``: reproducible exact points.
- ``compare_at_points(f, g, points) -> PointCheck`` where f, g are ``Network``s or callables on a point.
- ``prove_same_function(f, g, symbols=None) -> CaseAnalysis`` (f a Network; g a Network or SymPy exprs).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy

from theory.case_analysis import CaseAnalysis, prove_equal
from theory.exact_numbers import Exact, random_rational, to_sympy
from theory.network import Network

Function = Network | Callable[[Sequence[Exact]], Sequence[Exact]]


@dataclass(frozen=True)
class PointCheck:
    holds: bool
    points: int
    max_error: Exact  # exact max over points and outputs of |f - g|

    def __bool__(self) -> bool:
        return self.holds


def random_points(dim: int, n: int, seed: int, low=-1, high=1, denominator: int = 1000) -> list[list[Fraction]]:
    rng = random.Random(seed)
    return [[random_rational(rng, low, high, denominator) for _ in range(dim)] for _ in range(n)]


def compare_at_points(f: Function, g: Function, points: Sequence[Sequence[Exact]]) -> PointCheck:
    worst: Exact = Fraction(0)
    for p in points:
        fv, gv = list(f(p)), list(g(p))
        if len(fv) != len(gv):
            raise ValueError(f"output dimensions differ: {len(fv)} vs {len(gv)}")
        for a, b in zip(fv, gv, strict=True):
            d = a - b
            if not isinstance(d, Fraction):
                d = sympy.expand(to_sympy(d))
                if d != 0 and d.equals(0):  # an algebraic zero that expand leaves unsimplified
                    d = Fraction(0)
            d = abs(d)
            if d != 0 and (worst == 0 or bool(d > worst)):
                worst = d
    return PointCheck(worst == 0, len(points), worst)


def prove_same_function(
    f: Network, g: Network | Sequence[sympy.Expr], symbols: Sequence[sympy.Symbol] | None = None
) -> CaseAnalysis:
    """Case analysis on f's closed form minus g's, output by output; branches add up."""
    if symbols is None:
        symbols = sympy.symbols(f"x1:{f.in_dim + 1}", real=True)
    lhs = f.closed_form(symbols)
    rhs = g.closed_form(symbols) if isinstance(g, Network) else list(g)
    if len(lhs) != len(rhs):
        return CaseAnalysis(False, 0, None, f"output dimensions differ: {len(lhs)} vs {len(rhs)}")
    total = 0
    for i, (a, b) in enumerate(zip(lhs, rhs, strict=True)):
        proof = prove_equal(a, b)
        total += proof.branches
        if not proof.holds:
            return CaseAnalysis(False, total, f"output {i}: {proof.failing}", proof.reason)
    return CaseAnalysis(True, total)
