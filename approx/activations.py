"""The activation library: PolyCom (docs/theory.md §1) and the baselines it is measured against.

Coefficient convention, used everywhere in the lab: a tensor ``a`` whose last axis holds
``(a_0, a_1, ..., a_r)`` in ascending order. ``a_0`` is the constant (the released code's bias).

- type I   σ(x) = Σ_i a_i ρ(x)^i       (PolyReLU: ρ = ReLU)
- type II  σ(x) = a_0 + Σ_{i≥1} a_i ρ(x^i)   (PolyNorm: ρ = RMS normalisation over the feature axis)

For type II the i = 0 term ρ(x^0) = ρ(1) is a constant, so it is absorbed into a_0, exactly as the
released PolyNorm does. Coefficients are either *shared* (one vector per module, the paper's choice)
or *per neuron* (one vector per feature of the last axis, the natural setting for constructions).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MAX_ORDER = 16  # beyond this, ρ(x)^r overflows float32 for |ρ(x)| > 250 and bf16 much sooner
COEFFICIENT_MODES = ("shared", "per_neuron")
KINDS = ("I", "II")


def check_order(order: object, *, minimum: int = 1) -> int:
    """Return ``order`` as an int, or raise ``ValueError`` naming the valid range."""
    if isinstance(order, bool) or not isinstance(order, Integral) or not minimum <= int(order) <= MAX_ORDER:
        raise ValueError(f"order must be an integer in {minimum}..{MAX_ORDER}, got {order!r}")
    return int(order)


# --------------------------------------------------------------------------- functional forms


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


# --------------------------------------------------------------------------- modules


def _rho(rho: str | Callable[[Tensor], Tensor] | nn.Module) -> Callable[[Tensor], Tensor]:
    if not isinstance(rho, str):  # a callable or a module
        return rho
    table: dict[str, Callable[[], Callable[[Tensor], Tensor]]] = {
        "relu": lambda: F.relu,
        "prelu": lambda: nn.PReLU(),
        "sigmoid": lambda: torch.sigmoid,
        "silu": lambda: F.silu,
        "tanh": lambda: torch.tanh,
        "identity": lambda: lambda z: z,
        "norm": lambda: rms_norm,
    }
    if rho not in table:
        raise ValueError(f"unknown rho {rho!r}; valid: {', '.join(table)} or any callable")
    return table[rho]()


class PolyCom(nn.Module):
    """σ(x) = Σ_i a_i ρ(x)^i (type I) or a_0 + Σ_{i≥1} a_i ρ(x^i) (type II), docs/theory.md §1.

    Init as in the paper: a_0 = 0 and a_i = 1/r for i ≥ 1. With ``coefficients="per_neuron"``
    every feature of the last axis has its own vector, so ``num_features`` is required.
    """

    def __init__(
        self,
        rho: str | Callable[[Tensor], Tensor] = "relu",
        order: int = 3,
        kind: str = "I",
        coefficients: str = "shared",
        num_features: int | None = None,
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
        self.rho_name = rho if isinstance(rho, str) else getattr(rho, "__name__", type(rho).__name__)
        self.rho = _rho(rho)
        init = torch.full((self.order + 1,), 1.0 / self.order)
        init[0] = 0.0
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
        init = torch.full((self.order + 1,), 1.0 / self.order)
        init[0] = 0.0
        self.coefficients = nn.Parameter(init)

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
        return F.relu(x).pow(self.k) if self.k else torch.ones_like(x)

    def extra_repr(self) -> str:
        return f"k={self.k}"


# --------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU,
    "relu2": lambda: ReLUPower(2),
    "relu_power": ReLUPower,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "identity": nn.Identity,
    "polynomial": Polynomial,
    "polyrelu": PolyReLU,
    "polynorm": PolyNorm,
    "polycom": PolyCom,
}

#: activations with learnable coefficients (counted apart from weights and biases)
LEARNABLE = ("polynomial", "polyrelu", "polynorm", "polycom")


def names() -> list[str]:
    """Every registered activation name."""
    return list(_REGISTRY)


def get(name: str, **kwargs) -> nn.Module:
    """Build the activation ``name`` with keyword arguments, e.g. ``get("polyrelu", order=3)``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(_REGISTRY)}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as err:  # wrong keyword: say which activation, not where in torch
        raise ValueError(f"bad arguments for activation {name!r}: {err}") from None


def is_pointwise(module: nn.Module) -> bool:
    """True unless the activation couples the features of a layer (PolyNorm, type II with norm)."""
    return not (isinstance(module, PolyCom) and module.rho is rms_norm)
