"""approx.fitting.targets and approx.fitting.expression: normalisation, smoothness, point sets, user errors."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting import targets as T
from approx.fitting.expression import expression_target

CATALOGUE = [T.get(name) for name in T.names()] + [T.get("abs_power", n=2, d=2), T.get("spline", n=3, d=2)]


@pytest.mark.parametrize("target", CATALOGUE, ids=lambda t: t.name)
def test_normalised_to_unit_sup_norm(target):
    x = T.dense_grid(target.d, 4096 if target.d == 1 else 40_000)
    assert target(x).abs().max().item() == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_abs_power_is_exactly_w_n_inf(n):
    """The n-th difference quotient stays bounded at the singular point; the (n+1)-th blows up like h^{-1/2}."""
    t = T.get("abs_power", n=n, d=1)
    c = 1 / math.sqrt(5)

    def quotient(order, h):
        k = torch.arange(order + 1, dtype=torch.float64)
        coef = torch.tensor([(-1) ** (order - i) * math.comb(order, i) for i in range(order + 1)], dtype=torch.float64)
        return float((coef * t((c + k * h)[:, None])).sum() / h**order)  # one-sided: symmetric stencils cancel

    bounded = [abs(quotient(n, h)) for h in (1e-2, 1e-3)]
    blowing = [abs(quotient(n + 1, h)) for h in (1e-2, 1e-3)]
    assert bounded[1] < 2 * bounded[0] + 1
    assert blowing[1] / blowing[0] == pytest.approx(math.sqrt(10), rel=0.2)  # h^{-1/2}


def test_spline_is_piecewise_polynomial_of_degree_n():
    t = T.get("spline", n=2, d=1, knots=3, seed=1)
    x = torch.linspace(0, 1, 20001, dtype=torch.float64)[:, None]
    third = torch.diff(t(x), n=3)  # zero except at the 3 knots
    assert int((third.abs() > 1e-9).sum()) <= 3 * 3


def test_fourier_is_seeded_and_distinct():
    a, b, c = T.get("fourier", n=2, d=2, seed=0), T.get("fourier", n=2, d=2, seed=0), T.get("fourier", n=2, d=2, seed=1)
    x = T.sample(2, 64, "random", 3)
    assert torch.equal(a(x), b(x)) and not torch.allclose(a(x), c(x))


@settings(max_examples=20, deadline=None)
@given(d=st.integers(1, 3), points=st.integers(1, 300), seed=st.integers(0, 10**6), method=st.sampled_from(T.SAMPLINGS))
def test_point_sets_are_in_the_cube_and_reproducible(d, points, seed, method):
    x = T.sample(d, points, method, seed)
    assert x.shape[1] == d and x.min() >= 0 and x.max() <= 1
    assert torch.equal(x, T.sample(d, points, method, seed))
    if method != "chebyshev":
        assert len(x) == points


def test_arcsine_points_follow_the_arcsine_law_and_keep_the_boundary():
    x = T.sample(3, 4096, "arcsine", 0)
    assert torch.equal(x, T.arcsine(T.sample(3, 4096, "boundary", 0)))
    # P(X < t) = (2/π)·asin(√t) per coordinate: 0.205 at t = 0.1, where uniform points give 0.1
    below = (x[:, 0] < 0.1).double().mean().item()
    assert below == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.1)), abs=0.02)
    corners = T.boundary(3, 8)
    assert torch.equal(x[:8], corners)  # the corners come first and the map fixes them


@pytest.mark.parametrize("d, chosen", [(1, "boundary"), (2, "boundary"), (3, "arcsine"), (4, "arcsine")])
def test_auto_sampling_takes_arcsine_from_three_dimensions_on(d, chosen):
    assert T.ARCSINE_FROM == 3
    assert torch.equal(T.sample(d, 200, "auto", 1), T.sample(d, 200, chosen, 1))


def test_test_grid_avoids_chebyshev_training_nodes():
    train = T.sample(1, 65, "chebyshev")
    test = T.dense_grid(1, 4096)
    assert torch.cdist(test, train).min() > 0


def test_expression_target_matches_direct_evaluation():
    t = expression_target("exp(sin(pi*x) + y**2)", d=2)
    kan = T.get("kan_exp_sin")
    x = T.sample(2, 100, "random", 0)
    assert torch.allclose(t(x), kan(x), rtol=1e-12)


@pytest.mark.parametrize(
    "expr, d, message",
    [("sin(x0", 1, "malformed"), ("x0 + q", 1, "unknown symbol"), ("", 1, "non-empty"), ("x0", 0, "d must be")],
)
def test_bad_expressions_are_clear_errors(expr, d, message):
    with pytest.raises(ValueError, match=message):
        expression_target(expr, d)


@pytest.mark.parametrize(
    "name, kw, message",
    [
        ("nope", {}, "unknown target"),
        ("abs_power", {"n": -1}, "n must be"),
        ("runge", {"n": 1}, "no parameters"),
        ("spline", {"wiggle": 1}, "bad parameters"),
    ],
)
def test_bad_catalogue_requests(name, kw, message):
    with pytest.raises(ValueError, match=message):
        T.get(name, **kw)
