"""Targets from expression strings, e.g. ``"exp(sin(pi*x0) + x1**2)"`` on [0,1]^d.

The string is read by the lab's one grammar (:mod:`theory.expression`), certified finite on the
closed cube by interval arithmetic (:func:`theory.intervals.certify_finite`, so ``1/x0`` is refused
although no grid point sees its pole), and compiled here into torch operations by walking the
SymPy tree: no ``lambdify``, no generated code. approx/ receives a plain callable and never sees
SymPy.
"""

from __future__ import annotations

import math

import sympy as sp
import torch

from approx.fitting.targets import Target, from_callable
from experiments.user_errors import UserError
from theory.expression import parse
from theory.intervals import certify_finite

_UNARY = {
    sp.sin: torch.sin,
    sp.cos: torch.cos,
    sp.tan: torch.tan,
    sp.exp: torch.exp,
    sp.log: torch.log,
    sp.sinh: torch.sinh,
    sp.cosh: torch.cosh,
    sp.tanh: torch.tanh,
    sp.atan: torch.atan,
    sp.Abs: torch.abs,
}


def torch_function(expr: sp.Expr, d: int):
    """f(x: (N, d) float64) -> (N,) for a grammar expression, built node by node."""
    index = {f"x{k}": k for k in range(d)}

    def ev(e: sp.Expr, x: torch.Tensor) -> torch.Tensor:
        if e.is_Symbol:
            return x[..., index[e.name]]
        if e.is_number:
            return torch.full(x.shape[:-1], float(e), dtype=x.dtype, device=x.device)
        if e.is_Add:
            return sum((ev(a, x) for a in e.args[1:]), ev(e.args[0], x))
        if e.is_Mul:
            return math.prod((ev(a, x) for a in e.args[1:]), start=ev(e.args[0], x))
        if e.is_Pow:
            base, ex = e.args
            if ex.is_Integer:
                return ev(base, x) ** int(ex)
            return ev(base, x) ** (float(ex) if ex.is_number else ev(ex, x))
        if e.func in _UNARY:
            return _UNARY[e.func](ev(e.args[0], x))
        raise TypeError(f"no torch form for {e.func.__name__}")  # a bug: the grammar builds no other node

    return lambda x: ev(expr, x.to(torch.float64))


def expression_target(expr: str, d: int, n: int | None = None, name: str | None = None) -> Target:
    """A :class:`Target` computing ``expr`` (smoothness ``n`` as the caller states; None = analytic)."""
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 16:
        raise UserError(f"expression target {expr!r}: d must be an integer in 1..16, got {d!r}")
    parsed = parse(expr, d)
    certify_finite(parsed, d, expr)
    return from_callable(name or expr, torch_function(parsed, d), d, n)
