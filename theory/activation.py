"""Exact pointwise activations of a network's hidden neurons (docs/theory.md §1, §3).

API
- ``Activation(kind, coeffs, power)``, frozen and hashable; build it with
  ``identity()``, ``relu()``, ``relu_power(k)``, ``polyrelu(a)``, ``polynomial(p)``.
  Coefficients are ascending ``(a_0, ..., a_r)`` like everywhere in the lab.
  - identity        z
  - relu_power(k)   ReLU(z)^k              (ReLU = relu_power(1); no trainable coefficients)
  - polyrelu(a)     Σ_i a_i ReLU(z)^i      (PolyReLU, type I PolyCom with ρ = ReLU)
  - polynomial(p)   Σ_i p_i z^i
- ``act(z)``: exact value at an exact number; ``act.sympy(z)``: symbolic form with ``ReLU``.
- ``act.relu_coefficients``: the activation as Σ c_i ReLU(z)^i when it is one (polyrelu, relu_power),
  ``act.polynomial_coefficients``: as Σ c_i z^i when it is one (polynomial, identity).
- ``act.trainable``: how many activation coefficients it carries (0 for identity and ReLU^k).
- ``ReLU``: the SymPy function max(u, 0), kept unevaluated on symbols so case analysis can split it.
- ``relu_value(v)``: exact max(v, 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral

import numpy as np
import sympy

from theory.exact_numbers import Exact, exact, is_nonnegative, to_float, to_sympy

KINDS = ("identity", "relu_power", "polyrelu", "polynomial")
ZERO, ONE = Fraction(0), Fraction(1)


class ReLU(sympy.Function):
    """max(u, 0) as an unevaluated SymPy function; numbers evaluate, symbols stay for case analysis."""

    @classmethod
    def eval(cls, u):
        # only numbers evaluate: sign facts from assumptions would fire on one side of an identity
        # and not on the other, and case analysis could then split the two sides inconsistently
        if u.is_number:
            return u if is_nonnegative(u) else sympy.Integer(0)
        return None

    def _eval_is_nonnegative(self):
        return True

    def _eval_is_real(self):
        return self.args[0].is_real


def relu_value(v: Exact) -> Exact:
    """max(v, 0) exactly."""
    if is_nonnegative(v):
        return v
    return ZERO if isinstance(v, Fraction) else sympy.Integer(0)


def _horner(coeffs: tuple[Exact, ...], t: Exact) -> Exact:
    y = coeffs[-1]
    for c in reversed(coeffs[:-1]):
        y = y * t + c
    return y


@dataclass(frozen=True)
class Activation:
    """One neuron's activation; see the module docstring for the four kinds."""

    kind: str
    coeffs: tuple[Exact, ...] = ()
    power: int = 1

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown activation kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.kind in ("polyrelu", "polynomial") and not self.coeffs:
            raise ValueError(f"{self.kind} needs at least one coefficient")

    # -- views as Σ c_i ReLU(z)^i or Σ c_i z^i
    @property
    def relu_coefficients(self) -> tuple[Exact, ...] | None:
        if self.kind == "polyrelu":
            return self.coeffs
        if self.kind == "relu_power":
            return tuple(ONE if i == self.power else ZERO for i in range(self.power + 1))
        return None

    @property
    def polynomial_coefficients(self) -> tuple[Exact, ...] | None:
        if self.kind == "polynomial":
            return self.coeffs
        if self.kind == "identity":
            return (ZERO, ONE)
        return None

    @property
    def series(self) -> tuple[bool, tuple[Exact, ...]]:
        """(through ReLU, c): σ(z) = Σ c_i t^i with t = ReLU(z) or t = z; every kind is one of the two."""
        relu = self.relu_coefficients
        if relu is not None:
            return True, relu
        poly = self.polynomial_coefficients
        assert poly is not None, self.kind  # the four kinds are two of each
        return False, poly

    def floats(self, z: np.ndarray) -> np.ndarray:
        """σ(z) in float64 by Horner on t = ReLU(z) or z: the float twin used to search and scale, never to certify."""
        relu, c = self.series
        t = np.maximum(z, 0.0) if relu else z
        y = np.zeros_like(z, dtype=np.float64)
        for v in reversed(c):
            y = y * t + to_float(v)
        return y

    @property
    def degree(self) -> int:
        """Degree in z (for ReLU-based kinds: in ReLU(z)); trailing zero coefficients ignored."""
        c = self.series[1]
        nonzero = [i for i, v in enumerate(c) if v != 0]
        return nonzero[-1] if nonzero else 0

    @property
    def trainable(self) -> int:
        """Activation coefficients it carries (docs/theory.md §2): r+1 for PolyReLU, 0 for ReLU^k."""
        return len(self.coeffs) if self.kind in ("polyrelu", "polynomial") else 0

    def is_relu(self) -> bool:
        return self.kind == "relu_power" and self.power == 1

    def __call__(self, z: Exact) -> Exact:
        if self.kind == "identity":
            return z
        if self.kind == "polynomial":
            return _horner(self.coeffs, z)
        t = relu_value(z)
        if self.kind == "relu_power":
            return t**self.power
        return _horner(self.coeffs, t)

    def sympy(self, z: sympy.Expr) -> sympy.Expr:
        if self.kind == "identity":
            return z
        if self.kind == "polynomial":
            return sum((to_sympy(c) * z**i for i, c in enumerate(self.coeffs)), sympy.Integer(0))
        t = ReLU(z)
        if self.kind == "relu_power":
            return t**self.power
        return sum((to_sympy(c) * t**i for i, c in enumerate(self.coeffs)), sympy.Integer(0))

    def describe(self) -> str:
        if self.kind == "identity":
            return "identity"
        if self.kind == "relu_power":
            return "ReLU" if self.power == 1 else f"ReLU^{self.power}"
        name = "PolyReLU" if self.kind == "polyrelu" else "poly"
        return f"{name}({', '.join(str(c) for c in self.coeffs)})"


def identity() -> Activation:
    return Activation("identity")


def relu() -> Activation:
    return Activation("relu_power", (), 1)


def relu_power(k: int) -> Activation:
    if isinstance(k, bool) or not isinstance(k, Integral) or k < 1:
        raise ValueError(f"ReLU^k needs an integer k >= 1, got {k!r}")
    return Activation("relu_power", (), int(k))


def polyrelu(a, floats: str = "exact") -> Activation:
    """PolyReLU_a(z) = Σ_i a_i ReLU(z)^i with exact ascending coefficients."""
    return Activation("polyrelu", tuple(exact(c, floats) for c in a))


def polynomial(p, floats: str = "exact") -> Activation:
    """p(z) = Σ_i p_i z^i with exact ascending coefficients."""
    return Activation("polynomial", tuple(exact(c, floats) for c in p))
