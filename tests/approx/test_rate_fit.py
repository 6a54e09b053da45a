"""approx.fitting.rates: the slope fit recovers a known rate; the seed bootstrap gives an interval that covers it."""

import math
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approx.fitting import rates


def synthetic(alpha, c=3.0, noise=0.15, seeds=4, rng_seed=0):
    rng = np.random.default_rng(rng_seed)
    sizes = np.geomspace(100, 10_000, 6)
    p = np.repeat(sizes, seeds)
    s = np.tile(np.arange(seeds), len(sizes))
    offset = rng.normal(0, noise, seeds)[s]  # each seed a bit luckier or unluckier throughout
    e = c * p**-alpha * np.exp(offset + rng.normal(0, noise, len(p)))
    return p, e, s


@settings(max_examples=15, deadline=None)
@given(alpha=st.floats(0.2, 3.0), rng_seed=st.integers(0, 10_000))
def test_fit_recovers_a_known_slope(alpha, rng_seed):
    p, e, s = synthetic(alpha, rng_seed=rng_seed)
    fit = rates.fit_rate(p, e, s, boot=300)
    assert fit.slope == pytest.approx(-alpha, abs=0.15)
    assert fit.ci_low < fit.ci_high and fit.seeds == 4 and fit.points == 24


def test_interval_covers_truth_and_excludes_a_wrong_slope():
    p, e, s = synthetic(1.5, noise=0.1, seeds=5)
    fit = rates.fit_rate(p, e, s, boot=1000)
    assert fit.ci_low <= -1.5 <= fit.ci_high
    assert not fit.ci_low <= -1.0 <= fit.ci_high  # a rate off by 0.5 is rejected
    assert fit.r2 > 0.95
    np.testing.assert_allclose(fit.predict(np.array([100.0])), 3.0 * 100**-1.5, rtol=0.3)


def test_exact_power_law_is_exact():
    p = np.array([10.0, 100, 1000, 10, 100, 1000])
    fit = rates.fit_rate(p, 2 * p**-0.5, np.array([0, 0, 0, 1, 1, 1]), boot=50)
    assert fit.slope == pytest.approx(-0.5, abs=1e-12) and math.exp(fit.log_c) == pytest.approx(2.0)
    assert fit.ci_low == pytest.approx(-0.5) and fit.ci_high == pytest.approx(-0.5)


def test_diverged_points_are_dropped():
    p, e, s = synthetic(1.0)
    e = e.copy()
    e[[0, 5]] = [np.nan, np.inf]
    clean = rates.fit_rate(np.delete(p, [0, 5]), np.delete(e, [0, 5]), np.delete(s, [0, 5]), boot=100)
    assert rates.fit_rate(p, e, s, boot=100).slope == pytest.approx(clean.slope)


def test_one_size_is_an_error():
    with pytest.raises(ValueError, match="two distinct sizes"):
        rates.fit_rate(np.array([10.0, 10.0]), np.array([1.0, 2.0]), np.array([0, 1]))


def test_theory_slopes():
    assert rates.theory_slope(3, 1) == -3.0 and rates.theory_slope(2, 2) == -1.0
    assert rates.theory_slope(3, 1, relu=True) == -2.0 and rates.theory_slope(1, 2, relu=True) == -0.5
    assert rates.theory_slope(None, 1) is None


def test_slopes_are_fitted_above_the_floors_only():
    """A synthetic curve error = 10·P^-1.5 that flattens at rounding level, plus one size starved of data."""
    sizes = np.array([100, 300, 1000, 3000, 10_000, 30_000])
    params = np.repeat(sizes, 3).astype(float)
    seeds = np.tile([0, 1, 2], len(sizes))
    error = np.where(params < 10_000, 10 * params**-1.5, 3e-15) * (1 + 0.01 * seeds)  # last two sizes: rounding
    train = error / 2
    test = error.copy()
    test[params == 100] = error[params == 100] * 50  # interpolates its points, misses between them
    fit, floors = rates.fit_above_floor(params, error, seeds, test, train, boot=50)
    assert floors == {100.0: "data", 10_000.0: "float64", 30_000.0: "float64"}
    assert abs(fit.slope + 1.5) < 0.02 and fit.points == 3  # one point per size: its best row
    naive = rates.fit_rate(params, error, seeds, boot=0)
    assert abs(naive.slope + 1.5) > 0.5  # fitting through the floors says something else entirely
    none, floors = rates.fit_above_floor(params[:6], np.full(6, 1e-14), seeds[:6], test[:6], train[:6], boot=0)
    assert none is None and set(floors.values()) == {"float64"}


def test_the_protocol_fits_the_best_of_the_grid_per_size():
    """Rows of one size: an lr × seed grid where one cell is good (10·P^-2) and the rest are stuck at 1e-3."""
    sizes = np.array([100.0, 400.0, 1600.0, 6400.0])
    rows = [(i, s, lr) for i in range(len(sizes)) for s in range(3) for lr in range(2)]
    params = np.array([sizes[r[0]] for r in rows])
    seeds = np.array([r[1] for r in rows])
    good = np.array([2 * r[1] + r[2] == (r[0] + 1) % 6 for r in rows])  # a different cell per size
    error = np.where(good, 10 * params**-2.0, 1e-3)
    for p in sizes:
        assert good[params == p].sum() == 1
    fit = rates.fit_best(params, error, seeds, boot=200)
    assert fit.slope == pytest.approx(-2.0) and fit.points == len(sizes)
    assert fit.ci_low <= -0.0 and fit.ci_high <= 0.5  # dropping the good seed flattens some resamples
    assert abs(rates.fit_rate(params, error, seeds, boot=0).slope + 2) > 1  # every point says something else
    fit, floors = rates.fit_above_floor(params, error, seeds, error, error, boot=0)
    assert floors == {} and fit.slope == pytest.approx(-2.0)


def test_rising_steps_are_the_best_errors_that_grow_with_size():
    p = np.array([100, 100, 200, 200, 400, 400, 800, 800, 1600])
    e = np.array([1e-2, 5e-3, 4e-3, 9e-3, 4.3e-3, 8e-3, 6e-3, np.nan, 1e-3])  # best: 5e-3, 4e-3, 4.3e-3, 6e-3, 1e-3
    assert rates.rising_steps(p, e) == [(400.0, 800.0, 4.3e-3, 6e-3)]  # 200 → 400 rose by 7.5%, under the 10%
    assert rates.rising_steps(p, e, tolerance=0.05) == [(200.0, 400.0, 4e-3, 4.3e-3), (400.0, 800.0, 4.3e-3, 6e-3)]
    assert rates.rising_steps(p, e, floors={800.0: "data"}) == []  # 400 → 1600 falls
    assert rates.rising_steps(p[::-1], e[::-1]) == rates.rising_steps(p, e)  # sizes in any order


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(1e-12, 1.0), min_size=2, max_size=8))
def test_the_envelope_never_rises_and_a_falling_curve_has_no_rising_step(errors):
    p = np.arange(1, len(errors) + 1) * 100.0
    env = rates.envelope(p, errors)
    assert rates.rising_steps(*zip(*env, strict=True), tolerance=0.0) == []
    assert all(b <= a for (_, a), (_, b) in pairwise(env))
    assert bool(rates.rising_steps(p, errors, tolerance=0.0)) == any(b > a for a, b in pairwise(errors))
