"""The one activation table: every activation family of the lab, declared once (docs/theory.md §1).

A :class:`Family` says everything the lab needs to know of an activation: its library module (one
network), its stacked form (M networks at once, with per-model coefficients, approx/fitting/models.py),
its label, whether it has coefficients and breakpoints, the coefficients that make it ReLU^r (the
"kinks" start) and the identity on [0, ∞) (growth in depth), and the exact counterpart in
theory/activation.py, if it has one. :class:`Activation` is a family with its options (order, ρ,
kind, ...) and the implementation of its stacked form (``impl``):

- ``auto``: the fused CPU kernels for float64 CPU tensors (approx/kernels/native_kernels.py), the
  fused eager forms elsewhere;
- ``eager``: the fused eager forms everywhere (approx/kernels/fused_horner.py, fused_polynorm.py);
- ``reference``: the library's functional form through autograd (the slowest, the plainest);
- ``compile``: the library's form through ``torch.compile`` (inductor fuses it);
- ``triton``: the Triton kernels (approx/kernels/triton_kernels.py; PolyReLU and PolyNorm, order ≤ 4,
  float32 or bfloat16 with float32 statistics). ``auto`` takes them for such tensors on CUDA when
  Triton is installed; float64 stays on the eager forms, which keep its precision.

Nothing else in the lab dispatches on an activation's name (tests/approx/test_activation_table.py
checks the source for that).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from approx.activations.functional import check_order, horner, polycom_type2, polynorm, polyrelu, relu_power
from approx.activations.modules import RHOS, PolyCom, Polynomial, PolyNorm, PolyReLU, ReLUPower
from approx.kernels import fused_horner, fused_polynorm, native_kernels, triton_kernels

IMPLS = ("auto", "eager", "reference", "compile", "triton")
OPTIONS = ("order", "coefficients", "rho", "kind", "k", "eps")


@dataclass(frozen=True)
class Family:
    """One activation family: how to build, stack, label, start and export it."""

    name: str
    module: Callable[[Activation, int], nn.Module]  # (activation, width) -> the library module of one network
    stacked: Callable[[Activation, Tensor, Tensor | None], Tensor]  # σ(h) for h (M, N, w), coefficients a
    options: tuple[str, ...] = ()  # which of OPTIONS apply
    label: Callable[[Activation], str] = lambda act: act.name
    learnable: bool = False  # carries activation coefficients
    kinked: bool = False  # its units have a breakpoint: "auto" starts it on kinks (approx/fitting/initialisation.py)
    knee: bool = False  # a smooth unit with a knee or step (GELU, SiLU, tanh): "auto" also tries it on the grid
    piecewise_linear: bool = False  # its networks are piecewise linear (the ReLU rate −min(n, 2)/d applies)
    polynomial: bool = False  # σ is a polynomial of degree ``order``: a depth-L network is one of degree r^L
    spline_start: bool = False  # its coefficients can be set to e_r, σ = ReLU^r (the kinks start)
    layer_normalised: bool = False  # Σ_i a_i N(h^i), N an RMS norm over the layer's units (PolyNorm)
    #: growth in depth: σ(h + c) = h + c for h + c ≥ this margin, with coefficients e_1 when it has some
    #: (ReLU types: 0; GELU: 9, where 1 − Φ < 1e-18); None: no layer of it is the identity
    identity_margin: float | None = None
    theory: str | None = None  # theory/activation.py's constructor of the same function, if exact
    #: σ as two polynomials, for z ≥ 0 and for z < 0 (ascending coefficients, from the unit's activation
    #: coefficients a): what an exact export needs (docs/theory.md §8); None: σ is not piecewise polynomial
    pieces: Callable[[Activation, list | None], tuple[list, list]] | None = None


def _fixed(fn: Callable[[Tensor], Tensor]) -> Callable[[Activation, Tensor, Tensor | None], Tensor]:
    return lambda act, h, a: fn(h)


def _fixed_with_kernel(
    library: Callable[[Tensor], Tensor], kernel: Callable[[Tensor], Tensor]
) -> Callable[[Activation, Tensor, Tensor | None], Tensor]:
    """A fixed function with a fused kernel of its own (GELU): ``reference`` and ``compile`` use the library."""

    def apply(act: Activation, h: Tensor, a: Tensor | None) -> Tensor:
        if act.impl == "reference":
            return library(h)
        return _compiled(library)(h) if act.impl == "compile" else kernel(h)

    return apply


@functools.lru_cache(maxsize=32)
def _compiled(fn: Callable) -> Callable:
    return torch.compile(fn, dynamic=True)


def _horner_form(relu: bool) -> Callable[[Activation, Tensor, Tensor | None], Tensor]:
    library = polyrelu if relu else horner
    fused = fused_horner.polyrelu if relu else fused_horner.horner

    def apply(act: Activation, h: Tensor, a: Tensor | None) -> Tensor:
        assert a is not None
        if act.impl == "reference":
            return library(h, a)
        if act.impl == "compile":
            return _compiled(library)(h, a)
        if act.impl == "eager":
            return fused(h, a)
        if act.impl == "triton" and not relu:  # the Triton kernels cover PolyReLU and PolyNorm only
            raise ValueError(f"impl 'triton' has no kernel for {act.label}; use auto or eager")
        if relu and _triton(act, h, a):
            return triton_kernels.polyrelu(h, a)
        return native_kernels.horner(h, a, relu=relu)

    return apply


def _polynorm_form(act: Activation, h: Tensor, a: Tensor | None) -> Tensor:
    assert a is not None
    if act.impl == "reference":
        return polynorm(h, a, act.eps)
    if act.impl == "compile":
        return _compiled(polynorm)(h, a, act.eps)
    if act.impl == "eager":
        return fused_polynorm.polynorm(h, a, act.eps)
    if _triton(act, h, a):
        return triton_kernels.polynorm(h, a, act.eps)
    return native_kernels.polynorm(h, a, act.eps)


def _triton(act: Activation, h: Tensor, a: Tensor) -> bool:
    """``impl = "triton"`` (an error where it cannot run), or ``auto`` where it can and keeps the precision."""
    if act.impl == "triton":
        return True
    return act.impl == "auto" and h.is_cuda and triton_kernels.suits(h, a.shape[-1] - 1) and triton_kernels.available(h)


def _polycom_form(act: Activation, h: Tensor, a: Tensor | None) -> Tensor:
    assert a is not None and act.rho_function is not None
    rho = act.rho_function
    form = (lambda h, a: horner(rho(h), a)) if act.kind == "I" else (lambda h, a: polycom_type2(h, a, rho))
    return form(h, a)


def _per_neuron(act: Activation, width: int) -> int | None:
    return width if act.coefficients == "per_neuron" else None


def _suffix(act: Activation) -> str:
    return "_per_neuron" if act.coefficients == "per_neuron" else ""


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "relu",
            lambda act, w: nn.ReLU(),
            _fixed(F.relu),
            kinked=True,
            piecewise_linear=True,
            identity_margin=0.0,
            theory="relu_power",
            pieces=lambda act, a: ([0, 1], [0]),
        ),
        Family(
            "relu2",
            lambda act, w: ReLUPower(2),
            _fixed(lambda h: F.relu(h).square()),
            kinked=True,
            pieces=lambda act, a: ([0, 0, 1], [0]),
        ),
        Family(
            "relu_power",
            lambda act, w: ReLUPower(act.k),
            lambda act, h, a: relu_power(h, act.k),
            options=("k",),
            label=lambda act: f"relu{act.k}",
            kinked=True,
            theory="relu_power",
            pieces=lambda act, a: ([0] * act.k + [1], [0]),
        ),
        Family(
            "gelu",
            lambda act, w: nn.GELU(),
            _fixed_with_kernel(F.gelu, native_kernels.gelu),
            knee=True,
            identity_margin=9.0,
        ),
        Family("silu", lambda act, w: nn.SiLU(), _fixed(F.silu), knee=True),
        Family("tanh", lambda act, w: nn.Tanh(), _fixed(torch.tanh), knee=True),
        Family(
            "identity",
            lambda act, w: nn.Identity(),
            _fixed(lambda h: h),
            polynomial=True,
            theory="identity",
            pieces=lambda act, a: ([0, 1], [0, 1]),
        ),
        Family(
            "polynomial",
            lambda act, w: Polynomial(act.order),
            _horner_form(relu=False),
            options=("order",),
            label=lambda act: f"polynomial_r{act.order}",
            learnable=True,
            polynomial=True,
            identity_margin=0.0,
            theory="polynomial",
            pieces=lambda act, a: (list(a or []), list(a or [])),
        ),
        Family(
            "polyrelu",
            lambda act, w: PolyReLU(act.order, act.coefficients, _per_neuron(act, w)),
            _horner_form(relu=True),
            options=("order", "coefficients"),
            label=lambda act: f"polyrelu_r{act.order}{_suffix(act)}",
            learnable=True,
            kinked=True,
            spline_start=True,
            identity_margin=0.0,
            theory="polyrelu",
            pieces=lambda act, a: (list(a or []), list(a or [])[:1]),
        ),
        Family(
            "polynorm",
            lambda act, w: PolyNorm(act.order, act.eps),
            _polynorm_form,
            options=("order", "eps"),
            label=lambda act: f"polynorm_r{act.order}",
            learnable=True,
            layer_normalised=True,
        ),
        Family(
            "polycom",
            lambda act, w: PolyCom(act.rho, act.order, act.kind, act.coefficients, _per_neuron(act, w)),
            _polycom_form,
            options=("order", "coefficients", "rho", "kind"),
            label=lambda act: f"polycom_{act.kind}_{act.rho}_r{act.order}{_suffix(act)}",
            learnable=True,
        ),
    )
}
#: the families with activation coefficients (counted apart from weights and biases)
LEARNABLE = tuple(name for name, f in FAMILIES.items() if f.learnable)


@dataclass(frozen=True)
class Activation:
    """A family with its options, e.g. ``Activation("polyrelu", coefficients="per_neuron")``."""

    name: str
    order: int = 3
    coefficients: str = "shared"
    rho: str = "relu"
    kind: str = "I"
    k: int = 2
    eps: float = 1e-6
    label: str = ""
    impl: str = "auto"
    rho_function: Callable[[Tensor], Tensor] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.name not in FAMILIES:
            raise ValueError(f"unknown activation {self.name!r}; valid: {', '.join(FAMILIES)}")
        if self.impl not in IMPLS:
            raise ValueError(f"unknown activation impl {self.impl!r}; valid: {', '.join(IMPLS)}")
        if self.rho not in RHOS:
            raise ValueError(f"unknown rho {self.rho!r}; valid: {', '.join(RHOS)}")
        check_order(self.order)
        module = self.module(num_features=4)  # the library validates mode and kind
        if self.name == "polynorm" and self.coefficients != "shared":
            raise ValueError("polynorm has shared coefficients only (it is not pointwise)")
        object.__setattr__(self, "rho_function", getattr(module, "rho", None))
        if not self.label:
            object.__setattr__(self, "label", self.family.label(self))

    @classmethod
    def parse(cls, spec: str | dict) -> Activation:
        """From a config entry: a name (``"relu"``) or a table (``{name="polyrelu", coefficients="per_neuron"}``)."""
        if isinstance(spec, str):
            return cls(spec)
        if not isinstance(spec, dict) or "name" not in spec:
            raise ValueError(f"an activation is a name or a table with a 'name' key, got {spec!r}")
        unknown = set(spec) - set(OPTIONS) - {"name", "label", "impl"}
        if unknown:
            valid = sorted({*OPTIONS, "label", "impl"})
            raise ValueError(f"unknown activation option(s) {sorted(unknown)}; valid: {valid}")
        return cls(**spec)

    def spec(self) -> dict:
        """The options that differ from the defaults, with the name: what :meth:`parse` reads back."""
        defaults = Activation(self.name)
        out: dict = {"name": self.name}
        for key in (*OPTIONS, "label", "impl"):
            if getattr(self, key) != getattr(defaults, key):
                out[key] = getattr(self, key)
        return out

    @property
    def family(self) -> Family:
        return FAMILIES[self.name]

    @property
    def learnable(self) -> bool:
        return self.family.learnable

    def network_degree(self, depth: int) -> int | None:
        """The degree of every network of this activation at ``depth``, when σ is a polynomial; else None."""
        if not self.family.polynomial:
            return None
        return (self.order if self.learnable else 1) ** depth

    def shallow_dimension(self, d: int) -> int | None:
        """For a layer-normalised σ (PolyNorm): a bound, whatever the width, on the dimension of the family
        of one-hidden-layer networks in ``d`` inputs. Each is c + Σ_{i≤r} a_i P_i(x)/√(Q_i(x) + ε) with
        deg P_i ≤ i and deg Q_i ≤ 2i (docs/theory.md §7), so the bound is the number of those polynomials'
        coefficients, 1 + Σ_i [C(d+i, d) + C(d+2i, d)]. None for other activations."""
        if not self.family.layer_normalised:
            return None
        return 1 + sum(math.comb(d + i, d) + math.comb(d + 2 * i, d) for i in range(1, self.order + 1))

    @property
    def stackable(self) -> bool:
        """False for a ρ with parameters of its own (PReLU): stacked models hold only coefficients."""
        rho = self.rho_function
        return not (isinstance(rho, nn.Module) and any(True for _ in rho.parameters()))

    def coefficient_shape(self, width: int) -> tuple[int, ...]:
        """Per layer: (r+1,) shared or (width, r+1) per neuron; () for fixed activations."""
        if not self.learnable:
            return ()
        return (width, self.order + 1) if self.coefficients == "per_neuron" else (self.order + 1,)

    def module(self, num_features: int) -> nn.Module:
        """The library's torch module for one network (the single-model reference)."""
        return self.family.module(self, num_features)

    def apply(self, h: Tensor, a: Tensor | None) -> Tensor:
        """σ(h) for stacked pre-activations h (M, N, width) and coefficients a (M, 1, 1|width, r+1)."""
        return self.family.stacked(self, h, a)


def names() -> list[str]:
    """Every activation family's name."""
    return list(FAMILIES)


def get(name: str, **kwargs) -> nn.Module:
    """Build the library module ``name``, e.g. ``get("polyrelu", order=3)`` or ``get("polycom", rho="silu")``.

    Keyword arguments are the family's options (``order``, ``coefficients``, ``rho``, ``kind``, ``k``,
    ``eps``), and ``num_features`` for per-neuron coefficients.
    """
    if name not in FAMILIES:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(FAMILIES)}")
    width = kwargs.pop("num_features", None)
    wrong = set(kwargs) - set(FAMILIES[name].options)
    if wrong:
        valid = ", ".join(FAMILIES[name].options) or "none"
        raise ValueError(f"bad arguments for activation {name!r}: {sorted(wrong)} (options: {valid})")
    if callable(kwargs.get("rho")):  # a PolyCom of the user's own ρ: no name to look up
        return PolyCom(kwargs.pop("rho"), num_features=width, **kwargs)
    act = Activation(name, **kwargs)
    if act.coefficients == "per_neuron" and width is None:
        raise ValueError(f"coefficients='per_neuron' needs num_features >= 1, got {width!r}")
    return act.module(width or 1)
