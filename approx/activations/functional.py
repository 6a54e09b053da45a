"""PolyCom's functional forms (docs/theory.md §1): Horner, RMS normalisation, PolyReLU, type II, PolyNorm.

Coefficient convention, used everywhere in the lab: a tensor ``a`` whose last axis holds
``(a_0, a_1, ..., a_r)`` in ascending order. ``a_0`` is the constant (the released code's bias).

- type I   σ(x) = Σ_i a_i ρ(x)^i       (PolyReLU: ρ = ReLU)
- type II  σ(x) = a_0 + Σ_{i≥1} a_i ρ(x^i)   (PolyNorm: ρ = RMS normalisation over the feature axis)

For type II the i = 0 term ρ(x^0) = ρ(1) is a constant, so it is absorbed into a_0, exactly as the
released PolyNorm does.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_ORDER = 16  # beyond this, ρ(x)^r overflows float32 for |ρ(x)| > 250 and bf16 much sooner


def check_order(order: object, *, minimum: int = 1) -> int:
    """Return ``order`` as an int, or raise ``ValueError`` naming the valid range."""
    if isinstance(order, bool) or not isinstance(order, Integral) or not minimum <= int(order) <= MAX_ORDER:
        raise ValueError(f"order must be an integer in {minimum}..{MAX_ORDER}, got {order!r}")
    return int(order)


def horner(t: Tensor, a: Tensor) -> Tensor:
    """Σ_i a[..., i] t^i by Horner's scheme: r multiply-adds, no powers.

    ``a``'s leading axes broadcast against ``t`` (shape ``()`` for shared, ``(F,)`` per neuron,
    or anything a stacked model needs).
    """
    coeffs = a.to(t.dtype).unbind(-1)
    y = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        y = y * t + c
    return y


def rms_norm(x: Tensor, eps: float = 1e-6, dim: int = -1) -> Tensor:
    """N(z) = z / sqrt(mean(z², dim) + eps): RMS normalisation with no gain (docs/theory.md §1)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=dim, keepdim=True) + eps)


def polyrelu(x: Tensor, a: Tensor) -> Tensor:
    """PolyReLU_a(x) = Σ_i a_i ReLU(x)^i (docs/theory.md §1, type I with ρ = ReLU)."""
    return horner(F.relu(x), a)


def polycom_type2(x: Tensor, a: Tensor, rho: Callable[[Tensor], Tensor]) -> Tensor:
    """a_0 + Σ_{i≥1} a_i ρ(x^i) (docs/theory.md §1, type II)."""
    coeffs = a.to(x.dtype).unbind(-1)
    y = coeffs[0] + coeffs[1] * rho(x)
    power = x
    for c in coeffs[2:]:
        power = power * x
        y = y + c * rho(power)
    return y


def polynorm(x: Tensor, a: Tensor, eps: float = 1e-6, dim: int = -1) -> Tensor:
    """PolyNorm_a(x) = a_0 + Σ_{i≥1} a_i N(x^i), N normalising over ``dim`` (docs/theory.md §1)."""
    return polycom_type2(x, a, lambda z: rms_norm(z, eps, dim))


def relu_power(x: Tensor, k: int) -> Tensor:
    """ReLU(x)^k, with ReLU^0 ≡ 1."""
    return F.relu(x).pow(k) if k else torch.ones_like(x)


def paper_start(order: int) -> Tensor:
    """The paper's starting coefficients: a_0 = 0 and a_i = 1/r (docs/theory.md §1)."""
    a = torch.full((order + 1,), 1.0 / order, dtype=torch.float64)
    a[0] = 0.0
    return a
