"""Ways to break an exact network on purpose, so that a certificate can be seen to fail (docs/theory.md §2).

Each operator returns a new ``Network`` and leaves its argument alone. ``standard_mutants`` draws a
fixed, seeded set of them for one network: the suite in tests/test_mutations.py runs every
certificate group against such sets.

Kinds: ``weight`` and ``bias`` (moved by δ), ``activation`` (one unit's coefficient moved by δ),
``drop`` (a unit's outgoing weights removed), ``swap`` (two units of a layer exchange their
pre-activations), ``output`` (one output weight scaled by 1 + δ).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from theory.activation import Activation
from theory.exact_numbers import exact
from theory.network import Affine, Network

DELTA = Fraction(1, 1000)


@dataclass(frozen=True)
class Mutant:
    kind: str
    where: str
    apply: Callable[[Network], Network]


def shift_weight(net: Network, l: int, row: int, column: int, delta=DELTA) -> Network:
    return net.perturbed(l, row, column, delta)


def shift_bias(net: Network, l: int, row: int, delta=DELTA) -> Network:
    return net.perturbed(l, row, None, delta)


def drop_unit(net: Network, l: int, unit: int) -> Network:
    """Hidden layer ``l``'s unit no longer reaches layer l + 1."""
    aff = net.affines[l + 1]
    rows = tuple({j: v for j, v in r.items() if j != unit} for r in aff.rows)
    return net.with_affine(l + 1, Affine(aff.in_dim, rows, aff.bias))


def shift_activation(net: Network, l: int, unit: int, delta=DELTA) -> Network:
    """Moves the highest coefficient of one unit's activation (as PolyReLU or polynomial) by δ."""
    act = net.activations[l][unit]
    relu = act.relu_coefficients is not None
    coeffs = list(act.relu_coefficients if relu else act.polynomial_coefficients)
    coeffs[-1] = coeffs[-1] + exact(delta)
    new = Activation("polyrelu" if relu else "polynomial", tuple(coeffs))
    layers = [list(layer) for layer in net.activations]
    layers[l][unit] = new
    return Network(net.affines, layers, [False] * len(layers))


def swap_units(net: Network, l: int, i: int, j: int) -> Network:
    """Units i and j of hidden layer ``l`` exchange their rows and biases (what they compute)."""
    aff = net.affines[l]
    rows, bias = list(aff.rows), list(aff.bias)
    rows[i], rows[j], bias[i], bias[j] = rows[j], rows[i], bias[j], bias[i]
    return net.with_affine(l, Affine(aff.in_dim, tuple(rows), tuple(bias)))


def scale_output(net: Network, column: int, delta=DELTA) -> Network:
    aff = net.affines[-1]
    rows = [dict(r) for r in aff.rows]
    rows[0][column] = rows[0][column] * (1 + exact(delta))
    return net.with_affine(len(net.affines) - 1, Affine(aff.in_dim, tuple(rows), aff.bias))


def standard_mutants(net: Network, seed: int = 0, per_kind: int = 2) -> list[Mutant]:
    """A seeded set: ``per_kind`` of each kind, spread over the layers (each a real change of the network)."""
    rng = random.Random(seed)
    hidden = len(net.affines) - 1
    out: list[Mutant] = []
    for k in range(per_kind):
        l = k % len(net.affines)
        aff = net.affines[l]
        i = rng.randrange(aff.out_dim)
        if aff.rows[i]:
            j = rng.choice(sorted(aff.rows[i]))
            out.append(Mutant("weight", f"W{l}[{i},{j}]", lambda n, l=l, i=i, j=j: shift_weight(n, l, i, j)))
        out.append(Mutant("bias", f"b{l}[{i}]", lambda n, l=l, i=i: shift_bias(n, l, i)))
        if hidden:
            h = k % hidden
            u = rng.randrange(net.affines[h].out_dim)
            out.append(Mutant("activation", f"σ{h}[{u}]", lambda n, h=h, u=u: shift_activation(n, h, u)))
            out.append(Mutant("drop", f"unit {h}[{u}]", lambda n, h=h, u=u: drop_unit(n, h, u)))
            w = net.affines[h].out_dim
            if w > 1:
                a, b = rng.sample(range(w), 2)
                out.append(Mutant("swap", f"units {h}[{a}]<->[{b}]", lambda n, h=h, a=a, b=b: swap_units(n, h, a, b)))
        col = rng.choice(sorted(net.affines[-1].rows[0]))
        out.append(Mutant("output", f"out[{col}]", lambda n, c=col: scale_output(n, c)))
    return out
