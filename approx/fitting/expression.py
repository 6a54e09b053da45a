"""The grammar's torch back end: targets from strings such as ``"exp(sin(pi*x0) + x1**2)"`` on [0,1]^d.

The string is parsed by :mod:`grammar` (limits checked, one-line refusals), certified finite on the
closed cube by interval arithmetic (grammar/intervals.py: ``1/x0`` is refused although no grid point
sees its pole), and compiled node by node into torch operations: no ``lambdify``, no generated code.
Two float checks then refuse targets no fit can mean anything on (docs/theory.md §2):

- *zero up to rounding*: on every point of the grid |f| is at most :data:`CANCELLATION` times its
  size, the value with every sum taken over absolute values (``sin(x0)**2 + cos(x0)**2 - 1``: size 2);
- *not resolved*: sup |f| on the grid changes by more than :data:`RESOLVED` when the grid is refined
  eight-fold (``x0**262144``, whose peak at x0 = 1 is narrower than the grid, and which underflows
  to 0 almost everywhere).
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from approx.fitting.targets import Target, dense_grid, from_callable, sample
from grammar import MAX_D, BinOp, Call, Const, ExpressionError, Neg, Node, Num, Var
from grammar import parse as parse_tree
from grammar.intervals import certify_finite

#: |f| ≤ this × its size (sums of absolute values) everywhere: f is zero up to rounding
CANCELLATION = 2**10 * torch.finfo(torch.float64).eps
#: sup |f| on a grid and on one eight times finer differ by more than this factor: the grid misses f's peak
RESOLVED = 1.5
_UNARY = {
    "sin": torch.sin,
    "cos": torch.cos,
    "tan": torch.tan,
    "exp": torch.exp,
    "log": torch.log,
    "sqrt": torch.sqrt,
    "sinh": torch.sinh,
    "cosh": torch.cosh,
    "tanh": torch.tanh,
    "atan": torch.atan,
    "abs": torch.abs,
}


def evaluate(node: Node, x: Tensor) -> Tensor:
    """The tree at points x (N, d), in x's dtype."""
    return _evaluate(node, x)[0]


def _evaluate(node: Node, x: Tensor) -> tuple[Tensor, Tensor]:
    """(value, size) at x: size is the value with every sum taken over absolute values, so
    |value| ≪ size means the value is what is left after cancellation (a function's value starts afresh)."""
    match node:
        case Num(value=q):
            out = torch.full(x.shape[:-1], float(q), dtype=x.dtype, device=x.device)
            return out, out.abs()
        case Const(name=name):
            out = torch.full(x.shape[:-1], math.pi if name == "pi" else math.e, dtype=x.dtype, device=x.device)
            return out, out
        case Var(index=k):
            return x[..., k], x[..., k].abs()
        case Neg(arg=a):
            u, su = _evaluate(a, x)
            return -u, su
        case Call(name=name, arg=a):
            out = _UNARY[name](_evaluate(a, x)[0])
            return out, out.abs()
        case BinOp(op=op, left=a, right=b):
            (u, su), (v, sv) = _evaluate(a, x), _evaluate(b, x)
            if op in "+-":
                return (u + v if op == "+" else u - v), su + sv
            if op == "*":
                return u * v, su * sv
            if op == "/":
                return u / v, su / v.abs()
            if isinstance(b, Num) and b.value.denominator == 1 and b.value > 0:
                return u ** int(b.value), su ** int(b.value)
            out = u ** int(b.value) if isinstance(b, Num) and b.value.denominator == 1 else u**v
            return out, out.abs()
    raise TypeError(f"not an expression node: {node!r}")


def torch_function(tree: Node):
    """f(x: (N, d) float64) -> (N,) for a grammar tree."""
    return lambda x: evaluate(tree, x.to(torch.float64))


def expression_target(text: str, d: int = 1, n: int | None = None, name: str | None = None) -> Target:
    """A :class:`Target` computing ``text`` (smoothness ``n`` as the caller states; None = analytic).

    Refused with one line (:class:`~grammar.ExpressionError`): anything outside the grammar, a target
    not certified finite on [0,1]^d, zero up to rounding, or a peak the grid does not resolve.
    """
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_D:
        raise ExpressionError(f"expression target {text!r}: d must be an integer in 1..{MAX_D}, got {d!r}")
    tree = parse_tree(text, d)
    certify_finite(tree, d, text)
    check_numerically_meaningful(tree, d, text)
    target = from_callable(name or text, torch_function(tree), d, n)
    return dataclasses.replace(target, spec={"expr": text, "d": d, "n": n}, expression=text)


def check_numerically_meaningful(tree: Node, d: int, text: str) -> None:
    """Refuse a target that is zero up to rounding, or whose size the grid does not resolve."""
    points = 4096 if d == 1 else 40_000
    coarse = dense_grid(d, points)
    # eight times as many points: a finer grid up to d = 3, Sobol points above (a grid would not refine)
    fine = dense_grid(d, 8 * points) if d <= 3 else sample(d, 8 * points, "sobol", 0)
    values, size = _evaluate(tree, coarse)
    if not bool(values.isfinite().all()):
        raise ExpressionError(f"target {text!r} is not finite on the grid (overflow in float64)")
    if bool((values.abs() <= CANCELLATION * size).all()):
        raise ExpressionError(
            f"target {text!r} is zero on the grid up to rounding (|f| <= {CANCELLATION:.1e} × the sum of the "
            "absolute values of its terms, everywhere): nothing to fit"
        )
    peak, fine_peak = float(values.abs().max()), float(evaluate(tree, fine).abs().max())
    if not math.isfinite(fine_peak) or not fine_peak <= RESOLVED * peak:
        raise ExpressionError(
            f"target {text!r}: sup |f| is {peak:.3g} on {len(coarse)} grid points but {fine_peak:.3g} on "
            f"{len(fine)}: its peak is narrower than the grid (or it underflows), so no error can be measured"
        )
