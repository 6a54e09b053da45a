"""Certified sup |f − net| over [0, 1]^d by branch and bound over boxes (docs/theory.md §8.1).

For any d, and a network of a continuous piecewise-polynomial activation (``theory.trained.Description``),
each box B is a region of f's pieces (§5.4, ``certified_error.pieces``) with a centre c in it and radii
r seen from c. With g = f − net:
    lower:  sup_B |g| ≥ |g(c)|,
    upper:  sup_B |g| ≤ min(|g(c)| + Σ_k |∂_k g(B)|·r_k,  |f(B) − net(B)|),
the mean-value form and the natural enclosure. f(c), f(B) and ∂f(B) come from f's jets in ball
arithmetic (§5.3); net(c), net(B) and ∂net(B) from a forward pass in outward-rounded float64 interval
arithmetic (``theory.network_intervals``), vectorised over a batch of boxes. Boxes whose upper end
exceeds (1 + rtol)·(the best lower end) are bisected along their longest side, the largest first,
until none is left or the time budget is spent; the gap reached is reported.
"""

from __future__ import annotations

import heapq
import itertools
import time
from fractions import Fraction

import numpy as np
from flint import arb

from theory import rounded_intervals as ri
from theory.network_intervals import IntervalNet, as_ball
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
    f, floats = compile_piece(target), IntervalNet.of(net)
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
        wide: list[Box] = []
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


def _enclose(f: PieceJet, regions: list[Region], net: IntervalNet) -> list[tuple[arb, arb]]:
    """(lower, upper) of sup |f − net| over each region (module docstring)."""
    d = len(regions[0].box)
    lo = ri.down(np.array([[float(a) for a, _ in r.box] for r in regions]))
    hi = ri.up(np.array([[float(b) for _, b in r.box] for r in regions]))
    centre = np.array([[float(c) for c in r.centre] for r in regions])
    exact = np.array([[Fraction(float(c)) == c for c in r.centre] for r in regions])
    c_lo, c_hi = np.where(exact, centre, ri.down(centre)), np.where(exact, centre, ri.up(centre))
    value, grad = net.forward((lo, hi))
    at, _ = net.forward((c_lo, c_hi), gradient=False)
    out = []
    for n, region in enumerate(regions):
        g_c = f(point_jets(d, 0, list(region.centre)), region.signs).c[0] - as_ball(at, n)
        over = [box_ball(a, b) for a, b in region.box]
        jet = f([Jet.variable(d, 1, k, over[k]) for k in range(d)], region.signs).coefficients()
        slope = abs(g_c)
        for k, r in enumerate(region.radius):
            slope += abs(jet[tuple(int(i == k) for i in range(d))] - as_ball(grad, n, k)) * r
        natural = abs(jet[(0,) * d] - as_ball(value, n))
        out.append((abs(g_c), slope if upper(slope) <= upper(natural) else natural))
    return out
