"""The expression tree of a target string: frozen nodes, exact rational numbers (grammar/parser.py builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction


class ExpressionError(ValueError):
    """A target string outside the grammar or its limits (a user error: one line)."""


@dataclass(frozen=True)
class Num:
    """An exact rational number (decimal literals are read exactly: 0.1 is 1/10)."""

    value: Fraction


@dataclass(frozen=True)
class Const:
    """``pi`` or ``E``."""

    name: str


@dataclass(frozen=True)
class Var:
    """The coordinate x_index of the point."""

    index: int


@dataclass(frozen=True)
class Neg:
    arg: Node


@dataclass(frozen=True)
class BinOp:
    """``left op right`` with op one of ``+ - * / ^``."""

    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    """A named function of one argument (grammar.parser.FUNCTIONS)."""

    name: str
    arg: Node


Node = Num | Const | Var | Neg | BinOp | Call


def variables(node: Node) -> set[int]:
    """The indices of the coordinates ``node`` reads."""
    match node:
        case Var(index=k):
            return {k}
        case Neg(arg=a) | Call(arg=a):
            return variables(a)
        case BinOp(left=a, right=b):
            return variables(a) | variables(b)
    return set()


def show(node: Node) -> str:
    """The tree as a string the grammar reads back to the same tree (for messages and names)."""
    match node:
        case Num(value=v):
            return str(v) if v >= 0 else f"({v})"
        case Const(name=n):
            return n
        case Var(index=k):
            return f"x{k}"
        case Neg(arg=a):
            return f"(-{show(a)})"
        case BinOp(op=op, left=a, right=b):
            return f"({show(a)} {'**' if op == '^' else op} {show(b)})"
        case Call(name=n, arg=a):
            return f"{n}({show(a)})"
    raise TypeError(f"not an expression node: {node!r}")
