"""Branch and bound over boxes for trained networks in any d (docs/theory.md §8.1): agreement with the
exact 1-D path, the spike a grid misses in 2-D, every sample below the upper end, and a mutant."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.sobolev.certified_error import Region
from theory.sobolev.target import SobolevTarget
from theory.trained import Description, Layer, certified_sup, normalised_target
from theory.trained_boxes import certified_sup_boxes

PIECES = {"relu": ([0, 1], [0]), "relu2": ([0, 0, 1], [0]), "polyrelu": ([0.1, 0.5, -0.3, 0.2], [0.1])}
POLYNORM_A = [0.05, 0.6, -0.3, 0.2]
#: smooth activations in float64, written here independently of theory.smooth_activations
SMOOTH = {
    "tanh": np.tanh,
    "gelu": lambda z: z * 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2))),
    "silu": lambda z: z / (1 + np.exp(-z)),
}


def _random_net(rng, d: int, activation: str, width: int, depth: int) -> Description:
    dims = [d] + [width] * depth
    pieces, function = ([PIECES[activation]] * width, None) if activation in PIECES else (None, activation)
    extra = {"coefficients": POLYNORM_A, "eps": 1e-6} if activation == "polynorm" else {}
    layers = [
        Layer(rng.normal(size=(i, width)).tolist(), rng.normal(size=width).tolist(), pieces, function, **extra)
        for i in dims
    ]
    layers.append(Layer(rng.normal(size=(width, 1)).tolist(), [0.1]))
    return Description(activation, ((Fraction(1, 2), tuple(layers)),))


def _numpy(net: Description, x: np.ndarray) -> np.ndarray:
    """The network in float64 from the activations' definitions (x: (N, d))."""
    total = np.zeros(len(x))
    for scale, layers in net.stages:
        h = 2 * x - 1
        for layer in layers:
            h = h @ np.array(layer.W, dtype=float) + np.array(layer.b, dtype=float)
            if layer.function == "polynorm":
                a = layer.coefficients
                h = a[0] + sum(
                    a[i] * h**i / np.sqrt((h ** (2 * i)).mean(-1, keepdims=True) + layer.eps) for i in range(1, len(a))
                )
            elif layer.function is not None:
                h = SMOOTH[layer.function](h)
            elif layer.pieces is not None:
                right, left = (np.array(c, dtype=float) for c in layer.pieces[0])
                h = np.where(
                    h >= 0, np.polyval(right[::-1], np.maximum(h, 0)), np.polyval(left[::-1], np.minimum(h, 0))
                )
        total += float(scale) * h[:, 0]
    return total


def _target(text: str, d: int) -> SobolevTarget:
    return SobolevTarget.parse(text, d, 1)


@pytest.mark.parametrize("activation, depth", [("relu", 2), ("polyrelu", 2)])
def test_branch_and_bound_agrees_with_the_exact_1d_path(activation, depth):
    net = _random_net(np.random.default_rng(1), 1, activation, 6, depth)
    target = normalised_target("sin(3*x0)", Fraction(1))
    exact, boxes = certified_sup(target, net), certified_sup_boxes(target, net, rtol=Fraction(1, 100), seconds=60)
    assert boxes.lower <= exact.upper and exact.lower <= boxes.upper  # both hold the one true sup
    assert boxes.upper <= boxes.lower * Fraction(101, 100)


def test_a_2d_spike_between_grid_points_is_caught():
    """1/2 plus a ReLU pyramid of height 1/8 and half-width 1/1024 centred between grid points (every
    weight a float64, as a trained network's are)."""
    at, w, height = (Fraction(1001, 4096), Fraction(2001, 4096)), Fraction(1, 1024), Fraction(1, 8)
    # hat(x) = relu(h − (h/w)·(|x0 − a0| + |x1 − a1|)) written with ReLUs in z = 2x − 1 (the net's input)
    W, b = [[], []], []
    for k in range(2):
        for sign in (1, -1):  # |x_k − a_k| = relu(x_k − a_k) + relu(a_k − x_k), x_k = (z_k + 1)/2
            W[k].append(sign / 2)
            W[1 - k].append(0)
            b.append(sign * (Fraction(1, 2) - at[k]))
    hidden = Layer(W, b, [PIECES["relu"]] * 4)
    inner = Layer([[-height / w]] * 4, [height], [PIECES["relu"]])
    readout = Layer([[1]], [Fraction(1, 2)])
    net = Description("relu", ((Fraction(1), (hidden, inner, readout)),))
    grid = np.stack(np.meshgrid(*[np.linspace(0, 1, 257)] * 2), -1).reshape(-1, 2)
    sampled = np.abs(0.5 - _numpy(net, grid)).max()
    sup = certified_sup_boxes(_target("1/2 + 0*x0*x1", 2), net, seconds=60)
    assert sampled < float(height) / 10 and sup.lower <= height <= sup.upper and sup.lower > height / 2


@st.composite
def networks(draw):
    activation = draw(st.sampled_from([*sorted(PIECES), *sorted(SMOOTH), "polynorm"]))
    return _random_net(
        np.random.default_rng(draw(st.integers(0, 2**32 - 1))),
        2,
        activation,
        draw(st.integers(1, 4)),
        draw(st.integers(1, 2)),
    )


@settings(max_examples=15, deadline=None)
@given(net=networks(), text=st.sampled_from(["x0*x1", "sin(2*x0) + x1**2", "abs(x0-x1)**(3/2)"]))
def test_every_sample_is_below_the_upper_end_and_the_witness_attains_the_lower(net, text):
    target = _target(text, 2)
    sup = certified_sup_boxes(target, net, seconds=3)
    x = np.random.default_rng(0).random((4000, 2))
    f = target.numpy()(x[:, 0], x[:, 1])
    assert np.abs(f - _numpy(net, x)).max() <= float(sup.upper) * (1 + 1e-9) + 1e-12
    w = np.array([[float(c) for c in sup.witness]])
    with mpmath.workdps(30):
        at = abs(target.numeric()(*(mpmath.mpf(c.numerator) / c.denominator for c in sup.witness)) - _numpy(net, w)[0])
    assert float(at) >= float(sup.lower) * (1 - 1e-9) - 1e-12


def test_a_mean_value_form_without_its_radius_is_caught(monkeypatch):
    """Mutant: the slope term dropped (radius 0) gives an 'upper end' that samples exceed."""
    net = _random_net(np.random.default_rng(3), 2, "polyrelu", 4, 2)
    target = _target("sin(2*x0) + x1**2", 2)
    x = np.random.default_rng(0).random((20000, 2))
    sampled = np.abs(target.numpy()(x[:, 0], x[:, 1]) - _numpy(net, x)).max()
    assert sampled <= float(certified_sup_boxes(target, net, seconds=20).upper) * (1 + 1e-9)
    monkeypatch.setattr(Region, "radius", property(lambda self: [0] * len(self.box)))
    assert sampled > float(certified_sup_boxes(target, net, seconds=5).upper) * (1 + 1e-9)


@pytest.mark.parametrize(
    "W, pieces, message",
    [([[Fraction(1, 3)]], PIECES["relu"], "not a float64"), ([[1.0]], ([1, 1], [0]), "continuous activation")],
)
def test_what_interval_bounds_cannot_take_is_refused(W, pieces, message):
    net = Description("relu", ((Fraction(1), (Layer(W, [0.0], [pieces]), Layer([[1.0]], [0.0]))),))
    with pytest.raises(ValueError, match=message):
        certified_sup_boxes(_target("x0", 1), net, seconds=1)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_a_smooth_activation_on_the_1d_path_agrees_with_its_definition_everywhere(name):
    net = _random_net(np.random.default_rng(5), 1, name, 5, 2)
    target = normalised_target("sin(3*x0)", Fraction(1))
    sup = certified_sup_boxes(target, net, rtol=Fraction(1, 100), seconds=20)
    x = np.linspace(0, 1, 20001)[:, None]
    sampled = np.abs(np.sin(3 * x[:, 0]) - _numpy(net, x)).max()
    assert sampled <= float(sup.upper) * (1 + 1e-9) and sup.upper <= sup.lower * Fraction(101, 100)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SMOOTH)), st.floats(-6, 6), st.floats(0, 4))
def test_smooth_ranges_hold_every_sampled_value_and_slope(name, lo, width):
    from theory.smooth_activations import SMOOTH as CERTIFIED

    value, slope = CERTIFIED[name].ranges(lo, lo + width)
    z = np.linspace(lo, lo + width, 401)
    f = SMOOTH[name]
    derivative = (f(z + 1e-6) - f(z - 1e-6)) / 2e-6
    assert float(value.lower()) - 1e-12 <= f(z).min() and f(z).max() <= float(value.upper()) + 1e-12
    assert float(slope.lower()) - 1e-6 <= derivative.min() and derivative.max() <= float(slope.upper()) + 1e-6


def test_a_range_without_its_turning_point_misses_the_minimum(monkeypatch):
    """Mutant: GELU over [−2, 0] from its ends alone misses its minimum at z ≈ −0.7518."""
    from theory import smooth_activations as sa

    minimum = float(SMOOTH["gelu"](np.array([-0.75179]))[0])
    assert float(sa.SMOOTH["gelu"].range(-2.0, 0.0).lower()) <= minimum
    monkeypatch.setitem(sa.SMOOTH, "gelu", dataclasses.replace(sa.SMOOTH["gelu"], value_turns=()))
    assert float(sa.SMOOTH["gelu"].range(-2.0, 0.0).lower()) > minimum


@pytest.mark.parametrize("activation", ["polynorm", "gelu", "polyrelu"])
def test_the_interval_network_holds_every_sampled_value_and_gradient(activation):
    """On random boxes: net and its finite-difference gradient at sampled points lie in the enclosures."""
    from theory.network_intervals import IntervalNet

    rng = np.random.default_rng(7)
    net = _random_net(rng, 2, activation, 5, 2)
    lo = rng.random((50, 2)) * 0.9
    hi = lo + rng.random((50, 2)) * 0.1
    (v_lo, v_hi), (g_lo, g_hi) = IntervalNet.of(net).forward((lo, hi))
    for t in np.linspace(0, 1, 7):
        for s in np.linspace(0, 1, 7):
            x = lo + (hi - lo) * np.array([t, s])
            v = _numpy(net, x)
            assert np.all(v_lo <= v + 1e-12) and np.all(v <= v_hi + 1e-12)
            for k in range(2):
                step = np.eye(2)[k] * 1e-7
                fd = (_numpy(net, np.clip(x + step, 0, 1)) - _numpy(net, np.clip(x - step, 0, 1))) / 2e-7
                assert np.all(g_lo[:, k] <= fd + 1e-5) and np.all(fd <= g_hi[:, k] + 1e-5)
