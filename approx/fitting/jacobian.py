"""Per-model residual Jacobians J_m = ∂ f_θm(x_n) / ∂θ_m, shape (M, N, P), for Gauss–Newton fits.

Point n of model m becomes its own one-point network: θ_m is repeated N times along the model axis,
each copy sees one input, and one backward pass of the summed outputs leaves ∂f(x_n)/∂θ in copy n's
gradient. Because stacked models share no parameter (approx.fitting.models), that gradient is exactly row n
of J_m. The pass costs about what forming J costs anyway (2·N·P multiply-adds each way) and needs
nothing beyond the stacked forward, so every activation of the library, fused C kernels included,
has its Jacobian without a hand-written derivative.

Memory: J takes M·N·P·itemsize bytes, and the repeated θ as much again; :func:`jacobian_bytes`
states it, and callers chunk a stack that would not fit.
"""

from __future__ import annotations

import torch
from torch import Tensor

from approx.fitting.models import Architecture


def jacobian_bytes(models: int, points: int, params: int, itemsize: int = 8) -> int:
    """Peak bytes of :func:`output_jacobian` (J plus the repeated parameters)."""
    return 2 * models * points * params * itemsize


def output_jacobian(arch: Architecture, theta: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
    """(outputs (M, N), J (M, N, P)) for theta (M, P) and x (N, d) shared or (M, N, d) per model."""
    M, P = theta.shape
    x = x.expand(M, *x.shape) if x.dim() == 2 else x
    N = x.shape[1]
    copies = theta.detach()[:, None, :].expand(M, N, P).reshape(M * N, P).requires_grad_(True)
    out = arch.forward(copies, x.reshape(M * N, 1, -1))  # (M·N, 1): one point per copy
    (grad,) = torch.autograd.grad(out.sum(), copies)
    return out.detach().reshape(M, N), grad.reshape(M, N, P)
