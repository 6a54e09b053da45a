"""Target strings → expression trees, with every limit checked before anything is computed.

Allowed: numbers (decimal literals exactly: ``0.1`` is 1/10), ``pi`` and ``E``, the variables
``x0 … x{d-1}`` (also ``x, y, z, w`` for d ≤ 4), ``+ - * / ** ^`` and the functions of
:data:`FUNCTIONS`, each with one argument. Nothing reaches ``eval``, ``sympify`` or ``lambdify``.
Size, nesting, exponents and the bit length of every exact number are bounded while the tree is
built, and arithmetic on numbers is folded exactly, so no string can hang the parser (``9**9**9**9``
is refused, not evaluated). Every refusal is an :class:`ExpressionError` of one line.
"""

from __future__ import annotations

import ast
import math
import warnings
from fractions import Fraction

from grammar.tree import BinOp, Call, Const, ExpressionError, Neg, Node, Num, Var, show, variables

FUNCTIONS = ("sin", "cos", "tan", "exp", "log", "sqrt", "sinh", "cosh", "tanh", "atan", "abs")
CONSTANTS = {"pi": math.pi, "E": math.e}
ALIASES = ("x", "y", "z", "w")
MAX_LENGTH = 1000  # the catalogue's spline targets, written exactly, need ~900
MAX_NODES = 256  # syntax-tree nodes
MAX_DEPTH = 40  # nesting of the syntax tree
MAX_EXPONENT = 64  # |numeric exponent|: larger ones only make the back ends slow
MAX_BITS = 4096  # numerator + denominator bits of any exact number built along the way
MAX_D = 16


def parse(text: str, d: int) -> Node:
    """Parse ``text`` into a tree in x0..x{d-1} (d = 0: a constant); refuse anything else."""
    if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= MAX_D:
        raise ExpressionError(f"dimension d must be an integer in 0..{MAX_D}, got {d!r}")
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError(f"a target must be a non-empty string, got {text!r}")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"target longer than {MAX_LENGTH} characters ({len(text)})")
    if "#" in text:  # Python would drop the rest as a comment: what is parsed must be what is written
        raise ExpressionError(f"malformed target {text!r}: '#' is not allowed")
    try:
        with warnings.catch_warnings():  # e.g. an invalid escape in a string literal, which is refused anyway
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as err:  # ValueError: e.g. a null byte
        reason = err.msg if isinstance(err, SyntaxError) else str(err)
        raise ExpressionError(f"malformed target {text!r}: {reason}") from None
    nodes = sum(1 for _ in ast.walk(tree))
    if nodes > MAX_NODES:
        raise ExpressionError(f"target {text!r} has {nodes} syntax nodes (at most {MAX_NODES})")
    if _depth(tree.body) > MAX_DEPTH:
        raise ExpressionError(f"target {text!r} is nested more than {MAX_DEPTH} deep")
    names = {f"x{k}": k for k in range(d)}
    if 1 <= d <= len(ALIASES):
        names |= {ALIASES[k]: k for k in range(d)}
    try:
        return _Builder(names, text).build(tree.body)
    except (ZeroDivisionError, OverflowError, RecursionError, MemoryError) as err:
        raise ExpressionError(f"target {text!r}: {type(err).__name__}") from None


def _depth(node: ast.AST) -> int:
    depth, frontier = 0, [node]
    while frontier:
        depth += 1
        frontier = [c for n in frontier for c in ast.iter_child_nodes(n)]
    return depth


def _bits(node: Node) -> int:
    """Bit length of an exact number, 0 for anything else."""
    if isinstance(node, Num):
        return node.value.numerator.bit_length() + node.value.denominator.bit_length()
    return 0


def constant_value(node: Node) -> float:
    """The float value of a tree without variables (for bounding exponents such as ``2**pi``)."""
    match node:
        case Num(value=q):
            return float(q)
        case Const(name=n):
            return CONSTANTS[n]
        case Neg(arg=a):
            return -constant_value(a)
        case BinOp(op=op, left=a, right=b):
            u, v = constant_value(a), constant_value(b)
            if op == "+":
                return u + v
            if op == "-":
                return u - v
            if op == "*":
                return u * v
            return u / v if op == "/" else u**v
        case Call(name=n, arg=a):
            u = constant_value(a)
            return abs(u) if n == "abs" else getattr(math, n)(u)
    raise TypeError(f"not an expression node: {node!r}")


class _Builder:
    def __init__(self, names: dict[str, int], text: str):
        self.names, self.text = names, text

    def fail(self, why: str) -> ExpressionError:
        return ExpressionError(f"target {self.text!r}: {why}")

    def number(self, value: Fraction) -> Num:
        node = Num(value)
        if _bits(node) > MAX_BITS:
            raise self.fail(f"a number with more than {MAX_BITS} bits")
        return node

    def build(self, node: ast.AST) -> Node:
        match node:
            case ast.Constant(value=bool() | None | str() | bytes() | complex()):
                raise self.fail(f"{type(node.value).__name__} literal {node.value!r} is not allowed")
            case ast.Constant(value=int() as v):
                if v.bit_length() > MAX_BITS:
                    raise self.fail(f"a number with more than {MAX_BITS} bits")
                return self.number(Fraction(v))
            case ast.Constant(value=float() as v):
                if not math.isfinite(v):
                    raise self.fail(f"literal {v!r} is not finite")
                return self.number(Fraction(repr(v)))  # shortest decimal of the literal: 0.1 -> 1/10
            case ast.Name(id=name):
                if name in self.names:
                    return Var(self.names[name])
                if name in CONSTANTS:
                    return Const(name)
                allowed = ", ".join([*self.names, *CONSTANTS]) or "no variables"
                raise self.fail(f"unknown symbol {name!r} (allowed: {allowed})")
            case ast.UnaryOp(op=ast.USub(), operand=a):
                inner = self.build(a)
                return Num(-inner.value) if isinstance(inner, Num) else Neg(inner)
            case ast.UnaryOp(op=ast.UAdd(), operand=a):
                return self.build(a)
            case ast.BinOp(left=a, op=op, right=b):
                return self.binop(op, self.build(a), self.build(b))
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]) if fname in FUNCTIONS:
                if len(args) != 1 or isinstance(args[0], ast.Starred):
                    raise self.fail(f"{fname} takes one argument, got {len(args)}")
                return Call(fname, self.build(args[0]))
            case ast.Call(func=ast.Name(id=fname)):
                raise self.fail(f"unknown function {fname!r} (allowed: {', '.join(FUNCTIONS)}, one argument each)")
            case _:
                raise self.fail(
                    f"{type(node).__name__} is not allowed (only numbers, variables, + - * / ** and functions)"
                )

    def binop(self, op: ast.operator, left: Node, right: Node) -> Node:
        symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "^", ast.BitXor: "^"}.get(type(op))
        if symbol is None:
            raise self.fail(f"operator {type(op).__name__} is not allowed")
        if symbol == "^":
            return self.power(left, right)
        if symbol in "*/" and _bits(left) + _bits(right) > MAX_BITS:
            raise self.fail(f"a number with more than {MAX_BITS} bits")
        if symbol == "/" and isinstance(right, Num) and right.value == 0:
            raise self.fail("division by zero")
        if isinstance(left, Num) and isinstance(right, Num):  # exact folding, bounded by number()
            a, b = left.value, right.value
            return self.number({"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else a}[symbol])
        return BinOp(symbol, left, right)

    def power(self, base: Node, exponent: Node) -> Node:
        if isinstance(exponent, Num):
            e = exponent.value
            if abs(e) > MAX_EXPONENT or e.denominator > MAX_EXPONENT:
                raise self.fail(f"exponent {e} outside the limit (|p/q| <= {MAX_EXPONENT}, q <= {MAX_EXPONENT})")
            if _bits(base) * abs(e.numerator) > MAX_BITS:
                raise self.fail(f"a number with more than {MAX_BITS} bits")
            if isinstance(base, Num) and base.value == 0 and e <= 0:
                raise self.fail("0 to a non-positive power")
            if isinstance(base, Num) and e.denominator == 1:
                return self.number(base.value ** int(e))
        elif not variables(exponent):  # e.g. 2**pi: bound it by its value
            try:
                value = constant_value(exponent)
            except (ValueError, OverflowError, ZeroDivisionError, TypeError):
                value = math.inf
            if not isinstance(value, float) or not math.isfinite(value) or abs(value) > MAX_EXPONENT:
                raise self.fail(f"exponent {show(exponent)} outside the limit (|e| <= {MAX_EXPONENT})")
            if isinstance(base, Num) and base.value == 0:
                raise self.fail("0 to a symbolic power")
        return BinOp("^", base, exponent)
