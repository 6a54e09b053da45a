"""The one target check of ``polylab fit``, ``rates`` and ``construct`` (docs/theory.md §2, §5).

A target string passes, in order: the grammar and its limits (grammar/parser.py); finiteness on the
closed cube, certified by interval arithmetic (grammar/intervals.py); the float checks of
approx/fitting/expression.py (zero up to rounding, overflow or a peak the grid misses); and, when a
smoothness n is stated, the W^{n,∞} certificate that Theorem 3's construction uses
(theory/sobolev/target.py), so a rate's theory slope −n/d is never drawn for a claim no one checked.
Every refusal is one line.
"""

from __future__ import annotations

from approx.fitting.expression import expression_target
from approx.fitting.targets import Target
from experiments.user_errors import user_input
from theory.sobolev.target import SobolevTarget


def expression(text: str, d: int, n: int | None = None, name: str | None = None) -> Target:
    """The torch target of ``text``; with ``n`` (≥ 1), only if f ∈ W^{n,∞}([0,1]^d) is certified."""
    with user_input():
        target = expression_target(text, d, n, name)
        if n:
            sobolev(text, d, n)
    return target


def sobolev(text: str, d: int, n: int) -> SobolevTarget:
    """The exact target of Theorem 3, certified in W^{n,∞}([0,1]^d), after the same float checks as a fit's."""
    with user_input():
        expression_target(text, d)  # overflow and degenerate targets are refused before any exact work
        return SobolevTarget.parse(text, d, n)
