"""Certified sup |f − net| over [0, 1]^d by branch and bound over boxes (docs/theory.md §8.1).

For any d, and a network of a continuous piecewise-polynomial activation (``theory.trained.Description``),
each box B is a region of f's pieces (§5.4, ``certified_error.pieces``) with a centre c in it and radii
r seen from c. With g = f − net:
    lower:  sup_B |g| ≥ |g(c)|,
    upper:  sup_B |g| ≤ min(|g(c)| + Σ_k |∂_k g(B)|·r_k,  |f(B) − net(B)|),
the mean-value form and the natural enclosure. f(c), f(B) and ∂f(B) come from f's jets in ball
arithmetic (§5.3); net(c), net(B) and ∂net(B) from a forward pass in outward-rounded float64 interval
arithmetic (``theory.rounded_intervals``), vectorised over a batch of boxes: σ and σ' on an interval of
z that holds 0 are the union of both sides' polynomials, which the mean-value form allows because the
network is continuous. Boxes whose upper end exceeds (1 + rtol)·(the best lower end) are bisected
along their longest side, the largest first, until none is left or the time budget is spent; the gap
reached is reported.
"""

from __future__ import annotations

import heapq
import itertools
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from flint import arb

from theory import rounded_intervals as ri
from theory.sobolev.certified_error import Box, Region, pieces
from theory.sobolev.jets import Jet, box_ball, lower, point_jets, upper
from theory.sobolev.piece_jets import PieceJet, compile_piece
from theory.sobolev.target import SobolevTarget
from theory.trained import Description, TrainedSup

#: boxes split per round: one vectorised forward pass through the network for all their regions
BATCH = 64


def certified_sup_boxes(
    target: SobolevTarget,
    net: Description,
    rtol: Fraction = Fraction(1, 10),
    seconds: float = 60.0,
    max_boxes: int = 1_000_000,
) -> TrainedSup:
    """[lower, upper] of sup_{[0,1]^d} |f − net| (module docstring); stops at ``rtol`` or ``seconds``."""
    start, d = time.perf_counter(), target.d
    f, floats = compile_piece(target), FloatNet.of(net)
    count = itertools.count()
    heap: list[tuple[float, int, Box, Fraction]] = []
    best: tuple[Fraction, tuple[Fraction, ...]] = (Fraction(0), (Fraction(1, 2),) * d)

    def push(boxes: list[Box]) -> None:
        nonlocal best
        regions = [(i, r) for i, box in enumerate(boxes) for r in pieces(target.lifted, box)]
        ends = _enclose(f, [r for _, r in regions], floats)
        tops = [Fraction(0)] * len(boxes)
        for (i, region), (lo, hi) in zip(regions, ends, strict=True):
            if lower(lo) > best[0]:
                best = (lower(lo), region.centre)
            tops[i] = max(tops[i], upper(hi))
        for box, top in zip(boxes, tops, strict=True):
            heapq.heappush(heap, (-float(top), next(count), box, top))

    push([tuple((Fraction(0), Fraction(1)) for _ in range(d))])
    splits = 0
    while time.perf_counter() - start < seconds and splits < max_boxes:
        wide = []
        while heap and heap[0][3] > best[0] * (1 + rtol) and len(wide) < BATCH:
            wide.append(heapq.heappop(heap)[2])
        if not wide:
            break
        push([half for box in wide for half in _halves(box)])
        splits += len(wide)
    top = max(entry[3] for entry in heap)
    return TrainedSup(best[0], top, best[1], len(heap), time.perf_counter() - start)


def _halves(box: Box) -> tuple[Box, Box]:
    k = max(range(len(box)), key=lambda i: box[i][1] - box[i][0])
    a, b = box[k]
    m = (a + b) / 2
    return box[:k] + ((a, m),) + box[k + 1 :], box[:k] + ((m, b),) + box[k + 1 :]


def _enclose(f: PieceJet, regions: list[Region], net: FloatNet) -> list[tuple[arb, arb]]:
    """(lower, upper) of sup |f − net| over each region (module docstring)."""
    d = len(regions[0].box)
    lo = ri.down(np.array([[float(a) for a, _ in r.box] for r in regions]))
    hi = ri.up(np.array([[float(b) for _, b in r.box] for r in regions]))
    centre = np.array([[float(c) for c in r.centre] for r in regions])
    exact = np.array([[Fraction(float(c)) == c for c in r.centre] for r in regions])
    c_lo, c_hi = np.where(exact, centre, ri.down(centre)), np.where(exact, centre, ri.up(centre))
    value, grad = net.forward((lo, hi))
    at, _ = net.forward((c_lo, c_hi))
    out = []
    for n, region in enumerate(regions):
        g_c = f(point_jets(d, 0, list(region.centre)), region.signs).c[0] - _ball(at, n)
        over = [box_ball(a, b) for a, b in region.box]
        jet = f([Jet.variable(d, 1, k, over[k]) for k in range(d)], region.signs).coefficients()
        slope = abs(g_c)
        for k, r in enumerate(region.radius):
            slope += abs(jet[tuple(int(i == k) for i in range(d))] - _ball(grad, n, k)) * r
        natural = abs(jet[(0,) * d] - _ball(value, n))
        out.append((abs(g_c), slope if upper(slope) <= upper(natural) else natural))
    return out


def _ball(x: ri.Interval, *index) -> arb:
    """One float interval as a ball (both ends are exact floats)."""
    return arb(float(x[0][index])).union(arb(float(x[1][index])))


@dataclass(frozen=True)
class FloatNet:
    """A ``Description`` as float64 arrays: per stage its scale and, per layer, W, b and (after a hidden
    layer) each unit's two polynomials as coefficient rows, padded with zeros to one length."""

    stages: tuple[tuple[float, tuple[tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None], ...]], ...]

    @classmethod
    def of(cls, net: Description) -> FloatNet:
        stages = []
        for scale, layers in net.stages:
            converted = []
            for layer in layers:
                polys = None
                if layer.pieces is not None:
                    if any(float(r[0] if r else 0) != float(l[0] if l else 0) for r, l in layer.pieces):
                        raise ValueError("branch and bound needs a continuous activation (σ(0) the same on both sides)")
                    width = max(len(c) for pair in layer.pieces for c in pair)
                    polys = tuple(
                        np.array([list(map(float, c)) + [0.0] * (width - len(c)) for c in side])
                        for side in zip(*layer.pieces, strict=True)
                    )
                converted.append((np.array(layer.W, dtype=float), np.array(layer.b, dtype=float), polys))
            stages.append((_exact_float(scale), tuple(converted)))
        return cls(tuple(stages))

    def forward(self, x: ri.Interval) -> tuple[ri.Interval, ri.Interval]:
        """net and its gradient over boxes x = (lo, hi) of shape (B, d): values (B,), gradients (B, d)."""
        B, d = x[0].shape
        total = ri.point(np.zeros(B))
        total_grad = ri.point(np.zeros((B, d)))
        two = np.broadcast_to(2 * np.eye(d), (B, d, d)).copy()
        for scale, layers in self.stages:
            h = ri.down(2 * x[0] - 1), ri.up(2 * x[1] - 1)
            dh = ri.point(two)  # dh[b, k, i] = ∂h_i/∂x_k
            for W, b, polys in layers:
                z, dz = ri.add(ri.matmul(h, W), ri.point(b)), ri.matmul(dh, W)
                if polys is None:
                    h, dh = z, dz
                    continue
                h, slope = _activate(z, *polys)
                dh = ri.mul((slope[0][:, None, :], slope[1][:, None, :]), dz)
            s = ri.point(scale)
            total = ri.add(total, ri.mul(s, (h[0][:, 0], h[1][:, 0])))
            total_grad = ri.add(total_grad, ri.mul(s, (dh[0][..., 0], dh[1][..., 0])))
        return total, total_grad


def _exact_float(q: Fraction) -> float:
    if Fraction(float(q)) != q:
        raise ValueError(f"a stage scale {q} is not a float64 number")
    return float(q)


def _activate(z: ri.Interval, right: np.ndarray, left: np.ndarray) -> tuple[ri.Interval, ri.Interval]:
    """σ and σ' over z, unit by unit: the polynomial of each side z meets, their union where z holds 0."""
    zr = np.maximum(z[0], 0), np.maximum(z[1], 0)
    zl = np.minimum(z[0], 0), np.minimum(z[1], 0)
    (vr, dr), (vl, dl) = _horner(zr, right), _horner(zl, left)
    use_r, use_l = z[1] >= 0, z[0] < 0

    def pick(r: ri.Interval, l_: ri.Interval) -> ri.Interval:
        both = ri.union(r, l_)
        return tuple(np.where(use_r & use_l, u, np.where(use_r, a, c)) for u, a, c in zip(both, r, l_, strict=True))  # type: ignore[return-value]

    return pick(vr, vl), pick(dr, dl)


def _horner(z: ri.Interval, coeffs: np.ndarray) -> tuple[ri.Interval, ri.Interval]:
    """Σ_i c_i z^i and its derivative, per unit (coeffs: units × degree + 1)."""
    v = dv = ri.point(np.zeros_like(z[0]))
    for c in coeffs.T[::-1]:
        dv = ri.add(ri.mul(dv, z), v)
        v = ri.add(ri.mul(v, z), ri.point(np.broadcast_to(c, z[0].shape)))
    return v, dv
