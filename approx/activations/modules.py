"""The library's ``nn.Module`` activations: PolyCom (docs/theory.md §1), PolyReLU, PolyNorm, polynomials, ReLU^k.

Coefficients are either *shared* (one vector per module, the paper's choice) or *per neuron* (one
vector per feature of the last axis, the natural setting for constructions), and start at the
paper's a_0 = 0, a_i = 1/r.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from approx.activations.functional import (
    check_order,
    horner,
    paper_start,
    polycom_type2,
    polynorm,
    polyrelu,
    relu_power,
    rms_norm,
)

COEFFICIENT_MODES = ("shared", "per_neuron")
KINDS = ("I", "II")
#: PolyCom's base functions ρ by name (a callable or module is also accepted)
RHOS: dict[str, Callable[[], Callable[[Tensor], Tensor]]] = {
    "relu": lambda: F.relu,
    "prelu": lambda: nn.PReLU(),
    "sigmoid": lambda: torch.sigmoid,
    "silu": lambda: F.silu,
    "tanh": lambda: torch.tanh,
    "identity": lambda: lambda z: z,
    "norm": lambda: rms_norm,
}


def rho_function(rho: str | Callable[[Tensor], Tensor]) -> Callable[[Tensor], Tensor]:
    """ρ from its name in :data:`RHOS`, or ``rho`` itself if it is already a callable."""
    if not isinstance(rho, str):
        return rho
    if rho not in RHOS:
        raise ValueError(f"unknown rho {rho!r}; valid: {', '.join(RHOS)} or any callable")
    return RHOS[rho]()


class PolyCom(nn.Module):
    """σ(x) = Σ_i a_i ρ(x)^i (type I) or a_0 + Σ_{i≥1} a_i ρ(x^i) (type II), docs/theory.md §1.

    ``rho`` is a name of :data:`RHOS`, a callable or a module. With ``coefficients="per_neuron"``
    every feature of the last axis has its own vector, so ``num_features`` is required.
    """

    def __init__(
        self,
        rho: str | Callable[[Tensor], Tensor] = "relu",
        order: int = 3,
        kind: str = "I",
        coefficients: str = "shared",
        num_features: int | None = None,
        rho_name: str | None = None,
    ):
        super().__init__()
        self.order = check_order(order)
        if kind not in KINDS:
            raise ValueError(f"unknown PolyCom kind {kind!r}; valid: {', '.join(KINDS)}")
        if coefficients not in COEFFICIENT_MODES:
            raise ValueError(f"unknown coefficients mode {coefficients!r}; valid: {', '.join(COEFFICIENT_MODES)}")
        if coefficients == "per_neuron" and (
            isinstance(num_features, bool) or not isinstance(num_features, Integral) or num_features < 1
        ):
            raise ValueError(f"coefficients='per_neuron' needs num_features >= 1, got {num_features!r}")
        self.kind, self.mode = kind, coefficients
        self.rho_name = rho_name or (rho if isinstance(rho, str) else getattr(rho, "__name__", type(rho).__name__))
        self.rho = rho_function(rho)
        init = paper_start(self.order).float()
        if coefficients == "per_neuron":
            init = init.repeat(int(num_features), 1)  # type: ignore[arg-type]  # checked above
        self.coefficients = nn.Parameter(init)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "I":
            return horner(self.rho(x), self.coefficients)
        return polycom_type2(x, self.coefficients, self.rho)

    def extra_repr(self) -> str:
        return f"rho={self.rho_name}, order={self.order}, kind={self.kind}, coefficients={self.mode}"


class PolyReLU(PolyCom):
    """PolyReLU_a(x) = Σ_{i=0..r} a_i ReLU(x)^i: type I PolyCom with ρ = ReLU (docs/theory.md §1)."""

    def __init__(self, order: int = 3, coefficients: str = "shared", num_features: int | None = None):
        super().__init__("relu", order, "I", coefficients, num_features)

    def forward(self, x: Tensor) -> Tensor:
        return polyrelu(x, self.coefficients)


class PolyNorm(PolyCom):
    """PolyNorm_a(x) = a_0 + Σ_{i=1..r} a_i N(x^i), N = RMS norm over ``dim`` (docs/theory.md §1).

    Not pointwise: N couples every feature along ``dim``. eps sits inside the square root.
    """

    def __init__(self, order: int = 3, eps: float = 1e-6, dim: int = -1):
        super().__init__("norm", order, "II", "shared")
        self.eps, self.dim = eps, dim

    def forward(self, x: Tensor) -> Tensor:
        return polynorm(x, self.coefficients, self.eps, self.dim)

    def extra_repr(self) -> str:
        return f"order={self.order}, eps={self.eps}, dim={self.dim}"


class Polynomial(nn.Module):
    """p(x) = Σ_{i=0..r} a_i x^i with learnable a, evaluated by Horner; same init as PolyCom."""

    def __init__(self, order: int = 3):
        super().__init__()
        self.order = check_order(order)
        self.coefficients = nn.Parameter(paper_start(self.order).float())

    def forward(self, x: Tensor) -> Tensor:
        return horner(x, self.coefficients)

    def extra_repr(self) -> str:
        return f"order={self.order}"


class ReLUPower(nn.Module):
    """ReLU^k(x) = max(x, 0)^k; k = 0 is the constant 1 (docs/theory.md §1)."""

    def __init__(self, k: int = 2):
        super().__init__()
        self.k = check_order(k, minimum=0)

    def forward(self, x: Tensor) -> Tensor:
        return relu_power(x, self.k)

    def extra_repr(self) -> str:
        return f"k={self.k}"


def is_pointwise(module: nn.Module) -> bool:
    """True unless the activation couples the features of a layer (PolyNorm, type II with norm)."""
    return not (isinstance(module, PolyCom) and module.rho is rms_norm)
