"""p_a(ρ(h)) = Σ_i a_i ρ(h)^i with a hand-written backward: the polynomial and PolyReLU activations (docs/theory.md §1).

Same values as ``approx.activations.horner`` / ``polyrelu``, fewer passes over the (M, N, width)
tensors: autograd records every multiply-add of Horner's scheme and replays each backwards, while
here each Horner step is one ``addcmul`` pass, the forward saves only t = ρ(h), and the backward
evaluates

    ∂y/∂h = p_a'(t) · ρ'(h)          (p' by Horner, ρ' = 1 or the ReLU mask t > 0)
    ∂y/∂a_i = Σ_{broadcast axes} g · t^i

in at most r + 1 passes for ∂y/∂h, and r products and r + 1 reductions for ∂y/∂a.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def horner_passes(c: list[Tensor] | tuple[Tensor, ...], t: Tensor) -> Tensor:
    """Σ_i c[i] t^i in len(c) − 1 ``addcmul`` passes; the c[i] broadcast against t (len(c) ≥ 2)."""
    y = torch.addcmul(c[-2], t, c[-1])
    for ci in reversed(c[:-2]):
        torch.addcmul(ci, y, t, out=y)
    return y


class _Horner(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, a: Tensor, relu: bool) -> Tensor:
        t = F.relu(h) if relu else h
        c = a.to(h.dtype).unbind(-1)
        ctx.relu = relu
        ctx.save_for_backward(t, a)
        return horner_passes(c, t) if len(c) > 1 else c[0].expand_as(t).clone()

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]  # one output, one incoming gradient
        t, a = ctx.saved_tensors
        c = a.to(t.dtype).unbind(-1)
        r = len(c) - 1
        grad_h = grad_a = None
        if ctx.needs_input_grad[0]:
            if r == 0:
                grad_h = torch.zeros_like(t)
            else:
                dp = g * c[1] if r == 1 else horner_passes([i * ci for i, ci in enumerate(c)][1:], t).mul_(g)
                # threshold_backward: dp where t > 0, else 0, in one pass
                grad_h = torch.ops.aten.threshold_backward(dp, t, 0.0) if ctx.relu else dp
        if ctx.needs_input_grad[1]:
            shape = a.shape[:-1]

            def reduce(v: Tensor) -> Tensor:
                return v.sum_to_size(shape) if shape else v.sum()

            parts, power = [reduce(g)], None
            for _ in range(r):
                power = g * t if power is None else power.mul_(t)
                parts.append(reduce(power))
            grad_a = torch.stack(parts, -1).to(a.dtype)
        return grad_h, grad_a, None


def horner(t: Tensor, a: Tensor) -> Tensor:
    """Σ_i a[..., i] t^i (the polynomial activation); a broadcasts against t like in approx.activations."""
    return _Horner.apply(t, a, False)


def polyrelu(h: Tensor, a: Tensor) -> Tensor:
    """PolyReLU_a(h) = Σ_i a_i ReLU(h)^i."""
    return _Horner.apply(h, a, True)
