"""Yarotsky's constructions as exact networks and Lemma 2's certificates (docs/theory.md §4)."""

import random
from fractions import Fraction as Q

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import lemma2
from theory import yarotsky as Y
from theory.pl.piecewise_linear import poly_eval, sup_error
from theory.pl.propagation import network_to_pl, piece_bound

BROKEN_HAT = (Q(2), Q(-41, 10), Q(2))


@pytest.mark.parametrize("m", range(1, 11))
def test_square_network_error_is_exactly_a_quarter_power(m):
    net = Y.square_network(m)
    (f,) = network_to_pl(net, 0, 1)
    assert sup_error(f, [0, 0, 1]).value == Q(1, 4 ** (m + 1))
    assert sup_error(f, [0, 0, 1], sign=-1).value == 0  # f_m ≥ x²
    assert f.pieces == 2**m <= piece_bound(net)
    assert net.sizes().neurons == 4 * m and net.sizes().width == 4


def test_square_network_is_the_interpolant_at_dyadic_nodes():
    net = Y.square_network(5)
    for k in range(33):
        x = Q(k, 32)
        assert net([x])[0] == x * x


def test_a_broken_hat_fails_the_square_certificate():
    assert lemma2.certify_square(6).holds
    broken = lemma2.certify_square(6, hat=BROKEN_HAT)
    assert not broken.holds and "m=1" in broken.details


def test_product_certificate_holds_and_fails_when_broken():
    good = lemma2.certify_product(m=3, M=Q(3, 2), grid=13)
    assert good.holds and Q(good.measured_error) <= Q(good.error_bound) == Q(9, 4) / 4**3
    assert not lemma2.certify_product(m=3, M=Q(3, 2), grid=13, hat=BROKEN_HAT).holds


@settings(max_examples=15, deadline=None)
@given(
    st.integers(min_value=0, max_value=5),
    st.fractions(min_value=Q(1, 4), max_value=4, max_denominator=8),
    st.randoms(use_true_random=False),
)
def test_product_error_is_within_the_composed_bound(m, M, rnd):
    net = Y.product_network(m, M)
    bound = Y.product_bound(M, lemma2.square_interval(m))
    assert bound == M * M / 4**m
    for _ in range(20):
        x, y = (M * Q(rnd.randint(-64, 64), 64) for _ in range(2))
        assert abs(net([x, y])[0] - x * y) <= bound


coefficient_lists = st.lists(st.fractions(min_value=-1, max_value=1, max_denominator=6), min_size=3, max_size=5).filter(
    lambda a: a[-1] != 0
)


@settings(max_examples=12, deadline=None)
@given(coefficient_lists, st.integers(min_value=1, max_value=4))
def test_polyrelu_network_exact_error_is_within_the_composed_bound(a, m):
    a = tuple(a)
    err = lemma2.exact_error(a, m)
    assert err.upper <= Y.polyrelu_bound(a, m, lemma2.square_interval(m))
    net = Y.polyrelu_network(a, m)
    assert net.sizes().neurons == lemma2.neurons_formula(a, m)
    # outside [−1, 1] the approximant is the clipped one (Theorem 2 relies on it)
    assert net([Q(5, 2)]) == net([Q(1)]) and net([Q(-3)]) == net([Q(-1)]) == [a[0]]


def test_powers_by_horner_chain():
    for i in range(1, 5):
        net = Y.power_network(i, 4)
        (f,) = network_to_pl(net, 0, 1)
        err = sup_error(f, [0] * i + [1])
        assert err.upper <= Y.horner_plan([0] * i + [1], 4).bound
        assert (err.upper == 0) == (i <= 1)


def test_smallest_is_minimal_and_certified():
    a = lemma2.paper_coefficients(2)
    res = lemma2.smallest(a, Q(1, 1000))
    assert res.method == "exact" and res.error < Q(1, 1000)
    assert lemma2.exact_error(a, res.m - 1).lower >= Q(1, 1000)
    # order 1 is ReLU itself: exact with 2 neurons, whatever eps
    one = lemma2.smallest((0, 1), Q(1, 10**12))
    assert one.m == 0 and one.error == 0 and one.sizes.neurons == 2


def test_smallest_certificate_fails_on_a_broken_construction():
    a = lemma2.paper_coefficients(3)
    assert lemma2.certify_smallest(a, Q(1, 100)).holds
    assert not lemma2.certify_smallest(a, Q(1, 100), hat=BROKEN_HAT).holds


def test_size_table_is_linear_in_log_one_over_eps():
    rows = lemma2.size_table(orders=(2, 3))
    fits = lemma2.fit_sizes(rows)
    for r in (2, 3):
        assert abs(fits[r]["quadratic_coefficient"]) < 0.05
        assert fits[r]["linear"]["max_residual"] < fits[r]["paper_ln2"]["max_residual"]
    for res in rows:
        m_bar, linear = lemma2.rate_bound(res.a, res.eps)
        assert res.m <= m_bar and res.sizes.neurons <= linear and res.error < res.eps


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="eps"):
        lemma2.smallest((0, 1, 1), 2)
    with pytest.raises(ValueError, match="squaring depth"):
        Y.square_network(-1)
    with pytest.raises(ValueError, match="positive"):
        Y.product_network(2, 0)


def test_horner_values_match_the_polynomial_at_dyadic_points_roughly():
    rng = random.Random(0)
    a = (Q(1, 2), Q(-1, 3), Q(1, 4), Q(-1, 5))
    net = Y.polyrelu_network(a, 6)
    bound = Y.polyrelu_bound(a, 6)
    for _ in range(30):
        x = Q(rng.randint(-64, 64), 64)
        t = max(x, Q(0))
        assert abs(net([x])[0] - poly_eval(a, t)) <= bound
