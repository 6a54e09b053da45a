"""A 1-D ReLU network as an exact piecewise-linear function, propagated layer by layer (docs/theory.md §4).

``network_to_pl(net, lo, hi)`` pushes the identity on [lo, hi] through every affine layer
(``PiecewiseLinear.combine``) and every activation (``relu``; the identity; a PolyReLU a_0 + a_1 ReLU),
so the result's breakpoints are exactly the network's. Any other activation is refused: the output
would not be piecewise linear.

``piece_bound(net)`` is the piece-count certificate of §4: a network whose hidden layers have widths
W_1..W_L computes on an interval a PL function with at most Π_l (W_l + 1) pieces. Proof: if all units
of layer l are linear on a common partition of N_l pieces, a unit of layer l+1 is a ReLU of a
function linear on those pieces, so it adds at most one breakpoint per piece; W units add at most
W·N_l breakpoints, and N_{l+1} ≤ (W + 1)·N_l, N_0 = 1. (docs/theory.md quotes the looser (2W)^L.)
"""

from __future__ import annotations

from math import prod

from theory.network import Network
from theory.pl.piecewise_linear import PiecewiseLinear, as_fraction


def _activation(act, f: PiecewiseLinear) -> PiecewiseLinear:
    if act.kind == "identity":
        return f
    c = act.relu_coefficients
    if c is None or any(v != 0 for v in c[2:]):
        raise ValueError(f"{act.describe()} is not piecewise linear: only ReLU-type units propagate exactly")
    a0, a1 = (as_fraction(v) for v in (list(c) + [0, 0])[:2])
    r = f.relu()
    return r * a1 + a0 if (a0, a1) != (0, 1) else r


def hidden_to_pl(net: Network, lo: object, hi: object) -> list[PiecewiseLinear]:
    """The last hidden layer of a 1-input ReLU network on [lo, hi] as exact PL functions; only the hidden
    layers need rational weights (the readout may hold exact irrationals, e.g. Taylor coefficients)."""
    if net.in_dim != 1:
        raise ValueError(f"exact PL propagation needs a 1-input network, this one takes {net.in_dim}")
    if not all(aff.is_rational() for aff in net.affines[:-1]):
        raise ValueError("exact PL propagation needs rational weights in the hidden layers")
    h = [PiecewiseLinear.identity(as_fraction(lo), as_fraction(hi))]
    for aff, layer in zip(net.affines, net.activations, strict=False):
        h = [_activation(act, _row(aff, i, h)).simplify() for i, act in enumerate(layer)]
    return h


def network_to_pl(net: Network, lo: object, hi: object) -> list[PiecewiseLinear]:
    """The outputs of a 1-input ReLU network on [lo, hi] as exact PL functions (one per output)."""
    if not net.is_rational:
        raise ValueError("exact PL propagation needs rational weights")
    h = hidden_to_pl(net, lo, hi)
    last = net.affines[-1]
    return [_row(last, i, h).simplify() for i in range(last.out_dim)]


def _row(aff, i: int, h: list[PiecewiseLinear]) -> PiecewiseLinear:
    row, b = aff.rows[i], aff.bias[i]
    if not row:
        return PiecewiseLinear.constant(b, *h[0].domain)
    return PiecewiseLinear.combine([(v, h[j]) for j, v in row.items()], b)


def piece_bound(net: Network) -> int:
    """Π_l (W_l + 1): the most linear pieces a 1-input ReLU network can have on an interval."""
    return prod(aff.out_dim + 1 for aff in net.affines[:-1])


def pieces(net: Network, lo: object = -1, hi: object = 1) -> int:
    """The exact number of linear pieces of a 1-input, 1-output ReLU network on [lo, hi]."""
    (f,) = network_to_pl(net, lo, hi)
    return f.pieces
