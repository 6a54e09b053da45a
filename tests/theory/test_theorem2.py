"""Theorem 2 (docs/theory.md §4): normalisation checks, the layer error budget, and the piece-count lower bound."""

import random
from fractions import Fraction as Q

import pytest
from conftest import run_polylab as polylab
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import lemma2, theorem2
from theory.activation import polynomial, relu
from theory.certificate import gather
from theory.network import Affine, Network
from theory.pl import piece_count
from theory.pl.piecewise_linear import PiecewiseLinear, sup_error
from theory.pl.propagation import network_to_pl, piece_bound

PAPER3 = lemma2.paper_coefficients(3)


def test_normalisation_violations_name_the_assumption():
    with pytest.raises(ValueError, match=r"‖w‖₁ \+ \|b\| ≤ 1"):
        theorem2.check_normalisation(theorem2.random_network(0, 1, 2, 2, PAPER3, norm=Q(5, 4)))
    with pytest.raises(ValueError, match=r"σ maps \[−1, 1\] into \[−1, 1\]"):
        theorem2.check_normalisation(theorem2.random_network(0, 1, 2, 2, (0, 1, 1)))
    with pytest.raises(ValueError, match="α-Lipschitz"):
        theorem2.check_normalisation(theorem2.random_network(0, 1, 2, 2, PAPER3), alpha=Q(3, 2))
    with pytest.raises(ValueError, match="PolyReLU"):
        net = Network([Affine.from_dense([[Q(1, 2)]]), Affine.from_dense([[Q(1, 2)]])], [polynomial((0, 1, 1))])
        theorem2.check_normalisation(net)


def test_opt_in_rescaling_is_reported_and_certified():
    net = theorem2.random_network(3, 1, 1, 2, PAPER3, norm=Q(3, 2))
    g, report = theorem2.check_normalisation(net, rescale=True)
    assert len(report.rescaled) == 3 and all(s == Q(3, 2) for *_, s in report.rescaled)
    assert "rescaled" in report.report()
    res = theorem2.relu_approximation(net, Q(1, 100), rescale=True)
    assert theorem2.measure(res, 17) <= res.bound < Q(1, 100)


def test_certified_lipschitz_and_range():
    assert theorem2.lipschitz(PAPER3) == 2  # p' = (1 + 2t + 3t²)/3 peaks at t = 1
    assert theorem2.sup_abs(PAPER3) == 1
    assert theorem2.lipschitz((0, Q(1, 2), Q(-1, 2))) == Q(1, 2)  # |1/2 − t| on [0, 1]


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 2), st.integers(1, 3), st.sampled_from([Q(1, 10), Q(1, 100)]))
def test_upper_bound_holds_on_random_networks(seed, L, K, eps):
    res = theorem2.relu_approximation(theorem2.random_network(seed, 1, L, K, lemma2.paper_coefficients(2)), eps)
    assert res.bound < eps
    assert theorem2.measure(res, 9) <= res.bound


def test_exact_shallow_error_is_between_the_grid_and_the_bound():
    res = theorem2.relu_approximation(theorem2.random_network(5, 1, 1, 3, PAPER3), Q(1, 100), exact_max_m=4)
    exact = theorem2.exact_error_shallow(res)
    assert theorem2.measure(res, 41) <= exact <= res.bound < Q(1, 100)
    last = res.relu.affines[-1]
    res.relu = res.relu.with_affine(len(res.relu.affines) - 1, Affine(last.in_dim, last.rows, (last.bias[0] + 1,)))
    assert theorem2.exact_error_shallow(res) > res.bound
    with pytest.raises(ValueError, match="one hidden layer"):
        theorem2.exact_error_shallow(theorem2.relu_approximation(theorem2.random_network(5, 1, 2, 2, PAPER3), Q(1, 10)))


def test_a_broken_relu_network_exceeds_the_bound():
    res = theorem2.relu_approximation(theorem2.random_network(2, 2, 2, 2, PAPER3), Q(1, 100))
    assert theorem2.measure(res, 8) <= res.bound
    last = res.relu.affines[-1]
    res.relu = res.relu.with_affine(len(res.relu.affines) - 1, Affine(last.in_dim, last.rows, (last.bias[0] + 1,)))
    assert theorem2.measure(res, 8) > res.bound


def test_counterexample_e1_is_a_relu_network_of_the_same_size():
    cert = theorem2.certify_counterexample()
    assert cert.holds and cert.measured_error == "0"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.integers(0, 10**6))
def test_piece_count_bound_on_random_relu_networks(widths, seed):
    rng = random.Random(seed)
    dims = [1, *widths, 1]
    affines = [
        Affine.from_dense(
            [[Q(rng.randint(-8, 8), 4) for _ in range(dims[i])] for _ in range(dims[i + 1])],
            [Q(rng.randint(-8, 8), 8) for _ in range(dims[i + 1])],
        )
        for i in range(len(dims) - 1)
    ]
    net = Network(affines, [relu()] * len(widths))
    (f,) = network_to_pl(net, -2, 2)
    assert f.pieces <= piece_bound(net)
    for k in range(-8, 9):  # the propagated PL function is the network
        assert f(Q(k, 4)) == net([Q(k, 4)])[0]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.fractions(0, 1, max_denominator=50), max_size=6), st.randoms(use_true_random=False))
def test_no_pl_function_beats_the_gap(inner, rnd):
    xs = sorted({Q(0), Q(1), *inner})
    f = PiecewiseLinear(tuple(xs), tuple(Q(rnd.randint(-40, 140), 100) for _ in xs))
    assert sup_error(f, [0, 0, 1]).value >= piece_count.gap(len(xs) - 1)


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16])
def test_the_gap_is_sharp(n):
    f = piece_count.shifted_interpolant(n)
    assert sup_error(f, [0, 0, 1]).value == piece_count.gap(n)
    (g,) = network_to_pl(piece_count.shallow_network(f), 0, 1)
    assert g == f.simplify()


@pytest.mark.parametrize("eps", [Q(1, 10), Q(1, 8), Q(1, 1000), Q(1, 10**12)])
def test_least_pieces_width_and_neurons(eps):
    n = piece_count.min_pieces(eps)
    assert piece_count.gap(n) <= eps and (n == 1 or piece_count.gap(n - 1) > eps)
    for L in (1, 2, 5):
        w = piece_count.min_width(L, eps)
        assert (w + 1) ** L >= n and (w == 1 or w**L < n)
    k = piece_count.min_neurons(eps)
    assert 2**k >= n and (k == 0 or 2 ** (k - 1) < n)


def test_theorem2_and_lemma2_certificates_hold():
    certs = gather(["lemma2", "theorem2"])
    assert certs and all(c.holds for c in certs), [c.name for c in certs if not c.holds]


def test_construct_cli(tmp_path):
    out = polylab("construct", "lemma2", "--order", "2", "--eps", "1e-3", "--json", str(tmp_path / "l2.json"))
    assert out.returncode == 0, out.stderr
    assert "certified sup error" in out.stdout and (tmp_path / "l2.json").stat().st_size > 500
    out = polylab("construct", "theorem2", "--depth", "1", "--width", "2", "--eps", "1e-2", "--grid", "9")
    assert out.returncode == 0 and "certified sup error" in out.stdout, out.stderr
    bad = polylab("construct", "theorem2", "--row-norm", "2")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "‖w‖₁" in bad.stderr
    bad = polylab("construct", "lemma2", "--coeffs", "0,1/0")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def test_construct_plot(tmp_path):
    out = polylab(
        "construct", "lemma2", "--order", "2", "--eps", "1e-2", "--exact-max-m", "3", "--plot", str(tmp_path / "p.png")
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p.png").stat().st_size > 10_000
