"""The grammar's torch back end: targets from strings such as ``"exp(sin(pi*x0) + x1**2)"`` on [0,1]^d.

The string is parsed by :mod:`grammar` (limits checked, one-line refusals), certified finite on the
closed cube by interval arithmetic (grammar/intervals.py: ``1/x0`` is refused although no grid point
sees its pole), and compiled node by node into torch operations: no ``lambdify``, no generated code.
Two float checks then refuse targets no fit can mean anything on (docs/theory.md §2):

- *zero up to rounding*: on every point of the grid |f| is at most :data:`CANCELLATION` times the
  largest intermediate value it was computed from (``sin(x0)**2 + cos(x0)**2 - 1``);
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

#: |f| ≤ this × (largest intermediate |value|) everywhere: f is zero up to rounding
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


def evaluate(node: Node, x: Tensor, largest: Tensor | None = None) -> Tensor:
    """The tree at points x (N, d) in x's dtype; ``largest`` (N,) becomes the largest |value| of any node."""
    match node:
        case Num(value=q):
            out = torch.full(x.shape[:-1], float(q), dtype=x.dtype, device=x.device)
        case Const(name=name):
            out = torch.full(x.shape[:-1], math.pi if name == "pi" else math.e, dtype=x.dtype, device=x.device)
        case Var(index=k):
            out = x[..., k]
        case Neg(arg=a):
            out = -evaluate(a, x, largest)
        case Call(name=name, arg=a):
            out = _UNARY[name](evaluate(a, x, largest))
        case BinOp(op="^", left=a, right=Num(value=e)) if e.denominator == 1:
            out = evaluate(a, x, largest) ** int(e)
        case BinOp(op=op, left=a, right=b):
            u, v = evaluate(a, x, largest), evaluate(b, x, largest)
            out = u + v if op == "+" else u - v if op == "-" else u * v if op == "*" else u / v if op == "/" else u**v
        case _:
            raise TypeError(f"not an expression node: {node!r}")
    if largest is not None:
        torch.maximum(largest, out.abs(), out=largest)
    return out


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
    return dataclasses.replace(target, spec={"expr": text, "d": d, "n": n})


def check_numerically_meaningful(tree: Node, d: int, text: str) -> None:
    """Refuse a target that is zero up to rounding, or whose size the grid does not resolve."""
    points = 4096 if d == 1 else 40_000
    coarse = dense_grid(d, points)
    # eight times as many points: a finer grid up to d = 3, Sobol points above (a grid would not refine)
    fine = dense_grid(d, 8 * points) if d <= 3 else sample(d, 8 * points, "sobol", 0)
    largest = torch.zeros(len(coarse), dtype=torch.float64)
    values = evaluate(tree, coarse, largest)
    if not bool(values.isfinite().all()):
        raise ExpressionError(f"target {text!r} is not finite on the grid (overflow in float64)")
    if bool((values.abs() <= CANCELLATION * largest).all()):
        raise ExpressionError(
            f"target {text!r} is zero on the grid up to rounding or underflow (|f| <= {CANCELLATION:.1e} × "
            "the largest value it is computed from, everywhere): nothing to fit"
        )
    peak, fine_peak = float(values.abs().max()), float(evaluate(tree, fine).abs().max())
    if not math.isfinite(fine_peak) or not fine_peak <= RESOLVED * peak:
        raise ExpressionError(
            f"target {text!r}: sup |f| is {peak:.3g} on {len(coarse)} grid points but {fine_peak:.3g} on "
            f"{len(fine)}: its peak is narrower than the grid (or it underflows), so no error can be measured"
        )
