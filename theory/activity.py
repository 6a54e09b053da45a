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
    """Exact points and how many ReLU-type units were seen with z > 0 and with z < 0 at them."""

    points: list[list[Fraction]]
    units: int
    active: int
    inactive: int
    radius: Fraction  # max |x_k| over the points

    @property
    def complete(self) -> bool:
        return self.active == self.inactive == self.units

    def describe(self) -> str:
        return (
            f"{len(self.points)} exact points in [-{self.radius}, {self.radius}]^d; of {self.units} ReLU-type units, "
            f"{self.active} active (z > 0) and {self.inactive} inactive (z < 0) at some point"
        )


def preactivations(net: Network, x: Sequence[Fraction]) -> list[list[Fraction]]:
    h, out = list(x), []
    for aff, layer in zip(net.affines[:-1], net.activations, strict=True):
        z = aff(h)
        out.append(z)
        h = [act(v) for act, v in zip(layer, z, strict=True)]
    return out


def _float_preactivations(net: Network, X: np.ndarray) -> list[np.ndarray]:
    h, out = X, []
    for aff, layer in zip(net.affines[:-1], net.activations, strict=True):
        W = np.array([[to_float(v) for v in row] for row in aff.dense()])
        z = h @ W.T + np.array([to_float(b) for b in aff.bias])
        out.append(z)
        cols = []
        for i, act in enumerate(layer):
            c = act.relu_coefficients
            t = np.maximum(z[:, i], 0) if c is not None else z[:, i]
            coeffs = c if c is not None else act.polynomial_coefficients
            cols.append(sum(to_float(ce) * t**e for e, ce in enumerate(coeffs)))
        h = np.stack(cols, axis=1)
    return out


def activity_points(net: Network, seed: int = 0, random_points: int = 200, climbs: int = 30) -> Activity:
    """Points covering both signs of every ReLU-type unit where the search finds them (module docstring)."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    d = net.in_dim
    units = [(l, i) for l, layer in enumerate(net.activations) for i, a in enumerate(layer) if a.relu_coefficients]
    seen = {+1: set(), -1: set()}
    kept: list[list[Fraction]] = []

    def consider(x: list[Fraction]) -> None:
        zs = preactivations(net, x)
        new = False
        for l, i in units:
            z = zs[l][i]
            s = 1 if bool(z > 0) else -1 if bool(z < 0) else 0  # bool(): exact algebraic weights compare too
            if s and (l, i) not in seen[s]:
                seen[s].add((l, i))
                new = True
        if new:
            kept.append(x)

    for t in range(random_points):
        scale = SCALES[t % len(SCALES)]
        consider([Fraction(rng.randint(-1000, 1000) * scale, 1000) for _ in range(d)])
        if len(seen[1]) == len(seen[-1]) == len(units):
            break
    for sign in (+1, -1):
        for l, i in units:
            if (l, i) in seen[sign] or not kept:
                continue
            X = np.array([[to_float(v) for v in x] for x in kept])
            best = X[np.argmax(sign * _float_preactivations(net, X)[l][:, i])]
            for k in range(climbs):  # random steps at shrinking and growing sizes; keep improvements
                step = SCALES[k % len(SCALES)] * nrng.standard_normal((64, d))
                cand = np.vstack([best, best + step])
                z = sign * _float_preactivations(net, cand)[l][:, i]
                best = cand[np.argmax(z)]
                if z.max() > 0:
                    break
            consider([Fraction(round(v * 1000), 1000) for v in best])
    radius = max((abs(v) for x in kept for v in x), default=Fraction(0))
    return Activity(kept, len(units), len(seen[1]), len(seen[-1]), radius)

