"""The Taylor coefficients of Theorem 3 checked on a second, independent path (docs/theory.md §5.2).

``TaylorTable`` differentiates the target symbolically (SymPy) and keeps each c_{m,α} = D^α f(m/N)/α!
as an exact node. Here the same numbers come from jets (``theory.sobolev.jets``): the grammar's expression
tree is walked in truncated Taylor arithmetic at each node m/N, with no symbolic derivative. A
polynomial target with rational coefficients is compared exactly; otherwise each table entry is
enclosed from its own definition and must overlap the jet's ball, whose radius is reported. The jets
read f as written, |u| by the sign of u at the node, so they do not trust the kinks' lifted form; at a
node on a kink (§5.4) the one-sided jet of every side is compared.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction

from theory.intervals import NotSmooth
from theory.sobolev.certified_error import AtomBalls
from theory.sobolev.jets import Irrational, ball, compile_jet, point_jets
from theory.sobolev.piece_jets import compile_piece
from theory.sobolev.taylor import TaylorTable


@dataclass(frozen=True)
class CoefficientCheck:
    """Every Taylor coefficient c_{m,α} against its jet: ``checked`` compared, ``examples`` of those that
    differ (up to a limit), exactly or within balls of ``radius``."""

    checked: int
    differ: int
    examples: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]
    exact: bool
    radius: float

    @property
    def holds(self) -> bool:
        return self.differ == 0


def compare(table: TaylorTable, atoms: AtomBalls | None = None, limit: int = 5) -> CoefficientCheck:
    """Every c_{m,α} of ``table`` against the jet of f at m/N; ``examples``: up to ``limit`` (m, α) that differ."""
    atoms = atoms or AtomBalls()
    try:  # exactly, for a rational polynomial target (on each piece); else in balls
        return _compare(table, atoms, limit, exact=True)
    except Irrational:
        return _compare(table, atoms, limit, exact=False)


def _compare(table: TaylorTable, atoms: AtomBalls, limit: int, exact: bool) -> CoefficientCheck:
    target = table.target
    d, K = target.d, target.n - 1
    nodes = list(itertools.product(range(table.N + 1), repeat=d))
    f, sides = compile_jet(target.expr, target.symbols, exact=exact), compile_piece(target, exact=exact)
    differ, radius, checked = [], 0.0, 0
    for m in nodes:
        x = point_jets(d, K, table.node(m), exact=exact)
        try:  # f as written (|u| by the sign of u at the node): independent of the kinks' lifted form
            jets = [f(x).coefficients()]
        except NotSmooth:  # a node on a kink: every side's one-sided jet must agree with the coefficient
            jets = [sides(x, signs).coefficients() for signs in target.signs_at(table.node(m))]
        for alpha in table.alphas:
            c = table.exact(m, alpha)
            for jet in jets:  # at a node on a kink, every side's jet must agree with the one coefficient
                ref = jet[alpha]
                checked += 1
                if exact:  # the table may keep a rational value as a node (a rational function's derivative)
                    v = c if isinstance(c, int | Fraction) else c.doit()
                    same = Fraction(v) == ref if isinstance(v, int | Fraction) else bool(v.is_Rational and v == ref)
                else:
                    enclosure = ball(c) if isinstance(c, int | Fraction) else atoms[c]
                    same = enclosure.overlaps(ref)
                    radius = max(radius, float(enclosure.rad()), float(ref.rad()))
                if not same:
                    differ.append((m, alpha))
    return CoefficientCheck(checked, len(differ), tuple(differ[:limit]), exact, radius)
