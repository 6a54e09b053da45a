"""Prove a ReLU expression is identically 0 by splitting every ReLU on the sign of its argument (docs/theory.md §3).

On each branch every ``ReLU(u)`` is replaced by ``u`` (u >= 0) or ``0`` (u < 0); what is left is a
polynomial, and SymPy's ``expand`` decides whether it is 0. Innermost ReLUs are split first, so nested
networks are handled one layer at a time. ReLU(c·u) with c > 0 rational is read as c·ReLU(u), and
ReLU(u), ReLU(-u) are split together, so the branches of one neuron stay consistent.

Sound, not complete: every real input lies on some branch, so "all branches are 0" proves the
identity; a branch combination that no input reaches may show a nonzero polynomial and make the
proof fail (a false alarm, never a false pass).

API
- ``prove_zero(expr, max_branches=4096) -> CaseAnalysis`` (holds, branches, failing branch).
- ``prove_equal(lhs, rhs, ...)``: ``prove_zero(lhs - rhs)``.
- ``relu_atoms(expr)``: the innermost ``ReLU`` applications.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from theory.activation import ReLU


@dataclass(frozen=True)
class CaseAnalysis:
    holds: bool
    branches: int
    failing: str | None = None  # the sign conditions of the first branch that is not 0
    reason: str = ""

    def __bool__(self) -> bool:
        return self.holds


class _TooManyBranches(Exception):
    pass


def relu_atoms(expr: sympy.Expr) -> list[sympy.Expr]:
    """ReLU applications whose argument has no ReLU inside."""
    return sorted((a for a in expr.atoms(ReLU) if not a.args[0].has(ReLU)), key=sympy.default_sort_key)


def _split_rule(expr: sympy.Expr, atom: sympy.Expr):
    """Positive- and negative-branch substitutions for every ReLU(±c·p) that shares atom's direction p."""
    _, p = sympy.expand(atom.args[0]).as_content_primitive()
    pos, neg = {}, {}
    for other in relu_atoms(expr):
        c, q = sympy.expand(other.args[0]).as_content_primitive()
        if sympy.expand(q - p) == 0:  # other = ReLU(c p)
            pos[other], neg[other] = c * p, sympy.Integer(0)
        elif sympy.expand(q + p) == 0:  # other = ReLU(-c p)
            pos[other], neg[other] = sympy.Integer(0), -c * p
    return p, pos, neg


def prove_zero(expr: sympy.Expr, max_branches: int = 4096) -> CaseAnalysis:
    """Is ``expr`` 0 for every real value of its symbols? See the module docstring for the method."""
    count = [0]

    def walk(e: sympy.Expr, conditions: tuple[str, ...]) -> str | None:
        atoms = relu_atoms(e)
        if not atoms:
            count[0] += 1
            if count[0] > max_branches:
                raise _TooManyBranches
            return None if sympy.expand(e) == 0 else (" and ".join(conditions) or "no condition")
        p, pos, neg = _split_rule(e, atoms[0])
        for sub, cond in ((pos, f"{p} >= 0"), (neg, f"{p} < 0")):
            failing = walk(e.xreplace(sub), (*conditions, cond))
            if failing is not None:
                return failing
        return None

    try:
        failing = walk(sympy.sympify(expr), ())
    except _TooManyBranches:
        return CaseAnalysis(False, count[0], None, f"gave up after {max_branches} branches")
    return CaseAnalysis(failing is None, count[0], failing, "" if failing is None else "a branch is not 0")


def prove_equal(lhs: sympy.Expr, rhs: sympy.Expr, max_branches: int = 4096) -> CaseAnalysis:
    return prove_zero(sympy.sympify(lhs) - sympy.sympify(rhs), max_branches)
