"""Targets from symbolic expression strings, e.g. ``"exp(sin(pi*x0) + x1**2)"`` on [0,1]^d.

The string is parsed here, in experiments/, and handed to approx.targets as a plain callable, so
approx/ never depends on the symbolic engine. Variables are ``x0 … x{d-1}`` (``x, y, z, w`` also work
for d ≤ 4). A malformed string, an unknown symbol or a non-real value is a ValueError naming the
problem.
"""

from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from approx.targets import Target, dense_grid, from_callable

ALIASES = ("x", "y", "z", "w")


def expression_target(expr: str, d: int, n: int | None = None, name: str | None = None) -> Target:
    """A :class:`Target` computing ``expr`` (smoothness ``n`` as the caller states; None = analytic)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError(f"expr must be a non-empty string, got {expr!r}")
    if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 16:
        raise ValueError(f"expression target {expr!r}: d must be an integer in 1..16, got {d!r}")
    symbols = [sp.Symbol(f"x{i}", real=True) for i in range(d)]
    local = {s.name: s for s in symbols}
    if d <= len(ALIASES):
        local.update({ALIASES[i]: symbols[i] for i in range(d)})
    try:
        parsed = sp.sympify(expr, locals=local)
    except (sp.SympifyError, SyntaxError, TypeError, ValueError) as err:
        raise ValueError(f"cannot parse expression {expr!r}: {err}") from None
    if not isinstance(parsed, sp.Expr):
        raise ValueError(f"expression {expr!r} is not a scalar expression")
    unknown = sorted(str(s) for s in parsed.free_symbols - set(symbols))
    if unknown:
        raise ValueError(f"expression {expr!r} uses unknown symbol(s) {unknown}; variables are x0..x{d - 1}")
    fn_np = sp.lambdify(symbols, parsed, modules=["numpy", {"besselj": _besselj}])

    def fn(x: torch.Tensor) -> torch.Tensor:
        cols = x.detach().cpu().numpy().T
        with np.errstate(all="ignore"):
            values = np.broadcast_to(np.asarray(fn_np(*cols)), (x.shape[0],))
        if np.iscomplexobj(values):
            raise ValueError(f"expression {expr!r} is not real on [0,1]^{d}")
        return torch.as_tensor(np.array(values, dtype=np.float64), device=x.device)

    fn(dense_grid(d, 16))  # evaluate once so a bad expression fails here, before any work
    return from_callable(name or expr, fn, d, n)


def _besselj(nu, x):
    from scipy.special import jv

    return jv(nu, x)
