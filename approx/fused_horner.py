"""p_a(ρ(h)) = Σ_i a_i ρ(h)^i with a hand-written backward: the polynomial and PolyReLU activations (THEORY.md §1).

Same values as ``approx.activations.horner`` / ``polyrelu``, fewer passes over the (M, N, width)
tensors: autograd records every multiply-add of Horner's scheme and replays each backwards, while
here the forward saves only t = ρ(h) and the backward evaluates

    ∂y/∂h = p_a'(t) · ρ'(h)          (p' by Horner, ρ' = 1 or the ReLU mask t > 0)
    ∂y/∂a_i = Σ_{broadcast axes} g · t^i

in-place. Worth ~1.5x on the activation for stacked fits; ``torch.compile`` fuses further.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class _Horner(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, a: Tensor, relu: bool) -> Tensor:
        t = F.relu(h) if relu else h
        c = a.to(h.dtype).unbind(-1)
        y = c[-1] * t if len(c) > 1 else c[0].expand_as(t).clone()
        for ci in reversed(c[1:-1]):
            y += ci
            y *= t
        if len(c) > 1:
            y += c[0]
        ctx.relu = relu
        ctx.save_for_backward(t, a)
        return y

    @staticmethod
    def backward(ctx, g: Tensor):
        t, a = ctx.saved_tensors
        c = a.to(t.dtype).unbind(-1)
        r = len(c) - 1
        grad_h = grad_a = None
        if ctx.needs_input_grad[0]:
            if r == 0:
                grad_h = torch.zeros_like(t)
            else:
                dp = (r * c[r]) * t if r > 1 else (r * c[r]).expand_as(t).clone()
                for i in range(r - 1, 0, -1):
                    dp += i * c[i]
                    if i > 1:
                        dp *= t
                dp *= g
                if ctx.relu:
                    dp.masked_fill_(t <= 0, 0.0)
                grad_h = dp
        if ctx.needs_input_grad[1]:
            shape = a.shape[:-1]

            def reduce(v: Tensor) -> Tensor:
                return v.sum_to_size(shape) if shape else v.sum()

            parts, power = [reduce(g)], g
            for _ in range(r):
                power = power * t
                parts.append(reduce(power))
            grad_a = torch.stack(parts, -1).to(a.dtype)
        return grad_h, grad_a, None


def horner(t: Tensor, a: Tensor) -> Tensor:
    """Σ_i a[..., i] t^i (the polynomial activation); a broadcasts against t like in approx.activations."""
    return _Horner.apply(t, a, False)


def polyrelu(h: Tensor, a: Tensor) -> Tensor:
    """PolyReLU_a(h) = Σ_i a_i ReLU(h)^i."""
    return _Horner.apply(h, a, True)
