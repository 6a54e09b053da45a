"""A plain layered network with per-neuron pointwise activations: the torch twin of an exact ``theory`` network.

x -> A_1 -> σ_1 -> ... -> σ_{L-1} -> A_L, where each hidden neuron j computes

    σ_j(z) = Σ_i R[j, i] ReLU(z)^i + Σ_i P[j, i] z^i

(PolyReLU/ReLU^k rows in R, polynomial/identity rows in P; either may be absent). R and P are one shared
vector (shape ``(k,)``, the paper's per-layer coefficients) or one row per neuron (shape ``(width, k)``).
Weights are dense ``(out, in)`` tensors or sparse COO tensors (for constructions with 10^4+ neurons).

API
- ``PointwiseActivation(relu_coeffs, poly_coeffs, trainable)``: ``trainable`` makes the coefficients
  Parameters (PolyReLU, polynomial); otherwise buffers (ReLU^k, identity: nothing to learn).
- ``SparseLinear(weight, bias)``: z = W x + b with a sparse COO ``weight``.
- ``LayeredNetwork(affines, activations)``: ``affines`` are ``nn.Linear``/``SparseLinear``;
  ``activations`` one ``PointwiseActivation`` per hidden layer. Input ``(..., in)``, output ``(..., out)``.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from approx.activations import horner


class PointwiseActivation(nn.Module):
    """σ(z) = Σ_i R_i ReLU(z)^i + Σ_i P_i z^i with shared or per-neuron coefficient rows."""

    relu_coeffs: Tensor | None
    poly_coeffs: Tensor | None

    def __init__(self, relu_coeffs: Tensor | None, poly_coeffs: Tensor | None, trainable: bool):
        super().__init__()
        if relu_coeffs is None and poly_coeffs is None:
            raise ValueError("a pointwise activation needs ReLU or polynomial coefficients")
        for name, c in (("relu_coeffs", relu_coeffs), ("poly_coeffs", poly_coeffs)):
            if c is None:
                setattr(self, name, None)
            elif trainable:
                setattr(self, name, nn.Parameter(c))
            else:
                self.register_buffer(name, c)

    def forward(self, z: Tensor) -> Tensor:
        y = horner(F.relu(z), self.relu_coeffs) if self.relu_coeffs is not None else None
        if self.poly_coeffs is not None:
            p = horner(z, self.poly_coeffs)
            y = p if y is None else y + p
        assert y is not None  # the constructor refuses an activation with neither part
        return y


class SparseLinear(nn.Module):
    """z = W x + b with W a sparse COO tensor of shape (out, in)."""

    def __init__(self, weight: Tensor, bias: Tensor):
        super().__init__()
        if not weight.is_sparse:
            raise ValueError("SparseLinear needs a sparse COO weight")
        self.weight = nn.Parameter(weight.coalesce())
        self.bias = nn.Parameter(bias)
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, self.in_features)
        z = torch.sparse.mm(self.weight, flat.T).T + self.bias
        return z.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, nnz={self.weight._nnz()}"


class LayeredNetwork(nn.Module):
    """Affine layers with a pointwise activation after every one but the last."""

    def __init__(self, affines: list[nn.Module], activations: list[PointwiseActivation]):
        super().__init__()
        if len(activations) != len(affines) - 1:
            raise ValueError(f"{len(affines)} affine layers need {len(affines) - 1} activations")
        self.affines = nn.ModuleList(affines)
        self.activations = nn.ModuleList(activations)

    @property
    def layers(self) -> list[nn.Linear | SparseLinear]:
        """The affine maps, typed (``self.affines`` is the ModuleList that registers them)."""
        return [cast(nn.Linear | SparseLinear, m) for m in self.affines]

    @property
    def pointwise(self) -> list[PointwiseActivation]:
        """The activations, typed."""
        return [cast(PointwiseActivation, m) for m in self.activations]

    def forward(self, x: Tensor) -> Tensor:
        for affine, act in zip(self.affines[:-1], self.activations, strict=True):
            x = act(affine(x))
        return self.affines[-1](x)
