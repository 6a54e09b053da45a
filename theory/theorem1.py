"""Theorem 1: every ReLU network is a PolyReLU network of the same size; ReLU^k and polynomial ones too.

docs/theory.md §3.

[paper] Every ReLU network f: [-1,1]^d -> R of depth L and width K equals a PolyReLU network of size O(LK).
[lab, precise] For any ReLU network (any input/output dimension, any depth, exact weights) the same
architecture with a = e_1 in every layer computes the same function *on all of R^d*: same depth,
width, neurons, nonzero weights and biases; it adds one shared coefficient vector e_1 (r + 1 numbers)
per hidden layer. More generally (Lemma 1 applied neuron by neuron, ``theory.scaling_trick``):
- ReLU^k (k <= r) or PolyReLU of order <= r: same size, factor 1;
- polynomial activations of degree <= r: each neuron becomes 2 PolyReLU neurons (per-neuron
  coefficients), so width, neurons, nonzero weights grow by at most 2;
- with one coefficient vector a shared by the whole network (e.g. the paper's a_0 = 0, a_i = 1/r), each
  neuron becomes at most r (ReLU^k) or 2r (polynomial) neurons: factor m = r or 2r (docs/theory.md says 2(r+1);
  the constant goes into the next bias, so r suffices).
Biases: the expansion's constants move into the next layer's biases, which may add up to one nonzero
bias per next-layer unit; weights and biases of layer l are scaled copies, so each count grows by <= m.

API
- ``to_polyrelu(net, r=3, shared=None) -> Conversion``: the PolyReLU network and the size relation.
  ``relu_to_polyrelu(net, r)`` insists on a ReLU network (the paper's statement).
- ``Conversion``: source, target (``Network``), factor m, ``relation()`` (dict of checks), ``relation_holds``.
- ``is_polyrelu_network(net, r)``: every hidden neuron is a PolyReLU of order exactly r.
- ``random_network(seed, in_dim, widths, out_dim, activations)``: exact random rational networks.
- ``certificates()``: the ``theorem1`` group for ``polylab verify``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import sympy

from theory.activation import Activation, identity, polynomial, polyrelu, relu, relu_power
from theory.activity import activity_points
from theory.certificate import Certificate, Check, certify
from theory.exact_equality import compare_at_points, prove_same_function, random_points
from theory.exact_numbers import Exact, random_rational, to_float
from theory.network import Affine, Network
from theory.scaling_trick import ONE, Expansion, balanced_scale, expansion

PAPER_ORDER = 3


def paper_coefficients(r: int = PAPER_ORDER) -> tuple[Fraction, ...]:
    """The paper's initialisation a_0 = 0, a_i = 1/r (docs/theory.md §1): a shared vector with every a_i != 0."""
    return (Fraction(0), *(Fraction(1, r) for _ in range(r)))


@dataclass(frozen=True)
class Conversion:
    """A network, its PolyReLU twin, and the stated size factor m."""

    source: Network
    target: Network
    factor: int
    r: int

    def relation(self) -> dict[str, bool]:
        s, t, m = self.source.sizes(), self.target.sizes(), self.factor
        check = {
            "same depth": t.depth == s.depth,
            "width <= m·width": t.width <= m * s.width,
            "neurons <= m·neurons": t.neurons <= m * s.neurons,
            "nonzero weights <= m²·nonzero weights": t.nonzero_weights <= m * m * s.nonzero_weights,
            "nonzero biases <= m·nonzero biases + neurons + outputs": t.nonzero_biases
            <= m * s.nonzero_biases + s.neurons + s.out_dim,
            "PolyReLU of order r": is_polyrelu_network(self.target, self.r),
        }
        if m == 1 and all(a.relu_coefficients is not None for layer in self.source.activations for a in layer):
            check["same width, neurons, weights, biases"] = (t.width, t.neurons, t.nonzero_parameters) == (
                s.width,
                s.neurons,
                s.nonzero_parameters,
            )
        return check

    @property
    def relation_holds(self) -> bool:
        return all(self.relation().values())

    def sizes(self) -> dict[str, object]:
        return {
            "source": self.source.sizes().as_dict(),
            "target": self.target.sizes().as_dict(),
            "factor m": self.factor,
        }


def is_polyrelu_network(net: Network, r: int) -> bool:
    return all(a.kind == "polyrelu" and len(a.coeffs) == r + 1 for layer in net.activations for a in layer)


def to_polyrelu(
    net: Network, r: int = PAPER_ORDER, shared: Sequence[object] | None = None, domain: float | None = 1.0
) -> Conversion:
    """Swap every hidden neuron for its PolyReLU expansion; layer l+1 absorbs weights and constants.

    Exact on all of R^d whatever ``domain`` is. With ``shared``, each ReLU-type neuron's scales λ_j = s·j
    use s = ``balanced_scale`` of its typical pre-activation for inputs in [-domain, domain]^d, so the
    float64 export does not cancel huge r-th powers (polynomial neurons keep s = 1, which measured
    better); ``domain=None`` uses s = 1 everywhere.
    """
    if r < 1:
        raise ValueError(f"order r must be >= 1, got {r}")
    bounds = preactivation_bounds(net, domain) if shared is not None and domain is not None else None
    cache: dict[tuple[Activation, Exact], Expansion] = {}
    affines, acts = [], []
    col_map: list[list[tuple[int, Exact]]] | None = None  # old neuron k -> [(new neuron, weight)]
    kappa: list[Exact] = []  # old neuron k's constant
    factor = 1
    for l, aff in enumerate(net.affines):
        rows, bias = [], []
        for row, b in zip(aff.rows, aff.bias, strict=True):
            if col_map is None:
                rows.append(row)
                bias.append(b)
                continue
            new: dict[int, Exact] = {}
            nb = b
            for k, w in row.items():
                nb = nb + w * kappa[k]
                for idx, c in col_map[k]:
                    new[idx] = new.get(idx, 0) + w * c
            rows.append({j: v for j, v in new.items() if v != 0})
            bias.append(nb)
        in_dim = aff.in_dim if col_map is None else sum(len(c) for c in col_map)
        if l == len(net.affines) - 1:
            affines.append(Affine(in_dim, tuple(rows), tuple(bias)))
            break
        out_rows: list[dict[int, Exact]] = []
        out_bias: list[Exact] = []
        layer_acts: list[Activation] = []
        col_map_next: list[list[tuple[int, Exact]]] = []
        kappa_next: list[Exact] = []
        for i, (row, b, act) in enumerate(zip(rows, bias, net.activations[l], strict=True)):
            # balanced scales help ReLU-type neurons in float64; polynomial ones fare better with λ_j = j
            balanced = bounds is not None and act.relu_coefficients is not None
            scale = balanced_scale(bounds[l][i], r) if bounds is not None and balanced else ONE
            if (act, scale) not in cache:
                cache[act, scale] = expansion(act, r, shared, scale)
            e = cache[act, scale]
            factor = max(factor, e.width)
            cols = []
            for s, new_act, w in e.terms:
                cols.append((len(out_rows), w))
                out_rows.append({j: s * v for j, v in row.items()})
                out_bias.append(s * b)
                layer_acts.append(new_act)
            col_map_next.append(cols)
            kappa_next.append(e.constant)
        if not out_rows:
            raise ValueError(f"hidden layer {l + 1} is constant after expansion; keep at least one non-constant neuron")
        affines.append(Affine(in_dim, tuple(out_rows), tuple(out_bias)))
        acts.append(layer_acts)
        col_map, kappa = col_map_next, kappa_next
    return Conversion(net, Network(affines, acts), factor, r)


def preactivation_bounds(net: Network, domain: float, samples: int = 64, seed: int = 0) -> list[list[float]]:
    """Typical |pre-activation| of every hidden neuron for inputs in [-domain, domain]^d: twice the largest
    value seen at ``samples`` random float inputs (numpy, sparse rows).

    Only used to pick float-friendly scales (``balanced_scale``), never for a correctness claim; a
    worst-case interval bound would be far too pessimistic for polynomial activations.
    """
    rng = np.random.default_rng(seed)
    h = rng.uniform(-domain, domain, size=(samples, net.in_dim))
    out = []
    for aff, layer in zip(net.affines[:-1], net.activations, strict=True):
        z = np.tile(np.array([to_float(b) for b in aff.bias]), (samples, 1))
        for i, row in enumerate(aff.rows):
            if row:
                cols = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
                vals = np.array([to_float(v) for v in row.values()])
                z[:, i] += h[:, cols] @ vals
        out.append([2.0 * float(m) for m in np.abs(z).max(axis=0)])
        with np.errstate(over="ignore", invalid="ignore"):
            h = np.stack([act.floats(z[:, i]) for i, act in enumerate(layer)], axis=1)
    return out


def relu_to_polyrelu(net: Network, r: int = PAPER_ORDER) -> Conversion:
    """The paper's Theorem 1: a ReLU network as the same-size PolyReLU network with a = e_1."""
    bad = sorted({a.describe() for layer in net.activations for a in layer if not a.is_relu()})
    if bad:
        raise ValueError(f"relu_to_polyrelu needs a ReLU network; found {', '.join(bad)} (use to_polyrelu)")
    return to_polyrelu(net, r)


def random_network(
    seed: int,
    in_dim: int,
    widths: Sequence[int],
    out_dim: int,
    activations: Sequence[Activation],
    denominator: int = 16,
) -> Network:
    """Dense random network, weights and biases exact rationals in [-2, 2] and [-1, 1]; activations drawn per neuron."""
    rng = random.Random(seed)
    dims = [in_dim, *widths, out_dim]
    affines = []
    for l in range(len(dims) - 1):
        W = [[random_rational(rng, -2, 2, denominator) for _ in range(dims[l])] for _ in range(dims[l + 1])]
        b = [random_rational(rng, -1, 1, denominator) for _ in range(dims[l + 1])]
        affines.append(Affine.from_dense(W, b))
    acts = [[rng.choice(list(activations)) for _ in range(w)] for w in widths]
    return Network(affines, acts)


# --------------------------------------------------------------------------- certificates

STATEMENT = (
    "A network with {kind} activations equals the PolyReLU network of order r = {r} built neuron by neuron "
    "from Lemma 1 ({form}) {where}; sizes: {relation}."
)
ON_R = "on all of R^d (case analysis on every sign branch)"
AT_POINTS = (
    "at exact points of R^d chosen so that every ReLU-type unit of the PolyReLU network is active at one "
    "of them and inactive at another (a point check, not a proof on R^d)"
)


def _check(conv: Conversion, points: int, seed: int, prove: bool) -> Check:
    activity = activity_points(conv.target, seed)
    pts = random_points(conv.source.in_dim, points, seed) + activity.points
    at_points = compare_at_points(conv.target, conv.source, pts)
    values = {tuple(conv.source(p)) for p in pts}
    relation = conv.relation()
    details = [f"{len(pts)} exact points, max |f - g| = {at_points.max_error}", activity.describe()]
    covered = activity.units_covered
    if not covered:
        details.append("some unit never changes sign at the points: its coefficients go unchecked")
    if activity.exercised < activity.weights:
        details.append(
            f"{activity.weights - activity.exercised} weights never see their source nonzero while their unit fires "
            "at any point found: where no such point exists, changing them changes nothing"
        )
    if len(values) < 2:
        details.append("the network is constant at every test point: the check would see nothing")
    holds = at_points.holds and all(relation.values()) and len(values) >= 2 and (covered or prove)
    if prove:
        proof = prove_same_function(conv.target, conv.source)
        details.append(f"closed forms: case analysis over {proof.branches} sign branches: {'0' if proof else 'NOT 0'}")
        if not proof:
            details.append(f"failing branch: {proof.failing}")
        holds = holds and proof.holds
    failed = [k for k, v in relation.items() if not v]
    if failed:
        details.append(f"size relation fails: {', '.join(failed)}")
    return Check(holds=holds, measured_error=at_points.max_error, details="; ".join(details), sizes=conv.sizes())


def certify_conversion(
    name: str, net: Network, kind: str, r: int, shared, relation: str, points: int, seed: int, prove: bool, params: dict
) -> Certificate:
    form = (
        "per-neuron coefficients"
        if shared is None
        else f"one shared coefficient vector a = ({', '.join(map(str, shared))})"
    )
    where = ON_R if prove else AT_POINTS
    return certify(
        name,
        STATEMENT.format(kind=kind, r=r, form=form, relation=relation, where=where),
        ("case analysis on closed forms + " if prove else "")
        + f"exact equality at {points} random points and at points covering every unit's two signs",
        lambda: _check(to_polyrelu(net, r, shared), points, seed, prove),
        params={**params, "r": r, "shared": None if shared is None else [str(v) for v in shared], "seed": seed},
        error_bound=0,
    )


def certificates(r: int = PAPER_ORDER) -> list[Certificate]:
    relu_only, paper = [relu()], paper_coefficients(r)
    square = [relu_power(2)]
    polys = [polynomial([0, 1, Fraction(1, 2), Fraction(-1, 3)]), polynomial([Fraction(1, 4), -1, 0, 2]), identity()]
    mixed = [relu(), relu_power(2), polyrelu([Fraction(1, 2), -1, 1]), polynomial([0, 1, Fraction(1, 3)]), identity()]
    same = "same depth, width, neurons, nonzero weights and biases (factor m = 1)"
    sqrt2 = Network.build(
        [([[1, sympy.sqrt(2)], [-1, 1]], [0, sympy.sqrt(2) / 2]), ([[sympy.sqrt(2), -1]], [0])], [relu()]
    )
    cases = [
        ("relu-small-exact-proof", random_network(1, 2, [3, 2], 1, relu_only), "ReLU", None, same, 30, True),
        ("relu-deep-wide", random_network(3, 4, [16] * 4, 3, relu_only), "ReLU", None, same, 40, False),
        ("relu-algebraic-weights", sqrt2, "ReLU (weights in Q(sqrt 2))", None, same, 10, True),
        ("relu-shared-paper-a", random_network(3, 2, [2, 2], 1, relu_only), "ReLU", paper, "factor m = r", 30, True),
        ("relu2-small-exact-proof", random_network(4, 2, [2, 2], 1, square), "ReLU^2", None, same, 30, True),
        ("relu2-deep", random_network(13, 3, [8] * 5, 2, square), "ReLU^2", None, same, 30, False),
        (
            "poly-per-neuron-proof",
            random_network(6, 1, [2, 2], 1, polys),
            "polynomial (deg <= 3)",
            None,
            "m = 2",
            30,
            True,
        ),
        (
            "poly-per-neuron-deep",
            random_network(7, 3, [6] * 4, 2, polys),
            "polynomial (deg <= 3)",
            None,
            "m = 2",
            20,
            False,
        ),
        (
            "poly-shared-paper-a",
            random_network(8, 2, [3, 3], 1, polys),
            "polynomial (deg <= 3)",
            paper,
            "m = 2r",
            20,
            False,
        ),
        (
            "mixed-per-neuron",
            random_network(9, 2, [5, 5, 5], 2, mixed),
            "mixed ReLU/ReLU^2/PolyReLU/poly",
            None,
            "m = 2",
            20,
            False,
        ),
    ]
    out = []
    for name, net, kind, shared, relation, points, prove in cases:
        params = {"architecture": f"{net.in_dim}-{'-'.join(str(a.out_dim) for a in net.affines)}", "activations": kind}
        out.append(certify_conversion(f"theorem1/{name}", net, kind, r, shared, relation, points, 1000, prove, params))
    return out
