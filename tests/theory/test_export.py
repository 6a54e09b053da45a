"""theory.export: exact networks as float64 torch modules that match exact evaluation (docs/theory.md §2)."""

import random
from fractions import Fraction as F

import sympy
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import lemma1
from theory import theorem1 as T
from theory.activation import identity, polynomial, polyrelu, relu, relu_power
from theory.exact_equality import random_points
from theory.export import points_tensor, to_torch
from theory.network import Network

KINDS = [[relu()], [relu_power(2)], [polyrelu([F(1, 2), -1, 1, F(1, 3)])], [polynomial([0, 1, F(1, 2), F(-1, 3)])]]


def max_relative_error(net, module, points):
    """max |torch - exact| / max(1, max |exact|) over a batch (relative, floored at 1)."""
    y = module(points_tensor(points)).detach()
    exact = torch.tensor([[float(v) for v in net(p)] for p in points], dtype=torch.float64)
    return ((y - exact).abs().max() / exact.abs().max().clamp(min=1)).item()


@settings(max_examples=20, deadline=None)
@given(
    st.integers(0, 10**6),
    st.integers(1, 4),
    st.lists(st.integers(1, 8), min_size=0, max_size=4),
    st.integers(1, 3),
    st.sampled_from(range(len(KINDS))),
    st.booleans(),
)
def test_export_matches_exact_evaluation(seed, d, widths, out, kind, sparse):
    net = T.random_network(seed, d, widths, out, KINDS[kind])
    for candidate in (net, T.to_polyrelu(net, 3).target):
        module = to_torch(candidate, sparse=sparse)
        assert max_relative_error(candidate, module, random_points(d, 20, seed)) <= 1e-12
        if not sparse:  # homogeneous layers: the dense torch count is the bookkeeping's
            assert sum(p.numel() for p in module.parameters()) == candidate.sizes().dense_parameters


def test_mixed_layers_and_lemma1_shared_forms():
    rng = random.Random(0)
    mixed = T.random_network(3, 3, [6, 6], 2, [relu(), relu_power(2), polynomial([1, 0, 1]), identity()])
    assert max_relative_error(mixed, to_torch(mixed), random_points(3, 30, 1)) <= 1e-12
    for net in (
        lemma1.relu_network(3, T.paper_coefficients(3)),
        lemma1.polynomial_network([1, 2, 3, 4], 3, [1, -2, 3, 1]),
    ):
        pts = [[F(rng.randint(-400, 400), 100)] for _ in range(50)]
        assert max_relative_error(net, to_torch(net), pts) <= 1e-12


def test_algebraic_weights_export():
    net = Network.build([([[sympy.sqrt(2)], [-1]], [0, sympy.sqrt(3)]), ([[1, sympy.sqrt(2) / 2]], [0])], [relu()])
    module = to_torch(net)
    x = torch.tensor([[0.5]], dtype=torch.float64)
    expected = float(sympy.N(net([F(1, 2)])[0], 30))
    assert abs(module(x).item() - expected) <= 1e-12 * abs(expected)


def test_polyrelu_coefficients_are_trainable_and_relu_is_not():
    poly = to_torch(T.relu_to_polyrelu(T.random_network(0, 2, [4], 1, [relu()])).target)
    plain = to_torch(T.random_network(0, 2, [4], 1, [relu()]))
    assert poly.activations[0].relu_coeffs.requires_grad and poly.activations[0].relu_coeffs.shape == (4,)
    assert not plain.activations[0].relu_coeffs.requires_grad
    loss = poly(torch.randn(5, 2, dtype=torch.float64)).sum()
    loss.backward()
    assert poly.activations[0].relu_coeffs.grad is not None


def test_shared_conversions_stay_accurate_in_float64():
    """The scaling trick cancels (λu)^r terms; balanced scales (theory.scaling_trick) keep that harmless."""
    pts = random_points(3, 40, 2)
    for kind in range(len(KINDS)):
        net = T.random_network(kind, 3, [8, 8, 8], 2, KINDS[kind])
        shared = T.to_polyrelu(net, 3, T.paper_coefficients(3)).target
        assert all(shared.shared)
        assert max_relative_error(shared, to_torch(shared), pts) <= 1e-12
