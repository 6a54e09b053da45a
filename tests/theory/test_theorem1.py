"""Theorem 1 (docs/theory.md §3): ReLU / ReLU^k / polynomial networks as PolyReLU networks, exactly, with sizes."""

import random
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import theorem1 as T
from theory.activation import identity, polynomial, polyrelu, relu, relu_power
from theory.exact_equality import compare_at_points, prove_same_function, random_points
from theory.network import Network

ARCH = st.tuples(
    st.integers(0, 10**9),  # seed
    st.integers(1, 4),  # input dimension
    st.lists(st.integers(1, 6), min_size=0, max_size=5),  # hidden widths: depth 1..6
    st.integers(1, 3),  # output dimension
)


@settings(max_examples=40, deadline=None)
@given(ARCH)
def test_random_relu_networks_convert_exactly_at_the_same_size(arch):
    seed, d, widths, out = arch
    net = T.random_network(seed, d, widths, out, [relu()])
    conv = T.relu_to_polyrelu(net, r=3)
    s, t = net.sizes(), conv.target.sizes()
    assert (t.depth, t.width, t.neurons, t.nonzero_weights, t.nonzero_biases) == (
        s.depth,
        s.width,
        s.neurons,
        s.nonzero_weights,
        s.nonzero_biases,
    )
    assert t.activation_coefficients == 4 * len(widths)  # one shared e_1 per hidden layer
    assert all(a.coeffs == (0, 1, 0, 0) for layer in conv.target.activations for a in layer)
    assert conv.relation_holds
    assert compare_at_points(conv.target, net, random_points(d, 15, seed, -3, 3)).holds
    if s.neurons <= 6:
        assert prove_same_function(conv.target, net)


MIXED = [
    relu(),
    relu_power(2),
    relu_power(3),
    polyrelu([F(1, 2), -1, 1]),
    polynomial([0, 1, F(1, 3)]),
    polynomial([F(-1, 4), 0, 0, 2]),
    identity(),
]


@settings(max_examples=25, deadline=None)
@given(ARCH, st.booleans())
def test_random_mixed_networks_convert_exactly(arch, shared):
    seed, d, widths, out = arch
    rng = random.Random(seed)
    net = T.random_network(seed, d, widths[:3], out, rng.sample(MIXED, rng.randint(1, len(MIXED))))
    a = T.paper_coefficients(3) if shared else None
    conv = T.to_polyrelu(net, 3, a)
    assert T.is_polyrelu_network(conv.target, 3)
    assert conv.relation_holds, conv.relation()
    assert conv.factor <= (2 * 3 if shared else 2)
    check = compare_at_points(conv.target, net, random_points(d, 8, seed, -2, 2))
    assert check.holds, check.max_error
    if shared:
        assert all(conv.target.shared)  # one coefficient vector per layer, the paper's convention
        plain = T.to_polyrelu(net, 3, a, domain=None).target  # scales 1, 2, 3: exact all the same
        assert compare_at_points(plain, net, random_points(d, 4, seed + 1, -2, 2)).holds


def test_small_polynomial_network_proven_by_case_analysis():
    net = T.random_network(11, 1, [2, 2], 1, [polynomial([0, 1, F(1, 2), F(-1, 3)]), relu_power(2)])
    for a in (None, T.paper_coefficients(3)):
        assert prove_same_function(T.to_polyrelu(net, 3, a).target, net)


def test_conversions_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="needs a ReLU network"):
        T.relu_to_polyrelu(T.random_network(0, 2, [3], 1, [relu_power(2)]))
    with pytest.raises(ValueError, match="degree"):
        T.to_polyrelu(T.random_network(0, 2, [3], 1, [relu_power(4)]), r=3)
    with pytest.raises(ValueError, match="out of reach"):
        T.to_polyrelu(T.random_network(0, 2, [3], 1, [relu_power(2)]), 3, shared=[0, 1, 0, 1])


def test_a_broken_conversion_is_caught():
    net = T.random_network(5, 2, [3, 3], 1, [relu()])
    good = T.relu_to_polyrelu(net).target
    for bad in (good.perturbed(1, 0, 2, F(1, 1000)), good.perturbed(0, 1, None, F(-1, 1000))):
        check = compare_at_points(bad, net, random_points(2, 30, 0, -3, 3))
        assert not check.holds and check.max_error > 0
        assert not prove_same_function(bad, net)
    # flipping one activation coefficient (e_1 -> e_2 in one neuron) breaks it too
    acts = [list(layer) for layer in good.activations]
    acts[0][0] = polyrelu([0, 0, 1, 0])
    flipped = Network(good.affines, acts)
    assert not compare_at_points(flipped, net, random_points(2, 30, 0, -3, 3)).holds
