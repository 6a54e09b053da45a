"""The grammar's SymPy back end (docs/theory.md §2): ``"sin(pi*x0)*exp(x1)"`` → a SymPy expression.

Every user-written formula in theory/ (rates targets, ``polylab construct``, notebooks, exact weights
such as ``"1/3"``) is parsed by :mod:`grammar` into a tree whose limits are already checked, and
only that tree is turned into SymPy objects here. Nothing reaches ``eval``, ``sympify`` or
``lambdify``.
"""

from __future__ import annotations

import sympy as sp

from grammar import MAX_BITS, BinOp, Call, Const, ExpressionError, Neg, Node, Num, Var
from grammar import parse as parse_tree

#: function name in a target string -> SymPy function
FUNCTIONS = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "tanh": sp.tanh,
    "atan": sp.atan,
    "abs": sp.Abs,
}
CONSTANTS = {"pi": sp.pi, "E": sp.E}

__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_BITS", "ExpressionError", "parse", "to_sympy", "variables"]


def variables(d: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"x{k}", real=True) for k in range(d))


def parse(text: str, d: int) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in x0..x{d-1} (d = 0: a constant); refuse anything else."""
    return to_sympy(parse_tree(text, d), variables(d))


def to_sympy(node: Node, symbols: tuple[sp.Symbol, ...]) -> sp.Expr:
    """The SymPy expression of a grammar tree (SymPy's automatic simplification applies)."""
    match node:
        case Num(value=v):
            return sp.Rational(v.numerator, v.denominator)
        case Const(name=name):
            return CONSTANTS[name]
        case Var(index=k):
            return symbols[k]
        case Neg(arg=a):
            return -to_sympy(a, symbols)
        case Call(name=name, arg=a):
            return FUNCTIONS[name](to_sympy(a, symbols))
        case BinOp(op=op, left=a, right=b):
            u, v = to_sympy(a, symbols), to_sympy(b, symbols)
            if op == "+":
                return u + v
            if op == "-":
                return u - v
            if op == "*":
                return u * v
            return u / v if op == "/" else u**v
    raise TypeError(f"not an expression node: {node!r}")
