"""The one grammar for target strings (docs/theory.md §2): ``"sin(pi*x0)*exp(x1)"`` → a SymPy expression.

Every user-written formula in the lab (rates configs, ``polylab construct``, notebooks, the Python
API, exact weights such as ``"1/3"``) is read here. The string is parsed by Python's ``ast`` into a
syntax tree, and only these nodes are turned into SymPy objects:

- numbers (decimal literals exactly: ``0.1`` is 1/10), the constants ``pi`` and ``E``;
- the variables ``x0 … x{d-1}`` (also ``x, y, z, w`` for d ≤ 4);
- ``+ - * / ** ^`` and the functions of :data:`FUNCTIONS`, each with one argument.

Nothing reaches ``eval``, ``sympify`` or ``lambdify``. Size, nesting, exponents and the bit length of
every exact number are bounded *before* SymPy computes anything, so no string can hang the parser
(``9**9**9**9`` is refused, not evaluated). Every refusal is an :class:`ExpressionError` whose message
is one line.
"""

from __future__ import annotations

import ast
import warnings

import sympy as sp

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
ALIASES = ("x", "y", "z", "w")
MAX_LENGTH = 500
MAX_NODES = 256  # syntax-tree nodes
MAX_DEPTH = 40  # nesting of the syntax tree
MAX_EXPONENT = 64  # |numeric exponent|: larger ones only make SymPy slow
MAX_BITS = 4096  # numerator + denominator bits of any exact number built along the way
MAX_D = 16


class ExpressionError(ValueError):
    """A target string outside the grammar or its limits (a user error: one line)."""


def variables(d: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(f"x{k}", real=True) for k in range(d))


def parse(text: str, d: int) -> sp.Expr:
    """Parse ``text`` into a SymPy expression in x0..x{d-1} (d = 0: a constant); refuse anything else."""
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
    names = {f"x{k}": s for k, s in enumerate(variables(d))}
    if 1 <= d <= len(ALIASES):
        names |= {ALIASES[k]: names[f"x{k}"] for k in range(d)}
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


def _bits(value: sp.Expr) -> int:
    """Bit length of an exact rational, 0 for anything else (symbols, irrational constants)."""
    if value.is_Rational:
        return int(value.p).bit_length() + int(value.q).bit_length()
    return 0


class _Builder:
    def __init__(self, names: dict[str, sp.Symbol], text: str):
        self.names, self.text = names, text

    def fail(self, why: str) -> ExpressionError:
        return ExpressionError(f"target {self.text!r}: {why}")

    def number(self, value: sp.Expr) -> sp.Expr:
        if _bits(value) > MAX_BITS:
            raise self.fail(f"a number with more than {MAX_BITS} bits")
        return value

    def build(self, node: ast.AST) -> sp.Expr:
        match node:
            case ast.Constant(value=bool() | None | str() | bytes() | complex()):
                raise self.fail(f"{type(node.value).__name__} literal {node.value!r} is not allowed")
            case ast.Constant(value=int() as v):
                return self.number(sp.Integer(v))
            case ast.Constant(value=float() as v):
                if v != v or v in (float("inf"), float("-inf")):
                    raise self.fail(f"literal {v!r} is not finite")
                return self.number(sp.Rational(repr(v)))  # shortest decimal of the literal: 0.1 -> 1/10
            case ast.Name(id=name):
                if name in self.names:
                    return self.names[name]
                if name in CONSTANTS:
                    return CONSTANTS[name]
                allowed = ", ".join([*self.names, *CONSTANTS]) or "no variables"
                raise self.fail(f"unknown symbol {name!r} (allowed: {allowed})")
            case ast.UnaryOp(op=ast.USub(), operand=a):
                return -self.build(a)
            case ast.UnaryOp(op=ast.UAdd(), operand=a):
                return self.build(a)
            case ast.BinOp(left=a, op=op, right=b):
                return self.binop(op, self.build(a), self.build(b))
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]) if fname in FUNCTIONS:
                if len(args) != 1 or isinstance(args[0], ast.Starred):
                    raise self.fail(f"{fname} takes one argument, got {len(args)}")
                return FUNCTIONS[fname](self.build(args[0]))
            case ast.Call(func=ast.Name(id=fname)):
                raise self.fail(f"unknown function {fname!r} (allowed: {', '.join(FUNCTIONS)}, one argument each)")
            case _:
                raise self.fail(
                    f"{type(node).__name__} is not allowed (only numbers, variables, + - * / ** and functions)"
                )

    def binop(self, op: ast.operator, left: sp.Expr, right: sp.Expr) -> sp.Expr:
        if isinstance(op, ast.Add):
            return self.number(left + right)
        if isinstance(op, ast.Sub):
            return self.number(left - right)
        if isinstance(op, ast.Mult):
            if _bits(left) + _bits(right) > MAX_BITS:
                raise self.fail(f"a number with more than {MAX_BITS} bits")
            return left * right
        if isinstance(op, ast.Div):
            if right == 0:
                raise self.fail("division by zero")
            if _bits(left) + _bits(right) > MAX_BITS:
                raise self.fail(f"a number with more than {MAX_BITS} bits")
            return left / right
        if isinstance(op, ast.Pow | ast.BitXor):
            return self.power(left, right)
        raise self.fail(f"operator {type(op).__name__} is not allowed")

    def power(self, base: sp.Expr, exponent: sp.Expr) -> sp.Expr:
        if exponent.is_Rational:
            if abs(exponent) > MAX_EXPONENT or int(exponent.q) > MAX_EXPONENT:
                raise self.fail(f"exponent {exponent} outside the limit (|p/q| <= {MAX_EXPONENT}, q <= {MAX_EXPONENT})")
            if _bits(base) * abs(int(exponent.p)) > MAX_BITS:
                raise self.fail(f"a number with more than {MAX_BITS} bits")
            if base == 0 and exponent <= 0:
                raise self.fail("0 to a non-positive power")
        elif exponent.is_number:  # e.g. 2**pi: bound it by its value
            if not exponent.is_real or abs(float(exponent)) > MAX_EXPONENT:
                raise self.fail(f"exponent {exponent} outside the limit (|e| <= {MAX_EXPONENT})")
            if base == 0:
                raise self.fail("0 to a symbolic power")
        return base**exponent
