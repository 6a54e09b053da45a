"""Stacked MLPs: M networks of one architecture held as a (M, P) parameter matrix (docs/theory.md §2).

A network x → A_1 → σ → A_2 → σ → … → A_{L+1} has ``depth`` = L hidden layers of ``width`` neurons
(L + 1 affine layers). Model m's parameters are row m of ``theta``; the forward pass uses batched
matmuls (``baddbmm``) over the model axis, so the M networks never share a number and their
gradients of Σ_m loss_m are exactly the per-model gradients.

Activations are the table's stacked forms (approx/activations/table.py) with stacked coefficients:
shape (M, 1, 1, r+1) when shared per layer (the paper) and (M, 1, width, r+1) per neuron. PolyNorm
normalises over each model's own feature axis. Inputs in [0,1]^d are mapped to [−1,1]^d first (a
fixed map, not a parameter), the domain of docs/theory.md §3–4.

Size counts (docs/theory.md §2): weights, biases, activation coefficients; ``total`` is what
``sum(p.numel())`` of the equivalent torch module gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import cast

import torch
from torch import Tensor, nn

from approx.activations import Activation, paper_start

__all__ = ["Activation", "Architecture", "Count", "width_for_params"]


@dataclass(frozen=True)
class Count:
    """Parameter count by category (docs/theory.md §2)."""

    weights: int
    biases: int
    coefficients: int
    neurons: int

    @property
    def total(self) -> int:
        return self.weights + self.biases + self.coefficients


@dataclass(frozen=True)
class Architecture:
    """d_in → [width]×depth → 1 with one activation; ``depth`` counts hidden layers."""

    d_in: int
    width: int
    depth: int
    activation: Activation = field(default_factory=lambda: Activation("relu"))

    def __post_init__(self):
        for name in ("d_in", "width", "depth"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
        if not self.activation.stackable:
            raise ValueError(f"{self.activation.label}: its rho has parameters; stacked models take parameter-free rho")

    def spec(self) -> dict:
        """A JSON-able description that :meth:`from_spec` reads back."""
        return {"d_in": self.d_in, "width": self.width, "depth": self.depth, "activation": self.activation.spec()}

    @classmethod
    def from_spec(cls, spec: dict) -> Architecture:
        return cls(int(spec["d_in"]), int(spec["width"]), int(spec["depth"]), Activation.parse(spec["activation"]))

    def layout(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter block, in the order they sit in a row of theta."""
        dims = [self.d_in] + [self.width] * self.depth + [1]
        blocks: list[tuple[str, tuple[int, ...]]] = []
        for layer, (fan_in, fan_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            blocks += [(f"W{layer}", (fan_in, fan_out)), (f"b{layer}", (fan_out,))]
            if layer < self.depth and self.activation.learnable:
                blocks.append((f"a{layer}", self.activation.coefficient_shape(self.width)))
        return blocks

    def count(self) -> Count:
        sizes = {"W": 0, "b": 0, "a": 0}
        for name, shape in self.layout():
            sizes[name[0]] += math.prod(shape)
        return Count(sizes["W"], sizes["b"], sizes["a"], self.width * self.depth)

    @property
    def size(self) -> int:
        return self.count().total

    def matmul_flops(self, points: int) -> int:
        """Multiply-adds ×2 of one forward pass on ``points`` inputs (the FLOPs a benchmark counts)."""
        return 2 * points * self.count().weights

    # ------------------------------------------------------------------ parameters

    def init(self, seeds: list[int], dtype: torch.dtype = torch.float64, device: str = "cpu") -> Tensor:
        """theta (M, P): row m from seed m alone, so a model's start never depends on its stack.

        Weights and biases ~ U(±1/√fan_in) (torch.nn.Linear's default); coefficients at the
        paper's a_0 = 0, a_i = 1/r.
        """
        rows = []
        for seed in seeds:
            g = torch.Generator().manual_seed(int(seed))
            parts = []
            for name, shape in self.layout():
                if name[0] == "a":
                    parts.append(paper_start(self.activation.order).expand(shape).reshape(-1))
                else:
                    fan_in = self.d_in if name[1:] == "0" else self.width
                    bound = 1.0 / math.sqrt(fan_in)
                    parts.append((torch.rand(math.prod(shape), generator=g, dtype=torch.float64) * 2 - 1) * bound)
            rows.append(torch.cat(parts))
        return torch.stack(rows).to(device=device, dtype=dtype)

    def unpack(self, theta: Tensor) -> dict[str, Tensor]:
        """Views of theta (M, P) as blocks (M, *shape)."""
        out, offset = {}, 0
        for name, shape in self.layout():
            size = math.prod(shape)
            out[name] = theta[:, offset : offset + size].reshape(theta.shape[0], *shape)
            offset += size
        if offset != theta.shape[1]:
            raise ValueError(f"theta has {theta.shape[1]} columns, architecture needs {offset}")
        return out

    def forward(self, theta: Tensor, x: Tensor) -> Tensor:
        """Outputs (M, N) for theta (M, P) and x (N, d) shared or (M, N, d) per model."""
        p = self.unpack(theta)
        W, b = p[f"W{self.depth}"], p[f"b{self.depth}"].unsqueeze(1)
        # the width-1 readout as a product and a row sum: 2x faster than bmm (forward + backward)
        return ((self.features(theta, x) * W.transpose(1, 2)).sum(-1, keepdim=True) + b)[..., 0]

    def features(self, theta: Tensor, x: Tensor) -> Tensor:
        """The last hidden layer (M, N, width): the output is linear in it (docs/theory.md §2)."""
        p = self.unpack(theta)
        M = theta.shape[0]
        h = 2 * x.to(theta.dtype) - 1
        if h.dim() == 2:
            h = h.expand(M, *h.shape)
        for layer in range(self.depth):
            h = torch.baddbmm(p[f"b{layer}"].unsqueeze(1), h, p[f"W{layer}"])
            a = p.get(f"a{layer}")
            if a is not None:
                a = a.reshape(M, 1, *((1,) if a.dim() == 2 else a.shape[1:-1]), a.shape[-1])
            h = self.activation.apply(h, a)
        return h

    def readout_slice(self) -> slice:
        """Columns of theta holding the readout (W_L then b_L): the linear part VarPro solves for."""
        return slice(self.size - self.width - 1, self.size)

    def to_module(self, theta_row: Tensor) -> nn.Sequential:
        """Model ``theta_row`` (P,) as an nn.Sequential of nn.Linear and library activations."""
        p = {k: v[0] for k, v in self.unpack(theta_row.reshape(1, -1)).items()}
        layers: list[nn.Module] = []
        for layer in range(self.depth + 1):
            W = p[f"W{layer}"]
            lin = nn.Linear(W.shape[0], W.shape[1], dtype=W.dtype)
            with torch.no_grad():
                lin.weight.copy_(W.T)
                lin.bias.copy_(p[f"b{layer}"])
            layers.append(lin)
            if layer < self.depth:
                act = self.activation.module(self.width).to(W.dtype)
                if f"a{layer}" in p:
                    with torch.no_grad():
                        cast(Tensor, act.coefficients).copy_(p[f"a{layer}"])
                layers.append(act)
        return nn.Sequential(_Rescale(), *layers, _Squeeze())


class _Rescale(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return 2 * x - 1


class _Squeeze(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x[..., 0]


def width_for_params(target: int, d_in: int, depth: int, activation: Activation) -> int:
    """The width whose dense parameter count is closest to ``target`` at this depth (ties: smaller)."""
    if target < 1:
        raise ValueError(f"target parameter count must be >= 1, got {target}")

    def size(w: int) -> int:
        return Architecture(d_in, w, depth, activation).size

    lo, hi = 1, 1
    while size(hi) < target:
        lo, hi = hi, hi * 2
    while hi - lo > 1:  # size is increasing in width
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if size(mid) < target else (lo, mid)
    return min((lo, hi), key=lambda w: (abs(size(w) - target), w))
