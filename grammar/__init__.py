"""grammar: the one language of target strings, below both halves of the lab (docs/theory.md §2).

``parse("sin(pi*x0)*exp(x1)", d=2)`` reads a string with Python's ``ast`` and builds a small
expression tree (grammar/tree.py) of numbers, constants, variables, + − × ÷ ^ and eleven functions,
refusing anything else with one line. It imports neither SymPy nor torch: theory/expression.py turns a
tree into SymPy, approx/fitting/expression.py into torch operations, and grammar/intervals.py encloses
it over boxes (certified, with mpmath's interval arithmetic).
"""

from grammar.parser import ALIASES, FUNCTIONS, MAX_BITS, MAX_D, MAX_DEPTH, MAX_EXPONENT, MAX_LENGTH, MAX_NODES, parse
from grammar.tree import BinOp, Call, Const, ExpressionError, Neg, Node, Num, Var

__all__ = [
    "ALIASES",
    "FUNCTIONS",
    "MAX_BITS",
    "MAX_D",
    "MAX_DEPTH",
    "MAX_EXPONENT",
    "MAX_LENGTH",
    "MAX_NODES",
    "BinOp",
    "Call",
    "Const",
    "ExpressionError",
    "Neg",
    "Node",
    "Num",
    "Var",
    "parse",
]
