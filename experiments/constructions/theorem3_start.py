"""Theorem 3's networks as starting points for training (docs/theory.md §5, §7).

``init = "theorem3"`` starts from the exact per-neuron PolyReLU network f_N of Theorem 3, and
``init = "theorem3-relu"`` from its ReLU twin (Yarotsky products). Either is exported to float64
torch and wrapped in an :class:`approx.fitting.pattern.PatternNetwork`: its nonzero weights and
biases are the parameters, its zeros stay zero, and its activation coefficients stay fixed. The
grid N of a job is the largest whose nonzero count is at most the job's size, so a "size" means the
same thing (trainable parameters) for a construction start as for a dense network.

Targets are normalised as approx's are (sup |f| ≈ 1 on the test grid), so the exported readout is
divided by the same scale: before training the module is f_N / scale to float64 rounding.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import torch

from approx.fitting.pattern import PatternNetwork
from theory import theorem3 as T3
from theory.export import to_torch
from theory.sobolev.target import SobolevTarget

#: config ``init`` value -> Theorem 3 form, and the activation family that form's units are
FORMS = {"theorem3": ("per_neuron", "polyrelu"), "theorem3-relu": ("relu", "relu")}
MAX_GRID = 4096


@dataclass(frozen=True)
class Start:
    """A construction as a trainable module, with what it promises."""

    net: PatternNetwork
    N: int
    bound: Fraction  # the construction's certified sup error against the (unnormalised) target


@functools.lru_cache(maxsize=64)
def _count(text: str, d: int, n: int, N: int, form: str) -> int:
    return _module(text, d, n, N, form)[0].count


def _module(text: str, d: int, n: int, N: int, form: str) -> tuple[PatternNetwork, T3.Theorem3Network]:
    built = T3.build(SobolevTarget.parse(text, d, n), N, form=form)
    return PatternNetwork.of(to_torch(built.network, sparse=True)), built


def grid_for_size(text: str, d: int, n: int, size: int, init: str) -> int:
    """The largest N with at most ``size`` trainable entries (N = 1 if even that is larger)."""
    form = FORMS[init][0]
    lo, hi = 1, 2
    while hi <= MAX_GRID and _count(text, d, n, hi, form) <= size:
        lo, hi = hi, 2 * hi
    hi = min(hi, MAX_GRID + 1)
    while hi - lo > 1:  # count(lo) <= size < count(hi), or lo = 1
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if _count(text, d, n, mid, form) <= size else (lo, mid)
    return lo


def start(text: str, d: int, n: int, N: int, init: str, scale: float) -> Start:
    """The construction of grid N for ``init``, its output divided by ``scale``."""
    net, built = _module(text, d, n, N, FORMS[init][0])
    last = net.layers[-1]
    with torch.no_grad():
        last.values.div_(scale)
        last.bias.div_(scale)
    if init == "theorem3-relu":
        assert built.squaring_depth is not None  # the ReLU twin always has one
        bound = built.approximant.certified_bound().bound + T3.relu_error_bound(built.approximant, built.squaring_depth)
    else:
        bound = built.approximant.certified_bound().bound
    return Start(net, N, bound)


__all__ = ["FORMS", "Start", "grid_for_size", "start"]
