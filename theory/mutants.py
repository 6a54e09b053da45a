"""Ways to break an exact network on purpose, so that a certificate can be seen to fail (docs/theory.md §2).

Each operator returns a new ``Network`` and leaves its argument alone. ``mutate(net, kind, seed,
points)`` applies one of a kind at a seeded place, among units that are live at ``points`` (so that
the mutant changes the function there); tests/theory/test_mutations.py runs every certificate group
against such mutants.

Kinds of ``mutate`` (:data:`KINDS`): ``weight`` and ``bias`` (moved by δ), ``activation`` (one unit's
coefficient moved by δ), ``drop`` (a unit's outgoing weights removed), ``output`` (one output weight
scaled by 1 + δ). ``swap_units`` (two units of a layer exchange their pre-activations) is placed by hand:
swapping two symmetric units changes nothing.
"""

from __future__ import annotations

import random
from fractions import Fraction

from theory.activation import Activation
from theory.exact_numbers import exact
from theory.network import Affine, Network

DELTA = Fraction(1, 1000)


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
    relu, series = act.series
    coeffs = list(series)
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


KINDS = ("weight", "bias", "activation", "drop", "output")


def _live(net: Network, points) -> tuple[list[list[int]], set[tuple[int, int, int]]]:
    """Per hidden layer, the units with a nonzero outgoing weight that fire (z > 0, or not ReLU-type) at one
    of ``points``, and the weights (layer, row, column) *exercised* there: source nonzero while the row's
    unit fires. ``points=None``: every unit and weight. A mutant anywhere else may not change the function."""
    used = [set(j for row in aff.rows for j in row) for aff in net.affines[1:]]
    every = {(l, i, j) for l, aff in enumerate(net.affines) for i, row in enumerate(aff.rows) for j in row}
    if points is None:
        return [sorted(u) for u in used], every
    live: list[set[int]] = [set() for _ in net.affines[:-1]]
    exercised: set[tuple[int, int, int]] = set()
    for x in points:
        h = list(x)
        for l, aff in enumerate(net.affines):
            z = aff(h)
            if l == len(net.activations):
                fired = set(range(aff.out_dim))
            else:
                layer = net.activations[l]
                fired = {
                    i for i, (a, v) in enumerate(zip(layer, z, strict=True)) if a.relu_coefficients is None or v > 0
                }
            exercised |= {(l, i, j) for i in fired for j, v in aff.rows[i].items() if h[j] != 0}
            if l < len(net.activations):
                live[l] |= fired
                h = [a(v) for a, v in zip(net.activations[l], z, strict=True)]
    return [sorted(lv & u) for lv, u in zip(live, used, strict=True)], exercised


def _live_units(net: Network, points) -> list[list[int]]:
    return _live(net, points)[0]


def mutate(net: Network, kind: str, seed: int = 0, points=None, delta=DELTA) -> Network:
    """One mutant of ``kind`` at a seeded place among the live units (``_live_units``) of ``points``."""
    rng = random.Random(seed)
    live, exercised = _live(net, points)
    layers = [l for l, units in enumerate(live) if units]
    if kind == "output" or not layers:
        cols = sorted(net.affines[-1].rows[0])
        if len(net.affines) > 1 and live[-1]:
            cols = [c for c in cols if c in live[-1]]
        return scale_output(net, rng.choice(cols), delta)
    if kind == "weight":  # into a live unit, from a source that is nonzero while it fires
        hidden = len(net.activations)
        weights = sorted(w for w in exercised if w[0] < hidden and w[1] in live[w[0]])
        l, u, j = rng.choice(weights) if weights else (layers[0], live[layers[0]][0], 0)
        return shift_weight(net, l, u, j, delta)
    l = rng.choice(layers)
    u = rng.choice(live[l])
    match kind:
        case "bias":
            return shift_bias(net, l, u, delta)
        case "activation":
            return shift_activation(net, l, u, delta)
        case "drop":
            return drop_unit(net, l, u)
    raise ValueError(f"unknown mutant kind {kind!r}; valid: {', '.join(KINDS)}")
