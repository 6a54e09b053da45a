"""Certified sup |f − net| for trained 1-D networks (docs/theory.md §8): exact pieces, tight enclosures,
and the spike a grid misses."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from flint import fmpq, fmpq_poly
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import trained
from theory.network_intervals import IntervalNet, as_ball
from theory.polynomial import ONE
from theory.trained import Description, Layer, certified_sup, normalised_target, piecewise_polynomial

#: the activations' two polynomials (z ≥ 0, z < 0), written here independently of approx's table
PIECES = {
    "relu": lambda a: ([0, 1], [0]),
    "relu2": lambda a: ([0, 0, 1], [0]),
    "polyrelu": lambda a: (list(a), list(a[:1])),
    "polynomial": lambda a: (list(a), list(a)),
}


def _net(activation: str, layers: list[Layer]) -> Description:
    return Description(activation, ((Fraction(1), tuple(layers)),))


def _layer(W, b, activation: str | None = None, a=None) -> Layer:
    """A layer; with ``activation``, each unit's pieces (``a``: one coefficient list per unit)."""
    if activation is None:
        return Layer(W, b)
    width = len(b)
    return Layer(W, b, [PIECES[activation](a[j] if a else None) for j in range(width)])


def _numpy(net: Description, x: np.ndarray) -> np.ndarray:
    """The network in float64, written independently of theory.trained."""
    total = np.zeros_like(x)
    for scale, layers in net.stages:
        h = (2 * x - 1)[:, None]
        for k, layer in enumerate(layers):
            h = h @ np.array(layer.W, dtype=float) + np.array(layer.b, dtype=float)
            if k < len(layers) - 1:
                h = _activate(net.activation, h, layer.pieces)
        total += float(scale) * h[:, 0]
    return total


def _activate(name: str, z: np.ndarray, pieces) -> np.ndarray:
    """σ in float64 from its definition (not from ``pieces``, which only carries the coefficients)."""
    if name == "relu":
        return np.maximum(z, 0)
    if name == "relu2":
        return np.maximum(z, 0) ** 2
    coeffs = np.array([right for right, _ in pieces], dtype=float)
    base = np.maximum(z, 0) if name == "polyrelu" else z
    powers = np.stack([base**i for i in range(coeffs.shape[-1])], axis=-1)
    return (powers * coeffs).sum(-1)


def _spike(at: Fraction, half_width: Fraction, height: Fraction) -> Description:
    """1/2 plus a hat of ``height`` on [at − w, at + w]: in z = 2x − 1, three ReLU units."""
    z0, w = 2 * at - 1, 2 * half_width
    hidden = _layer([[1, 1, 1]], [-(z0 - w), -z0, -(z0 + w)], "relu")
    readout = _layer([[height / w], [-2 * height / w], [height / w]], [Fraction(1, 2)])
    return _net("relu", [hidden, readout])


def test_a_spike_between_grid_points_is_certified_where_the_grid_sees_nothing():
    target = normalised_target("1/2 + 0*x0", Fraction(1))
    height = Fraction(1, 10)
    net = _spike(Fraction(1000, 4096) + Fraction(1, 8192), Fraction(1, 40000), height)  # between grid points
    grid = np.linspace(0, 1, 4097)
    sampled = np.abs(0.5 - _numpy(net, grid)).max()
    sup = certified_sup(target, net)
    assert sampled < float(height) / 10 and height * Fraction(99, 100) <= sup.lower <= height <= sup.upper
    assert sup.upper <= sup.lower * Fraction(101, 100)


@pytest.mark.parametrize("activation, depth", [("polyrelu", 1), ("polyrelu", 3), ("relu2", 2), ("relu", 3)])
def test_the_pieces_are_the_network(activation, depth):
    rng = np.random.default_rng(depth)
    width = 5
    dims = [1] + [width] * depth
    layers = [
        _layer(
            rng.normal(size=(i, width)).tolist(),
            rng.normal(size=width).tolist(),
            activation,
            rng.normal(size=(width, 4)).tolist(),
        )
        for i in dims
    ]
    layers.append(_layer(rng.normal(size=(width, 1)).tolist(), [0.3]))
    net = _net(activation, layers)
    slivers = [(u, v) for u, v, p in piecewise_polynomial(net) if p is None]
    assert all(v - u < Fraction(1, 2**100) for u, v in slivers) and (depth == 1 or activation == "relu" or slivers)
    assert _mismatch(net) < 1e-12


def _dense(terms: dict) -> list[Fraction]:
    out = [Fraction(0)] * (1 + max((k for (k,) in terms), default=0))
    for (k,), c in terms.items():
        out[k] = c
    return out


def _two_kinks() -> Description:
    """relu2(relu2(2x − 1) − 1/2): its second knot is the irrational x = (1 + 1/√2)/2."""
    hidden = _layer([[1.0]], [0.0], "relu2")
    inner = _layer([[1.0]], [-0.5], "relu2")
    return _net("relu2", [hidden, inner, _layer([[1.0]], [0.0])])


def _mismatch(net: Description) -> float:
    """max over a grid of |pieces − net| / (1 + |net|), net in float64 from its definition."""
    x = np.linspace(0, 1, 4001)
    pieces = piecewise_polynomial(net)
    values = []
    for xi in map(Fraction, x):
        p = next(p for u, v, p in pieces if u <= xi <= v)
        if p is None:
            x = np.array([[float(xi)]])
            values.append(float(as_ball(IntervalNet.of(net).forward((x, x))[0], 0).mid()))
            continue
        terms = p.parts[ONE].terms if ONE in p.parts else {}
        exact = fmpq_poly([fmpq(c.numerator, c.denominator) for c in _dense(terms)])  # fast exact evaluation
        value = exact(fmpq(xi.numerator, xi.denominator))
        values.append(int(value.p) / int(value.q))
    net_x = _numpy(net, x)
    return float((np.abs(np.array(values) - net_x) / (1 + np.abs(net_x))).max())


def test_an_irrational_knot_lies_in_a_narrow_sliver():
    pieces = piecewise_polynomial(_two_kinks())
    (sliver,) = [(u, v) for u, v, p in pieces if p is None]
    assert float(sliver[0]) <= (1 + 2**-0.5) / 2 <= float(sliver[1]) and sliver[1] - sliver[0] < Fraction(1, 2**150)
    assert _mismatch(_two_kinks()) < 1e-14


def test_a_split_that_drops_irrational_roots_is_not_the_network(monkeypatch):
    """Mutant: without the sliver, one polynomial spans the root and the pieces stop being the network."""
    split = trained._split
    monkeypatch.setattr(
        trained, "_split", lambda u, v, polys: [s for s in split(u, v, polys) if s[2]] or [(u, v, True)]
    )
    with pytest.raises(StopIteration):  # the gap the mutant leaves is found at once …
        _mismatch(_two_kinks())
    merged = lambda u, v, polys: [(u, v, True)] if any(p.degree() > 1 for p in polys) else split(u, v, polys)  # noqa: E731
    monkeypatch.setattr(trained, "_split", merged)
    assert _mismatch(_two_kinks()) > 1e-3  # … and a mutant that spans it is wrong beside the root


def test_activations_without_pieces_are_refused_in_one_line():
    hidden = Layer([[1.0]], [0.0])
    with pytest.raises(ValueError, match="not polynorm"):
        piecewise_polynomial(_net("polynorm", [hidden, hidden, _layer([[1.0]], [0.0])]))


TARGETS = ["sin(3*x0)", "abs(x0-1/3)**(3/2)", "x0**2 - x0/2"]


@st.composite
def networks(draw):
    activation = draw(st.sampled_from(["relu", "relu", "relu2", "polyrelu", "polynomial"]))
    depth = draw(st.integers(1, 3))
    width = draw(st.integers(1, 5 if depth < 3 else 3))
    numbers = st.floats(-2, 2, allow_nan=False, width=32)
    dims = [1] + [width] * depth + [1]
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(dims, dims[1:], strict=False)):
        W = [[draw(numbers) for _ in range(fan_out)] for _ in range(fan_in)]
        b = [draw(numbers) for _ in range(fan_out)]
        if k == depth:
            layers.append(_layer(W, b))
            continue
        a = [[draw(numbers) for _ in range(4)] for _ in range(width)]
        layers.append(_layer(W, b, activation, a if activation in ("polyrelu", "polynomial") else None))
    return _net(activation, layers)


@settings(max_examples=25, deadline=None)
@given(net=networks(), text=st.sampled_from(TARGETS))
def test_every_sample_is_below_the_upper_end_and_the_witness_attains_the_lower(net, text):
    target = normalised_target(text, Fraction(1))
    sup = certified_sup(target, net)
    x = np.linspace(0, 1, 2001)
    f = target.numpy()(x)
    assert np.abs(f - _numpy(net, x)).max() <= float(sup.upper) * (1 + 1e-9) + 1e-12
    with mpmath.workdps(40):  # |f − net| at the witness, independently, to 40 digits
        w = mpmath.mpf(sup.witness[0].numerator) / sup.witness[0].denominator
        value = abs(target.numeric()(w) - _numpy(net, np.array([float(sup.witness[0])]))[0])
    assert float(value) >= float(sup.lower) * (1 - 1e-9) - 1e-12
    assert sup.upper <= sup.lower * Fraction(101, 100) or sup.lower == 0


def test_a_weight_moved_by_1e_12_moves_the_interval_by_no_more():
    net = _spike(Fraction(1, 3), Fraction(1, 50), Fraction(1, 10))
    target = normalised_target("1/2 + x0/10", Fraction(1))
    hidden, readout = net.stages[0][1]
    moved = _net("relu", [hidden, _layer(readout.W, [readout.b[0] + 1e-12])])
    a, b = certified_sup(target, net), certified_sup(target, moved)
    assert a.lower <= b.upper and b.lower <= a.upper  # the two intervals overlap
    assert abs(float(b.upper - a.upper)) <= float(a.upper) / 50 + 1e-12
