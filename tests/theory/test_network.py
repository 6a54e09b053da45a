"""Exact networks and their calculus (docs/theory.md §2): exactness, sizes, Berner-style operations."""

import random
from fractions import Fraction as F

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import calculus as C
from theory.activation import identity, polynomial, polyrelu, relu, relu_power
from theory.exact_numbers import exact, random_rational
from theory.network import Affine, Network


def small_net():
    return Network.build([([[1, -1], [2, 0.5]], [0, "1/3"]), ([[1, 1]], [0])], [relu()])


def test_exact_numbers():
    assert exact(0.1) == F(3602879701896397, 36028797018963968)  # the binary fraction, not 1/10
    assert exact("1/3") == F(1, 3) and exact(sympy.Rational(2, 7)) == F(2, 7)
    assert exact("sqrt(2)/2") == sympy.sqrt(2) / 2
    for bad in ("1/(", "x + 1", float("nan"), True, "I", 1j):
        with pytest.raises(ValueError):
            exact(bad)
    with pytest.raises(ValueError, match="refused"):
        exact(0.5, floats="refuse")
    with pytest.raises(ValueError, match="refused"):
        Network.build([([[0.5]], [0])], [], floats="refuse")


def test_evaluation_and_closed_form_agree():
    net = small_net()
    x1, x2 = sympy.symbols("x1 x2", real=True)
    (expr,) = net.closed_form([x1, x2])
    rng = random.Random(0)
    for _ in range(20):
        p = [random_rational(rng), random_rational(rng)]
        (v,) = net(p)
        assert v == max(p[0] - p[1], 0) + max(2 * p[0] + p[1] / 2 + F(1, 3), 0)
        assert sympy.Rational(v.numerator, v.denominator) == expr.subs({x1: p[0], x2: p[1]})
    # algebraic points and weights go through SymPy, exactly
    assert net([sympy.sqrt(2) / 2, 0]) == [sympy.Rational(1, 3) + 3 * sympy.sqrt(2) / 2]


def test_sizes_bookkeeping():
    net = Network.build([([[1, 0, 2], [0, 0, 3]], [1, 0]), ([[1, 1]], [0])], [polyrelu([0, 1, 1])])
    s = net.sizes()
    assert (s.depth, s.hidden_layers, s.width, s.neurons) == (2, 1, 2, 2)
    assert (s.nonzero_weights, s.nonzero_biases, s.activation_coefficients) == (5, 1, 3)  # shared: one vector
    assert s.dense_parameters == 2 * 3 + 2 + 1 * 2 + 1 + 3
    per_neuron = Network(net.affines, [[polyrelu([0, 1, 1]), polyrelu([0, 1, 2])]])
    assert not per_neuron.shared[0] and per_neuron.sizes().activation_coefficients == 6
    with pytest.raises(ValueError, match="shared"):
        Network(net.affines, [[polyrelu([0, 1, 1]), polyrelu([0, 1, 2])]], shared=[True])


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="takes 3 inputs"):
        Network([Affine.from_dense([[1, 1]]), Affine.from_dense([[1, 1, 1]])], [relu()])
    with pytest.raises(ValueError, match="activation layers"):
        Network([Affine.from_dense([[1]])], [relu()])
    with pytest.raises(ValueError, match="rectangle"):
        Affine.from_dense([[1, 2], [3]])


def random_network(rng, in_dim, widths, out_dim, activations):
    dims = [in_dim, *widths, out_dim]
    layers = [
        (
            [[random_rational(rng, -2, 2, 8) for _ in range(dims[l])] for _ in range(dims[l + 1])],
            [random_rational(rng, -1, 1, 8) for _ in range(dims[l + 1])],
        )
        for l in range(len(dims) - 1)
    ]
    return Network.build(layers, [rng.choice(activations) for _ in widths])


ACTS = [relu(), relu_power(2), polyrelu([1, -1, F(1, 2)]), polynomial([0, 1, F(-1, 3)]), identity()]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 3))
def test_calculus_is_exact(seed, d, depth):
    rng = random.Random(seed)
    f = random_network(rng, d, [rng.randint(1, 3) for _ in range(depth - 1)], 2, ACTS)
    g = random_network(rng, 2, [rng.randint(1, 3) for _ in range(rng.randint(0, 2))], 2, ACTS)
    h = random_network(rng, d, [rng.randint(1, 3) for _ in range(depth - 1)], 2, ACTS)
    x = [random_rational(rng) for _ in range(d)]
    fx, hx = f(x), h(x)
    assert C.compose(g, f)(x) == g(fx)
    assert C.compose(g, f).sizes().neurons == g.sizes().neurons + f.sizes().neurons
    assert C.parallel(f, h)(x) == fx + hx
    assert C.block_parallel(f, h)(x + x) == fx + hx
    assert C.sum_networks(f, h)(x) == [a + b for a, b in zip(fx, hx, strict=True)]
    assert C.affine_combination([f, h], [F(1, 3), -2], [5, 0])(x) == [fx[0] / 3 - 2 * hx[0] + 5, fx[1] / 3 - 2 * hx[1]]
    deeper = C.extend_depth(f, f.depth + 2, polyrelu([F(1, 2), 3]))
    assert deeper(x) == fx and deeper.depth == f.depth + 2
    assert C.identity(d, depth + 1)(x) == x
    s = C.parallel(f, h).sizes()
    assert s.neurons == f.sizes().neurons + h.sizes().neurons
    assert s.nonzero_weights == f.sizes().nonzero_weights + h.sizes().nonzero_weights


def test_identity_refuses_curved_activations():
    with pytest.raises(ValueError, match="identity networks need"):
        C.identity(2, 3, polyrelu([0, 1, 1]))


def test_sympy_floats_keep_their_full_precision():
    high = sympy.Float("0.1", 60)
    assert exact(high) == F(sympy.Rational(high).p, sympy.Rational(high).q) != exact(0.1)
    with pytest.raises(ValueError, match="refused"):
        exact(high, floats="refuse")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 3), st.integers(1, 3))
def test_evaluate_many_layer_by_layer_equals_point_by_point(seed, d, depth):
    rng = random.Random(seed)
    f = random_network(rng, d, [rng.randint(1, 3) for _ in range(depth - 1)], 2, ACTS)
    pts = [[random_rational(rng) for _ in range(d)] for _ in range(7)]
    assert f.evaluate_many(pts) == [f(x) for x in pts]
    assert f.evaluate_many([]) == []
