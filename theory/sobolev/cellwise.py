"""A network's exact output on one box, as a polynomial, with no identity assumed (docs/theory.md §5).

On a box B a neuron's pre-activation is a polynomial p (when the layer before is). ``ReLU(p)^k``:
- if p ≥ 0 on B (exact enclosure, ``Poly.range_on_box``) it is p^k; if p ≤ 0 it is 0;
- otherwise it is kept as λ^k·R(q)^k with q = p/λ normalised (leading coefficient ±1), using
  R(−q)^k = (−1)^k q^k − (−1)^k R(q)^k, so the same kink from p and −p has one key.
A later affine map adds these up; when the R(q)^k terms cancel (as in ReLU(u)² + ReLU(−u)² = u²) the
value is a polynomial again. A pre-activation that still carries a kink is *not* decided: evaluation
stops with ``NotPolynomial``, so a broken construction can never be reported equal. Hidden layers
must have rational weights; the output layer may carry exact irrational weights, which become the
atoms of an ``AtomPoly``.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from theory.network import Network
from theory.polynomial import ONE, AtomPoly, Poly, linear_atoms

Box = Sequence[tuple[Fraction, Fraction]]


class NotPolynomial(ValueError):
    """A pre-activation is not a polynomial on the box, so the network is not proven polynomial there."""


class Value:
    """poly + Σ coeff·R(q)^k over the box."""

    __slots__ = ("poly", "kinks")

    def __init__(self, poly: Poly, kinks: dict | None = None):
        self.poly = poly
        self.kinks: dict[tuple[Poly, int], Fraction] = kinks or {}


def _relu_power(p: Poly, k: int, box: Box) -> Value:
    lo, hi = p.range_on_box(box)
    if lo >= 0:
        return Value(p**k)
    if hi <= 0:
        return Value(Poly(p.nvars))
    _, lead = p.leading()
    lam = abs(lead)
    q = p.scale(1 / lead)  # leading coefficient +1: p = λq or p = −λq
    if lead > 0:
        return Value(Poly(p.nvars), {(q, k): lam**k})
    sign = (-1) ** k
    return Value((q**k).scale(sign * lam**k), {(q, k): -sign * lam**k})


def _combine(row: dict[int, Fraction], bias: Fraction, h: list[Value], nvars: int) -> Value:
    terms: dict = {(0,) * nvars: Fraction(bias)} if bias else {}
    kinks: dict = {}
    for j, w in row.items():
        for mono, c in h[j].poly.terms.items():
            terms[mono] = terms.get(mono, 0) + w * c
        for key, c in h[j].kinks.items():
            kinks[key] = kinks.get(key, 0) + w * c
    return Value(Poly(nvars, terms), {k: c for k, c in kinks.items() if c != 0})


def network_on_box(net: Network, box: Box) -> list[AtomPoly]:
    """The outputs of ``net`` on ``box`` as exact AtomPolys; raises NotPolynomial where undecided."""
    nvars = net.in_dim
    h = [Value(Poly.affine([int(i == k) for i in range(nvars)])) for k in range(nvars)]
    for l, (aff, layer) in enumerate(zip(net.affines[:-1], net.activations, strict=True)):
        if not aff.is_rational():
            raise ValueError(f"hidden affine layer {l + 1} has irrational weights: cellwise evaluation needs Q")
        out = []
        for i, (row, b, act) in enumerate(zip(aff.rows, aff.bias, layer, strict=True)):
            z = _combine(row, b, h, nvars)
            if z.kinks:
                raise NotPolynomial(f"neuron {i} of hidden layer {l + 1} has a kinked pre-activation on the box")
            c = act.relu_coefficients
            if c is None:  # identity / polynomial activation
                pc = act.series[1]
                val = Poly(nvars)
                for e, ce in enumerate(pc):
                    val = val + (z.poly**e).scale(ce)
                out.append(Value(val))
                continue
            acc = Value(Poly.constant(nvars, c[0]))
            for e, ce in enumerate(c[1:], start=1):
                if ce != 0:
                    v = _relu_power(z.poly, e, box)
                    acc = _combine({0: Fraction(ce), 1: Fraction(1)}, Fraction(0), [v, acc], nvars)
            out.append(acc)
        h = out
    outputs = []
    last = net.affines[-1]
    for o, (row, b) in enumerate(zip(last.rows, last.bias, strict=True)):
        per_atom: dict[object, dict[int, Fraction]] = {}  # atom -> {hidden unit: rational weight}
        for j, w in row.items():
            for atom, weight in linear_atoms(w).items():
                per_atom.setdefault(atom, {})[j] = weight
        result = AtomPoly(nvars)
        result.add(b, Poly.constant(nvars, 1))
        for atom, weights in per_atom.items():
            v = _combine(weights, Fraction(0), h, nvars)
            if v.kinks:  # the kinks of one atom must cancel among themselves
                raise NotPolynomial(f"output {o} is kinked on the box (atom {atom})")
            result.add(Fraction(1) if atom == ONE else atom, v.poly)
        outputs.append(result)
    return outputs
