"""The exact PL engine (docs/theory.md §4): arithmetic, ReLU, composition and the exact sup error."""

from fractions import Fraction as Q

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.pl.piecewise_linear import PiecewiseLinear as PL
from theory.pl.piecewise_linear import poly_eval, sup_error, taylor_shift

small = st.fractions(min_value=-3, max_value=3, max_denominator=12)


@st.composite
def pl_functions(draw, lo=Q(-1), hi=Q(1)):
    inner = sorted(set(draw(st.lists(st.fractions(min_value=lo, max_value=hi, max_denominator=30), max_size=6))))
    xs = [lo, *(x for x in inner if lo < x < hi), hi]
    return PL(tuple(xs), tuple(draw(small) for _ in xs))


def points(lo, hi, n=41):
    return [lo + (hi - lo) * Q(k, n - 1) for k in range(n)] + [lo + (hi - lo) * Q(1, 7)]


def hat():
    x = PL.identity(0, 1)
    return 2 * x.relu() - 4 * (x - Q(1, 2)).relu() + 2 * (x - 1).relu()


def yarotsky(m, g=None):
    g = g or hat()
    gs = f = PL.identity(0, 1)
    for s in range(1, m + 1):
        gs = g.compose(gs)
        f = f - gs * Q(1, 4**s)
    return f


@settings(max_examples=60, deadline=None)
@given(pl_functions(), pl_functions(), small)
def test_arithmetic_and_relu_are_pointwise(f, g, c):
    h = (f + c * g).relu() - 2
    for x in points(Q(-1), Q(1)) + list(f.xs) + list(g.xs):
        assert h(x) == max(f(x) + c * g(x), 0) - 2


@settings(max_examples=60, deadline=None)
@given(pl_functions(lo=Q(-3), hi=Q(3)), pl_functions())
def test_composition_is_pointwise(outer, inner):
    h = outer.compose(inner)
    for x in points(Q(-1), Q(1)):
        assert h(x) == outer(inner(x))
    # every slope of the result is a product of an outer and an inner slope
    assert h.pieces <= (outer.pieces + 1) * inner.pieces * 2


def test_composition_outside_domain_is_refused():
    with pytest.raises(ValueError, match="leaves the outer domain"):
        PL.identity(0, 1).compose(PL.affine(2, 0, 0, 1))


@pytest.mark.parametrize("m", range(1, 11))
def test_yarotsky_error_is_exactly_a_quarter_power(m):
    f = yarotsky(m)
    err = sup_error(f, [0, 0, 1])
    assert err.exact and err.value == Q(1, 4 ** (m + 1))
    assert f.pieces == 2**m
    # f_m lies above x²: the error is one-sided
    assert sup_error(f, [0, 0, 1], sign=-1).value == 0


def test_a_wrong_hat_breaks_the_quarter_power():
    x = PL.identity(0, 1)
    bad = 2 * x.relu() - Q(41, 10) * (x - Q(1, 2)).relu() + 2 * (x - 1).relu()
    bad = bad.relu()  # keep g's range inside [0, 1] so the composition is defined
    assert sup_error(yarotsky(4, bad), [0, 0, 1]).value != Q(1, 4**5)


def test_taylor_shift_and_eval():
    p = [Q(1), Q(-2), Q(3), Q(5, 7)]
    c = Q(3, 11)
    q = taylor_shift(p, c)
    for d in (Q(0), Q(1, 3), Q(-2)):
        assert poly_eval(q, d) == poly_eval(p, c + d)


@settings(max_examples=40, deadline=None)
@given(pl_functions(), st.lists(small, min_size=1, max_size=5), st.sampled_from([-1, 0, 1]))
def test_sup_error_encloses_every_sample(f, p, sign):
    err = sup_error(f, p, sign=sign)
    assert err.lower <= err.upper
    assert err.upper - err.lower <= abs(err.lower) * Q(1, 10**20)
    measure = abs if sign == 0 else (lambda e: sign * e)
    samples = [measure(f(x) - poly_eval(p, x)) for x in points(Q(-1), Q(1), 201)]
    assert max(samples) <= err.upper
    assert measure(f(err.argmax) - poly_eval(p, err.argmax)) == err.lower  # lower is attained
    if len(p) <= 3 or all(c == 0 for c in p[3:]):
        assert err.exact


def test_sup_error_on_a_cubic_is_tight():
    # the PL interpolant of x³ at 0, 1/2, 1: the error's maximum is at an irrational point
    f = PL.interpolant(lambda x: x**3, [0, Q(1, 2), 1])
    err = sup_error(f, [0, 0, 0, 1])
    # on [1/2, 1]: e = (7x − 3)/4 − x³, e' = 0 at x = √(7/12); on [0, 1/2]: x/4 − x³ at x = √(1/12)
    import math

    best = max((7 * math.sqrt(7 / 12) - 3) / 4 - math.sqrt(7 / 12) ** 3, math.sqrt(1 / 12) / 4 - math.sqrt(1 / 12) ** 3)
    assert not err.exact and abs(float(err.lower) - best) < 1e-15 and err.upper - err.lower < Q(1, 10**15)
