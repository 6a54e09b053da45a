"""Writing one activation as a sum of PolyReLU neurons: per neuron, or through one shared vector.

docs/theory.md §1, §3.

An ``Expansion`` of an activation ρ is an exact identity

    ρ(u) = constant + Σ_t weight_t · σ_t(scale_t · u)        for every real u,

with every σ_t a PolyReLU of order r. A network then swaps each neuron for its terms (``theory.theorem1``).

Per-neuron coefficients (Lemma 1):
- ReLU^k = σ_{e_k}, a PolyReLU σ_c is itself (padded to order r): 1 term;
- a polynomial p of degree <= r: p(u) = σ_b(u) + σ_{b'}(-u), b = p, b'_k = (-1)^k p_k, b'_0 = 0: 2 terms
  (a monomial c·u^k uses e_k twice, with output weights c and (-1)^k c).
Shared coefficients a (the scaling trick): for λ > 0, σ_a(λu) = a_0 + Σ_{i>=1} a_i λ^i ReLU(u)^i. With
scales λ_j = s·j (j = 1..m, any s > 0), one per exponent in S = {i >= 1 : a_i != 0}, the weights c solve the generalised
Vandermonde system Σ_j c_j λ_j^i = t_i / a_i (i in S), nonsingular because 0 < λ_1 < ... < λ_m; the
a_0 Σ c_j offset goes into the constant (the next layer's bias). Hence
- Σ_i t_i ReLU(u)^i needs |S| <= r neurons (targets must vanish off S),
- a polynomial needs 2|S| <= 2r neurons (one set for u, one for -u); docs/theory.md's bound 2(r+1) keeps one
  neuron for the constant, which the bias makes unnecessary here.

API
- ``Expansion(terms, constant)``; ``terms`` are ``(scale, Activation, weight)``; ``.width``; ``.sympy(u)``.
- ``expansion(activation, r, shared=None, scale=1)``: any identity / ReLU^k / PolyReLU / polynomial
  activation of degree <= r; ``shared`` is the common coefficient vector a (None: per-neuron form).
- ``shared_relu_powers(targets, a, scale=1)``, ``per_neuron_polynomial(p, r)``, ``shared_polynomial(p, a, scale=1)``:
  the scales are λ_j = scale·j; any scale > 0 gives the same exact identity.
- ``balanced_scale(bound, m)``: a power of two 2^-e with m·2^-e·bound <= 1, for float-friendly networks.
- ``solve(matrix, rhs)``: exact Gaussian elimination over Fractions (ValueError when singular).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy

from theory.activation import Activation, polyrelu
from theory.exact_numbers import Exact, exact, to_sympy

ZERO, ONE = Fraction(0), Fraction(1)


@dataclass(frozen=True)
class Expansion:
    """ρ(u) = constant + Σ weight · σ(scale · u) over ``terms``."""

    terms: tuple[tuple[Exact, Activation, Exact], ...]
    constant: Exact = ZERO

    @property
    def width(self) -> int:
        return len(self.terms)

    def __call__(self, u: Exact) -> Exact:
        return self.constant + sum((w * act(s * u) for s, act, w in self.terms), ZERO)

    def sympy(self, u: sympy.Expr) -> sympy.Expr:
        return to_sympy(self.constant) + sympy.Add(
            *(to_sympy(w) * act.sympy(to_sympy(s) * u) for s, act, w in self.terms)
        )


def solve(matrix: Sequence[Sequence[Exact]], rhs: Sequence[Exact]) -> list[Exact]:
    """x with matrix·x = rhs, exactly (Gauss-Jordan with nonzero pivots)."""
    n = len(matrix)
    m = [list(row) + [b] for row, b in zip(matrix, rhs, strict=True)]
    for col in range(n):
        pivot = next((i for i in range(col, n) if m[i][col] != 0), None)
        if pivot is None:
            raise ValueError("singular linear system")
        m[col], m[pivot] = m[pivot], m[col]
        inv = 1 / m[col][col]
        m[col] = [v * inv for v in m[col]]
        for i in range(n):
            if i != col and m[i][col] != 0:
                f = m[i][col]
                m[i] = [v - f * w for v, w in zip(m[i], m[col], strict=True)]
    return [row[n] for row in m]


def _pad(c: Sequence[Exact], r: int) -> tuple[Exact, ...]:
    if len(c) > r + 1 and any(v != 0 for v in c[r + 1 :]):
        raise ValueError(f"degree {max(i for i, v in enumerate(c) if v != 0)} exceeds the order r = {r}")
    return tuple(c[: r + 1]) + (ZERO,) * (r + 1 - len(c))


def _check_shared(a: Sequence[object]) -> tuple[Exact, ...]:
    a = tuple(exact(v) for v in a)
    if len(a) < 2:
        raise ValueError(f"a shared PolyReLU needs order r >= 1, got coefficients {a}")
    return a


def shared_relu_powers(targets: Sequence[Exact], a: Sequence[object], scale: Exact = ONE) -> Expansion:
    """Σ_i t_i ReLU(u)^i (t_0 a constant) from neurons σ_a(λ_j u), λ_j = scale·j (module docstring)."""
    a = _check_shared(a)
    r = len(a) - 1
    t = _pad([exact(v) for v in targets], r)
    support = [i for i in range(1, r + 1) if a[i] != 0]
    missing = [i for i in range(1, r + 1) if t[i] != 0 and a[i] == 0]
    if missing:
        raise ValueError(f"shared coefficients {a} have a_i = 0 for i in {missing}: ReLU^i is out of reach")
    if not support or all(t[i] == 0 for i in support):
        return Expansion((), t[0])
    if not scale > 0:
        raise ValueError(f"the scaling trick needs a positive scale, got {scale}")
    scales = [scale * j for j in range(1, len(support) + 1)]
    matrix = [[lam**i for lam in scales] for i in support]
    weights = solve(matrix, [t[i] / a[i] for i in support])
    act = polyrelu(a)
    terms = tuple((lam, act, w) for lam, w in zip(scales, weights, strict=True) if w != 0)
    return Expansion(terms, t[0] - a[0] * sum((w for _, _, w in terms), ZERO))


def per_neuron_polynomial(p: Sequence[Exact], r: int) -> Expansion:
    """p(u) = σ_b(u) + σ_{b'}(-u), two PolyReLU neurons with their own coefficients (docs/theory.md §3)."""
    p = _pad([exact(v) for v in p], r)
    nonzero = [i for i in range(1, r + 1) if p[i] != 0]
    if not nonzero:
        return Expansion((), p[0])
    if len(nonzero) == 1:  # c u^k = c ReLU(u)^k + (-1)^k c ReLU(-u)^k: both neurons share e_k
        k = nonzero[0]
        e_k = polyrelu([ONE if i == k else ZERO for i in range(r + 1)])
        return Expansion(((ONE, e_k, p[k]), (-ONE, e_k, (-1) ** k * p[k])), p[0])
    b_minus = (ZERO, *((-1) ** k * p[k] for k in range(1, r + 1)))
    return Expansion(((ONE, polyrelu(p), ONE), (-ONE, polyrelu(b_minus), ONE)), ZERO)


def shared_polynomial(p: Sequence[Exact], a: Sequence[object], scale: Exact = ONE) -> Expansion:
    """p(u) from neurons σ_a(±λ_j u): ReLU-power expansions of u^k's two halves (module docstring)."""
    a = _check_shared(a)
    p = _pad([exact(v) for v in p], len(a) - 1)
    plus = shared_relu_powers((ZERO, *p[1:]), a, scale)
    minus = shared_relu_powers((ZERO, *((-1) ** k * p[k] for k in range(1, len(p)))), a, scale)
    terms = plus.terms + tuple((-s, act, w) for s, act, w in minus.terms)
    return Expansion(terms, p[0] + plus.constant + minus.constant)


def expansion(activation: Activation, r: int, shared: Sequence[object] | None = None, scale: Exact = ONE) -> Expansion:
    """The PolyReLU expansion of any identity / ReLU^k / PolyReLU / polynomial activation of degree <= r.

    ``scale`` (shared form only) is the base of the scales λ_j = scale·j; see ``balanced_scale``.
    """
    if shared is not None and len(shared) != r + 1:
        raise ValueError(f"shared coefficients must have r + 1 = {r + 1} entries, got {len(shared)}")
    relu_c = activation.relu_coefficients
    if activation.degree > r:
        raise ValueError(f"{activation.describe()} has degree {activation.degree} > r = {r}")
    if relu_c is not None:
        if shared is not None:
            return shared_relu_powers(relu_c, shared, scale)
        return Expansion(((ONE, polyrelu(_pad(relu_c, r)), ONE),), ZERO)
    poly_c = activation.series[1]
    if shared is not None:
        return shared_polynomial(poly_c, shared, scale)
    return per_neuron_polynomial(poly_c, r)


def balanced_scale(bound: float, neurons: int, max_exponent: int = 16) -> Fraction:
    """2^-e with λ_m·bound = m·2^-e·bound <= ~1: the scale that keeps σ_a(λ_j u) free of huge r-th powers.

    The identity holds for every scale; this choice only matters in floating point, where
    the shared form cancels terms of size (λ|u|)^r against each other (benchmarks/RESULTS.md).
    A power of two keeps every λ_j exact in binary floats too.
    """
    if not math.isfinite(bound):
        return Fraction(1, 2**max_exponent)
    e = math.ceil(math.log2(max(1.0, neurons * bound)))
    return Fraction(1, 2 ** min(max(e, 0), max_exponent))
