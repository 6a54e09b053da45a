"""PolyNorm with a hand-written backward: y = a_0 + Σ_{i=1}^r a_i N(x^i), N normalising the last axis.

docs/theory.md §1.

Same values as ``approx.activations.polynorm(x, a, eps, dim=-1)``. Autograd records ~10 passes over
(M, N, width) per power (pow, square, mean, rsqrt, product, scale, sum, and their backwards); here,
with w the width and per-row scalars (shape (…, 1))

    r_i = (mean_j x_j^{2i} + ε)^{-1/2},   k_i = a_i r_i,

the forward is one Horner pass per power, y = a_0 + Σ_i k_i x^i, and the backward, with
D_i = Σ_j g_j x_j^i, is

    ∂L/∂x = g · Σ_i i k_i x^{i−1} − x · Σ_i i (a_i r_i³ D_i / w) (x²)^{i−1},
    ∂L/∂a_0 = Σ g,   ∂L/∂a_i = Σ r_i D_i        (summed over the axes a broadcasts along),

again Horner in x and x², so forward + backward cost about 4r + 4 passes instead of ~10r.
"""

from __future__ import annotations

import torch
from torch import Tensor

from approx.kernels.fused_horner import horner_passes


def _even_moments(x2: Tensor, r: int, eps: float) -> list[Tensor]:
    """[r_1, …, r_r], r_i = (mean_j x_j^{2i} + ε)^{-1/2} over the last axis, from x2 = x²."""
    out, power = [], x2
    for i in range(r):
        if i:
            power = power * x2
        out.append(power.mean(-1, keepdim=True).add_(eps).rsqrt_())
    return out


class _PolyNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, eps: float) -> Tensor:
        c = a.to(x.dtype).unbind(-1)
        rs = _even_moments(x * x, len(c) - 1, eps)
        ctx.save_for_backward(x, a, *rs)
        return horner_passes([c[0]] + [ci * ri for ci, ri in zip(c[1:], rs, strict=True)], x)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]  # one output, one incoming gradient
        x, a, *rs = ctx.saved_tensors
        c = a.to(x.dtype).unbind(-1)
        r, w = len(rs), x.shape[-1]
        D, power = [], None  # D_i = Σ_j g_j x_j^i, per row
        for _ in range(r):
            power = g * x if power is None else power.mul_(x)
            D.append(power.sum(-1, keepdim=True))
        grad_x = grad_a = None
        if ctx.needs_input_grad[0]:
            k = [i * ci * ri for i, (ci, ri) in enumerate(zip(c[1:], rs, strict=True), 1)]
            e = [i * ci * ri**3 * Di / w for i, (ci, ri, Di) in enumerate(zip(c[1:], rs, D, strict=True), 1)]
            grad_x = (g * k[0] if r == 1 else horner_passes(k, x).mul_(g)).sub_(
                x * e[0] if r == 1 else horner_passes(e, x * x).mul_(x)
            )
        if ctx.needs_input_grad[1]:
            shape = a.shape[:-1]

            def reduce(v: Tensor) -> Tensor:
                return v.sum_to_size(shape) if shape else v.sum()

            grad_a = torch.stack([reduce(g)] + [reduce(ri * Di) for ri, Di in zip(rs, D, strict=True)], -1)
            grad_a = grad_a.to(a.dtype)
        return grad_x, grad_a, None


def polynorm(x: Tensor, a: Tensor, eps: float = 1e-6) -> Tensor:
    """PolyNorm_a(x) over the last axis; a[..., i] broadcasts against x[..., :1] (shared per row or per model)."""
    if a.shape[-1] < 2:
        raise ValueError(f"polynorm needs order >= 1 (at least 2 coefficients), got {a.shape[-1]}")
    return _PolyNorm.apply(x, a, eps)
