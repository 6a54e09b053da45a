"""Lemma 1: ReLU, ReLU^k, monomials and polynomials of degree <= r are PolyReLU networks (docs/theory.md §3).

[paper] ReLU, ReLU^2 and polynomial activations can be represented by PolyReLU.
[lab, precise] On all of R, with PolyReLU of order r (one hidden layer, input x, output y):
- per-neuron coefficients: ReLU = σ_{e_1} and ReLU^k = σ_{e_k} (1 neuron); x^k = ReLU(x)^k + (-1)^k ReLU(-x)^k
  (2 neurons, both e_k); p(x) = σ_b(x) + σ_{b'}(-x), b'_k = (-1)^k b_k, b'_0 = 0 (2 neurons);
- one shared coefficient vector a (the paper's models), by the scaling trick (``theory.scaling_trick``):
  ReLU^k from <= r neurons σ_a(λ_j x), any p from <= 2r neurons σ_a(±λ_j x), whenever a_i != 0 for every
  power i that is needed (the paper's initialisation a_0 = 0, a_i = 1/r qualifies);
- a single PolyReLU neuron x -> σ_a(w x + b) is the constant a_0 on the half-line w x + b < 0 (all of R
  when w = 0 and b < 0), so no single neuron equals a non-constant polynomial.
Each identity is proven by SymPy case analysis on the sign of every ReLU argument and re-checked at
random exact rational points; each network's size is checked against the bound above.

API
- ``expansion_network(e)``: the 1 -> width -> 1 network x -> e.constant + Σ w σ(s x).
- ``relu_network(r, shared=None)``, ``relu_power_network(k, r, shared=None)``,
  ``monomial_network(k, r, shared=None)``, ``polynomial_network(p, r, shared=None)``: Lemma 1's networks.
- ``single_neuron_is_constant_on_a_half_line(r)``: the symbolic proof, returns (holds, details).
- ``certificates()``: the ``lemma1`` group for ``polylab verify``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import sympy

from theory.activation import Activation, ReLU, polynomial, relu, relu_power
from theory.case_analysis import prove_equal
from theory.certificate import Certificate, Check, certify
from theory.exact_equality import compare_at_points, random_points
from theory.exact_numbers import Exact, exact, to_sympy
from theory.network import Affine, Network
from theory.scaling_trick import Expansion, expansion
from theory.theorem1 import PAPER_ORDER, is_polyrelu_network, paper_coefficients

X = sympy.Symbol("x", real=True)


def expansion_network(e: Expansion) -> Network:
    """x -> constant + Σ_t w_t σ_t(s_t x) as a network with one hidden layer."""
    if not e.terms:
        raise ValueError("a constant needs no hidden neuron; Lemma 1 builds non-constant functions")
    first = Affine(1, tuple({0: s} for s, _, _ in e.terms), (Fraction(0),) * e.width)
    last = Affine(e.width, ({j: w for j, (_, _, w) in enumerate(e.terms) if w != 0},), (e.constant,))
    return Network([first, last], [[act for _, act, _ in e.terms]])


def _build(activation: Activation, r: int, shared: Sequence[object] | None) -> Network:
    return expansion_network(expansion(activation, r, shared))


def relu_network(r: int = PAPER_ORDER, shared: Sequence[object] | None = None) -> Network:
    """ReLU(x) as PolyReLU: σ_{e_1} (per neuron) or Σ_j c_j σ_a(λ_j x) + const (shared a)."""
    return _build(relu(), r, shared)


def relu_power_network(k: int, r: int = PAPER_ORDER, shared: Sequence[object] | None = None) -> Network:
    """ReLU(x)^k, k <= r."""
    return _build(relu_power(k), r, shared)


def monomial_network(k: int, r: int = PAPER_ORDER, shared: Sequence[object] | None = None) -> Network:
    """x^k = ReLU(x)^k + (-1)^k ReLU(-x)^k, k <= r."""
    return _build(polynomial([0] * k + [1]), r, shared)


def polynomial_network(p: Sequence[object], r: int = PAPER_ORDER, shared: Sequence[object] | None = None) -> Network:
    """p(x) = σ_b(x) + σ_{b'}(-x) (per neuron) or from 2|S| neurons σ_a(±λ_j x) (shared a)."""
    return _build(polynomial(p), r, shared)


def single_neuron_is_constant_on_a_half_line(r: int = PAPER_ORDER) -> tuple[bool, str]:
    """For symbolic a_0..a_r, w, b: on the branch w x + b < 0 the neuron σ_a(w x + b) is a_0, free of x;
    and p - a_0 is a nonzero polynomial for every non-constant p, so it has finitely many roots."""
    a = sympy.symbols(f"a0:{r + 1}", real=True)
    w, b = sympy.symbols("w b", real=True)
    neuron = sum(a[i] * ReLU(w * X + b) ** i for i in range(r + 1))
    negative_branch = neuron.xreplace({ReLU(w * X + b): 0})
    constant = sympy.expand(negative_branch - a[0]) == 0 and not negative_branch.has(X)
    positive_branch = sympy.expand(neuron.xreplace({ReLU(w * X + b): w * X + b}))
    curved = sympy.Poly(positive_branch, X).degree() == r  # on the other side it is a degree-r polynomial
    examples = [X, X**2, X**3 - X, sympy.Rational(1, 2) * X**r]
    nonconstant = all(sympy.Poly(p - a[0], X).degree() >= 1 for p in examples)
    details = (
        f"w x + b < 0: σ_a = {negative_branch} (free of x: {constant}); w x + b >= 0: degree "
        f"{sympy.Poly(positive_branch, X).degree()} in x; p - a_0 non-constant for p in {examples}: {nonconstant}"
    )
    return constant and curved and nonconstant, details


# --------------------------------------------------------------------------- certificates


def _poly_expr(p: Sequence[Exact]) -> sympy.Expr:
    return sum((to_sympy(exact(c)) * X**i for i, c in enumerate(p)), sympy.Integer(0))


def _check(net: Network, target: sympy.Expr, target_fn: Callable, r: int, max_width: int, seed: int) -> Check:
    (closed,) = net.closed_form([X])
    proof = prove_equal(closed, target)
    pts = compare_at_points(net, lambda p: [target_fn(p[0])], random_points(1, 25, seed))
    sizes = net.sizes()
    small = sizes.width <= max_width and sizes.depth == 2
    polyrelu_only = is_polyrelu_network(net, r)
    details = (
        f"case analysis: {proof.branches} sign branches, {'all 0' if proof else 'NOT 0 at ' + str(proof.failing)}; "
        f"{pts.points} rational points, max |net - f| = {pts.max_error}; "
        f"width {sizes.width} <= {max_width}: {small}; PolyReLU of order {r}: {polyrelu_only}"
    )
    holds = proof.holds and pts.holds and small and polyrelu_only
    return Check(holds, measured_error=pts.max_error, details=details, sizes=sizes.as_dict())


def _relu_pow(k: int) -> Callable:
    return lambda x: max(x, Fraction(0)) ** k


def _poly_fn(p: Sequence[Exact]) -> Callable:
    coeffs = [exact(c) for c in p]
    return lambda x: sum((c * x**i for i, c in enumerate(coeffs)), Fraction(0))


def _check_built(build: Callable[[], Network], *args) -> Check:
    return _check(build(), *args)


def _single_neuron_check(r: int) -> Check:
    holds, details = single_neuron_is_constant_on_a_half_line(r)
    return Check(holds, details=details)


@dataclass(frozen=True)
class Case:
    """One Lemma 1 identity: ``build()`` must equal ``target`` (SymPy) and ``target_fn`` at exact points."""

    name: str
    statement: str
    build: Callable[[], Network]
    target: sympy.Expr
    target_fn: Callable
    max_width: int
    shared: tuple[Fraction, ...] | None
    params: dict


def cases(r: int = PAPER_ORDER) -> list[Case]:
    """Every identity of Lemma 1 at order r, per-neuron and with the paper's shared vector."""
    odd = (Fraction(1), Fraction(-1, 2), Fraction(2), Fraction(3))  # a_0 != 0, mixed signs
    p_example = (Fraction(1, 2), Fraction(-1), Fraction(2, 3), Fraction(1, 5))[: r + 1]
    p_expr, p_params = _poly_expr(p_example), {"p": [str(c) for c in p_example]}
    out = []
    for shared in (None, paper_coefficients(r)):
        m = 1 if shared is None else r
        out.append(
            Case(
                "relu",
                f"ReLU(x) equals a PolyReLU network of order {r} with <= {m} neuron(s).",
                functools.partial(relu_network, r, shared),
                ReLU(X),
                _relu_pow(1),
                m,
                shared,
                {"k": 1},
            )
        )
        for k in range(2, r + 1):
            out.append(
                Case(
                    f"relu^{k}",
                    f"ReLU(x)^{k} equals a PolyReLU network of order {r} with <= {m} neuron(s).",
                    functools.partial(relu_power_network, k, r, shared),
                    ReLU(X) ** k,
                    _relu_pow(k),
                    m,
                    shared,
                    {"k": k},
                )
            )
        for k in range(1, r + 1):
            out.append(
                Case(
                    f"x^{k}",
                    f"x^{k} = ReLU(x)^{k} + (-1)^{k} ReLU(-x)^{k}: PolyReLU, <= {2 * m} neurons.",
                    functools.partial(monomial_network, k, r, shared),
                    X**k,
                    _poly_fn([0] * k + [1]),
                    2 * m,
                    shared,
                    {"k": k},
                )
            )
        form_text = "σ_b(x) + σ_b'(-x)" if shared is None else "Σ_j c_j σ_a(±λ_j x) + const (scaling trick)"
        out.append(
            Case(
                "polynomial",
                f"p(x) = {p_expr} (degree {r}) = {form_text}, <= {2 * m} neurons.",
                functools.partial(polynomial_network, p_example, r, shared),
                p_expr,
                _poly_fn(p_example),
                2 * m,
                shared,
                p_params,
            )
        )
    if r == 3:
        out.append(
            Case(
                "polynomial-a0",
                f"p(x) = {p_expr} from <= {2 * r} neurons sharing a with a_0 != 0.",
                functools.partial(polynomial_network, p_example, r, odd),
                p_expr,
                _poly_fn(p_example),
                2 * r,
                odd,
                p_params,
            )
        )
    return out


def certificates(r: int = PAPER_ORDER) -> list[Certificate]:
    out: list[Certificate] = []
    for seed, case in enumerate(cases(r)):
        form = "per-neuron" if case.shared is None else "shared"
        statement = case.statement
        if case.shared is not None:
            statement += f" With one shared vector a = ({', '.join(map(str, case.shared))})."
        shared = None if case.shared is None else [str(v) for v in case.shared]
        out.append(
            certify(
                f"lemma1/{case.name}/{form}",
                statement,
                "SymPy case analysis on sign(x) (and every ReLU argument) + exact rational points",
                functools.partial(_check_built, case.build, case.target, case.target_fn, r, case.max_width, seed),
                params={**case.params, "r": r, "form": form, "a": shared},
                error_bound=0,
            )
        )
    out.append(
        certify(
            "lemma1/single-neuron-constant-half-line",
            f"A single PolyReLU neuron x -> σ_a(w x + b) (order {r}, any a, w, b) equals a_0 on w x + b < 0, "
            "so no single neuron equals a non-constant polynomial on R.",
            "SymPy with symbolic a, w, b: substitute each ReLU branch; degree of p - a_0",
            functools.partial(_single_neuron_check, r),
            params={"r": r},
        )
    )
    return out
