"""Test points at which every ReLU-type unit of a network is active and inactive (docs/theory.md §3).

Equality of two networks at points proves nothing about a unit that never fires there: its
coefficients can change freely. So Theorem 1's point checks use points of R^d chosen per unit.
Random points at scales 1, 2, 4, …, 2^12 come first; for each unit still missing a sign, a float
search climbs its pre-activation from the best point so far (``np.float64``, only to *find* points);
every point kept is then re-evaluated exactly, and coverage is counted from the exact values alone.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from theory.exact_numbers import to_float
from theory.network import Network

SCALES = tuple(2**k for k in range(13))


@dataclass(frozen=True)
class Activity:
    """Exact points; how many ReLU-type units were seen with z > 0 and with z < 0 at them, and how many
    weights were *exercised*: their source unit nonzero while their target unit is active."""

    points: list[list[Fraction]]
    units: int
    active: int
    inactive: int
    weights: int
    exercised: int
    radius: Fraction  # max |x_k| over the points

    @property
    def units_covered(self) -> bool:
        """Every ReLU-type unit takes both signs at the points."""
        return self.active == self.inactive == self.units

    def describe(self) -> str:
        return (
            f"{len(self.points)} exact points in [-{self.radius}, {self.radius}]^d; of {self.units} ReLU-type units, "
            f"{self.active} active (z > 0) and {self.inactive} inactive (z < 0) at some point; "
            f"{self.exercised} of {self.weights} weights exercised"
        )


def preactivations(net: Network, x: Sequence[Fraction]) -> tuple[list[list], list[list]]:
    """Per hidden layer, the pre-activations z and the outputs h at an exact point."""
    h, zs, hs = list(x), [], []
    for aff, layer in zip(net.affines[:-1], net.activations, strict=True):
        z = aff(h)
        h = [act(v) for act, v in zip(layer, z, strict=True)]
        zs.append(z)
        hs.append(h)
    return zs, hs


def _float_preactivations(net: Network, X: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    h, zs, hs = X, [], []
    for aff, layer in zip(net.affines[:-1], net.activations, strict=True):
        W = np.array([[to_float(v) for v in row] for row in aff.dense()])
        z = h @ W.T + np.array([to_float(b) for b in aff.bias])
        h = np.stack([act.floats(z[:, i]) for i, act in enumerate(layer)], axis=1)
        zs.append(z)
        hs.append(h)
    return zs, hs


def _sign(v) -> int:
    return 1 if bool(v > 0) else -1 if bool(v < 0) else 0  # bool(): exact algebraic numbers compare too


def activity_points(net: Network, seed: int = 0, random_points: int = 200, climbs: int = 30) -> Activity:
    """Points covering both signs of every ReLU-type unit and every weight, where the search finds them."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    d = net.in_dim
    acts = net.activations
    units = [(l, i) for l, layer in enumerate(acts) for i, a in enumerate(layer) if a.relu_coefficients]
    # weight (l, i, j): row i of affine layer l reads unit j of hidden layer l − 1 (or input j when l = 0)
    weights = [(l, i, j) for l, aff in enumerate(net.affines) for i, row in enumerate(aff.rows) for j in row]
    seen: dict = {+1: set(), -1: set(), "w": set()}
    kept: list[list[Fraction]] = []

    def fires(layer: int, i: int, z) -> bool:
        return layer == len(acts) or acts[layer][i].relu_coefficients is None or _sign(z[layer][i]) > 0

    def consider(x: list[Fraction]) -> None:
        zs, hs = preactivations(net, x)
        new = False
        for l, i in units:
            s = _sign(zs[l][i])
            if s and (l, i) not in seen[s]:
                seen[s].add((l, i))
                new = True
        for w in weights:
            l, i, j = w
            if w not in seen["w"] and _sign(x[j] if l == 0 else hs[l - 1][j]) and fires(l, i, zs):
                seen["w"].add(w)
                new = True
        if new:
            kept.append(x)

    def done() -> bool:
        return len(seen[1]) == len(seen[-1]) == len(units) and len(seen["w"]) == len(weights)

    for t in range(random_points):
        scale = SCALES[t % len(SCALES)]
        consider([Fraction(rng.randint(-1000, 1000) * scale, 1000) for _ in range(d)])
        if done():
            break
    goals: list[tuple[int, int, int, int | None]] = [
        (sign, l, i, None) for sign in (+1, -1) for l, i in units if (l, i) not in seen[sign]
    ]
    goals += [(1, l, i, j) for l, i, j in weights if (l, i, j) not in seen["w"]]
    for sign, l, i, j in goals:
        if not kept or (j is None and (l, i) in seen[sign]) or (j is not None and (l, i, j) in seen["w"]):
            continue

        def score(X, sign=sign, l=l, i=i, j=j):
            zs, hs = _float_preactivations(net, X)
            own = sign * zs[l][:, i] if l < len(acts) else np.ones(len(X))
            if j is None:
                return own
            if l == 0:
                src = np.abs(X[:, j])
            elif acts[l - 1][j].relu_coefficients is not None:  # its pre-activation: a slope to climb, not a plateau
                src = zs[l - 1][:, j]
            else:
                src = np.abs(hs[l - 1][:, j])
            return np.minimum(own if l < len(acts) and acts[l][i].relu_coefficients else 1.0, src)

        X = np.array([[to_float(v) for v in x] for x in kept])
        best = X[np.argmax(score(X))]
        for k in range(climbs):  # random steps at growing sizes; keep the best
            cand = np.vstack([best, best + SCALES[k % len(SCALES)] * nrng.standard_normal((64, d))])
            z = score(cand)
            best = cand[np.argmax(z)]
            if z.max() > 0:
                break
        consider([Fraction(round(v * 1000), 1000) for v in best])
    radius = max((abs(v) for x in kept for v in x), default=Fraction(0))
    return Activity(kept, len(units), len(seen[1]), len(seen[-1]), len(weights), len(seen["w"]), radius)
