"""Lemma 1 (docs/theory.md §3): ReLU, ReLU^k, monomials, polynomials as PolyReLU networks, proven and checked."""

from fractions import Fraction as F

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import lemma1
from theory.activation import ReLU
from theory.case_analysis import prove_equal
from theory.theorem1 import paper_coefficients

X = lemma1.X


def test_every_lemma1_certificate_holds():
    certs = lemma1.certificates()
    assert len(certs) >= 16
    failed = [(c.name, c.details) for c in certs if not c.holds]
    assert not failed
    names = {c.name for c in certs}
    assert {
        "lemma1/relu/per-neuron",
        "lemma1/relu/shared",
        "lemma1/x^3/shared",
        "lemma1/polynomial/per-neuron",
    } <= names


def test_sizes_match_the_stated_forms():
    r = 3
    assert lemma1.relu_network(r).sizes().neurons == 1
    assert lemma1.relu_power_network(2, r).activations[0][0].coeffs == (0, 0, 1, 0)
    mono = lemma1.monomial_network(3, r)
    assert mono.sizes().neurons == 2 and mono.shared == (True,)  # x^k: both neurons use e_k
    assert lemma1.polynomial_network([1, 2, 3, 4], r).sizes().neurons == 2
    shared = lemma1.polynomial_network([1, 2, 3, 4], r, paper_coefficients(r))
    assert shared.shared == (True,) and shared.sizes().neurons <= 2 * r
    assert shared.sizes().activation_coefficients == r + 1  # one vector for the whole layer


def test_shared_form_needs_the_powers_it_uses():
    with pytest.raises(ValueError, match="out of reach"):
        lemma1.relu_power_network(2, 3, shared=[0, 1, 0, 1])
    with pytest.raises(ValueError, match="degree"):
        lemma1.relu_power_network(4, 3)
    # a with a zero power still reaches what it has
    net = lemma1.relu_power_network(3, 3, shared=[0, 1, 0, 1])
    assert net([F(5, 7)]) == [F(5, 7) ** 3] and net([F(-5, 7)]) == [0]


def test_case_analysis_rejects_false_identities():
    assert not prove_equal(ReLU(X), X)
    assert not prove_equal(ReLU(X) ** 2 + ReLU(-X) ** 2, X**2 + F(1, 1000) * X)
    assert prove_equal(ReLU(X) ** 3 - ReLU(-X) ** 3, X**3)


def test_a_perturbed_lemma1_network_is_caught():
    net = lemma1.polynomial_network([1, 2, 3, 4], 3)
    bad = net.perturbed(1, 0, 1, F(1, 1000))
    (closed,) = bad.closed_form([X])
    assert not prove_equal(closed, 1 + 2 * X + 3 * X**2 + 4 * X**3)
    assert bad([F(-1, 2)]) != net([F(-1, 2)])


@settings(max_examples=30, deadline=None)
@given(
    r=st.integers(1, 5),
    p=st.lists(st.fractions(-3, 3, max_denominator=20), min_size=2, max_size=6),
    a=st.lists(st.fractions(-3, 3, max_denominator=20).filter(lambda v: v != 0), min_size=6, max_size=6),
    a0=st.fractions(-2, 2, max_denominator=10),
)
def test_random_polynomials_in_both_forms(r, p, a, a0):
    p = p[: r + 1]
    if all(v == 0 for v in p[1:]):
        p = [*p[:1], 1]
    shared = [a0, *a[:r]]
    target = sum(c * X**i for i, c in enumerate(p))
    for form in (None, shared):
        net = lemma1.polynomial_network(p, r, form)
        (closed,) = net.closed_form([X])
        assert prove_equal(closed, target), (p, form)
        assert net.sizes().neurons <= (2 if form is None else 2 * r)
        for x in (F(-7, 3), F(0), F(5, 11)):
            assert net([x]) == [sum(c * x**i for i, c in enumerate(p))]


def test_single_neuron_is_constant_on_a_half_line():
    holds, details = lemma1.single_neuron_is_constant_on_a_half_line(3)
    assert holds and "a0" in details


def test_no_float_rounding_in_constructions():
    net = lemma1.polynomial_network([0.1, 0, 1], 3)
    assert net([F(0)]) == [F(0.1)]  # the exact binary fraction of 0.1, not 1/10
    assert sympy.Rational(net([F(0)])[0]) != sympy.Rational(1, 10)
