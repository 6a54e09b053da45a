"""Jets (docs/theory.md §5.2) and the certified sup error built on them (§5.3)."""

from __future__ import annotations

import math
from fractions import Fraction as Q

import mpmath
import pytest
import sympy as sp
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from theory.intervals import NotSmooth
from theory.polynomial import AtomPoly, Poly
from theory.sobolev.certified_error import sup_error
from theory.sobolev.jets import Irrational, ball, box_ball, compile_jet, point_jets
from theory.sobolev.target import SobolevTarget

UNARY = ("sin", "cos", "exp", "atan", "tanh", "sinh", "cosh", "log(2+{}**2)", "sqrt(1+{}**2)", "tan({}/4)")


@st.composite
def expressions(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(["x0", "x1", "2", "1/3", "-3/2", "pi"]))
    kind = draw(st.integers(0, 2))
    if kind == 0:
        f = draw(st.sampled_from(UNARY))
        inner = draw(expressions(depth - 1))
        return f.format(f"({inner})") if "{}" in f else f"{f}({inner})"
    op = draw(st.sampled_from(["+", "-", "*"]))
    return f"({draw(expressions(depth - 1))}){op}({draw(expressions(depth - 1))})"


def _reference(expr, symbols, beta, point, digits=60):
    e = expr
    for s, k in zip(symbols, beta, strict=True):
        e = sp.diff(e, s, k)
    value = e.subs(dict(zip(symbols, map(sp.Rational, point), strict=True))) / math.prod(map(math.factorial, beta))
    return value if digits is None else sp.N(value, digits)


@settings(max_examples=25, deadline=None)
@given(expressions(), st.fractions(0, 1, max_denominator=9), st.fractions(0, 1, max_denominator=9))
def test_jets_enclose_symbolic_derivatives(text, a, b):
    try:
        target = SobolevTarget.parse(text, 2, 1)
    except ValueError as err:  # e.g. tan(exp(exp(x0))/4) has a pole on the square: refused, rightly
        assert "not certified" in str(err)
        reject()
    jet = compile_jet(target.expr, target.symbols)(point_jets(2, 3, (a, b)))
    for beta, c in jet.coefficients().items():
        ref = _reference(target.expr, target.symbols, beta, (a, b))
        assert abs(float(c.mid()) - float(ref)) <= float(c.rad()) + 1e-12 * (1 + abs(float(ref)))
        assert float(c.rad()) < 1e-30 * (1 + abs(float(ref)))


def test_exact_jets_of_polynomials_are_exact_and_irrational_steps_refuse():
    target = SobolevTarget.parse("x0**3*x1 - x0/3 + 2", 2, 1)
    jet = compile_jet(target.expr, target.symbols, exact=True)(point_jets(2, 4, (Q(1, 2), Q(1, 3)), exact=True))
    for beta, c in jet.coefficients().items():
        ref = _reference(target.expr, target.symbols, beta, (Q(1, 2), Q(1, 3)), digits=None)
        assert isinstance(c, Q) and c == Q(int(ref.p), int(ref.q))
    with pytest.raises(Irrational):
        compile_jet(sp.sin(sp.Symbol("x0")), [sp.Symbol("x0")], exact=True)([*point_jets(1, 2, (Q(0),), exact=True)])


def test_jets_refuse_to_leave_the_domain():
    x = sp.Symbol("x0")
    for expr in (sp.log(x - 1), 1 / (x - sp.Rational(1, 2)), sp.Abs(x - sp.Rational(1, 2)), sp.sqrt(x - 1)):
        with pytest.raises(NotSmooth):
            compile_jet(expr, [x])([*point_jets(1, 2, (box_ball(Q(0), Q(1)),))])


def test_box_jets_enclose_derivatives_everywhere_on_the_box():
    x = sp.Symbol("x0")
    jet = compile_jet(sp.sin(3 * x), [x])([*point_jets(1, 3, (box_ball(Q(0), Q(1)),))])
    top = jet.coefficients()[(3,)]
    for t in (0, 0.25, 0.5, 0.75, 1):
        assert top.contains(ball(Q(str(round(-27 * math.cos(3 * t) / 6, 12))))) or abs(
            float(top.mid()) + 27 * math.cos(3 * t) / 6
        ) <= float(top.rad())


# --------------------------------------------------------------------------- certified sup error


def _cells(n: int):
    return [((Q(i, n), Q(i + 1, n)),) for i in range(n)]


def test_sup_error_of_an_exact_polynomial_is_zero_and_a_shift_is_seen():
    target = SobolevTarget.parse("x0**2 - x0/3", 1, 2)
    poly = AtomPoly(1)
    poly.add(1, Poly(1, {(2,): Q(1), (1,): Q(-1, 3)}))
    exact = sup_error(target, [(c, poly) for c in _cells(4)], degree=2)
    assert exact.lower == 0 and exact.upper < Q(1, 10**40)
    shifted = AtomPoly(1)
    shifted.add(1, Poly(1, {(2,): Q(1), (1,): Q(-1, 3), (0,): Q(1, 100)}))
    moved = sup_error(target, [(c, shifted) for c in _cells(4)], degree=2)
    assert moved.lower <= Q(1, 100) <= moved.upper and moved.upper - moved.lower < Q(1, 10**30)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from(["sin(3*x0)", "exp(x0)*cos(2*x0)", "atan(x0-1/2)", "1/(1+x0**2)"]), st.integers(2, 6))
def test_sup_error_encloses_the_error_at_many_points(text, n):
    """p = the linear interpolant on each cell: the enclosure must contain |f − p| at 40 points per cell."""
    target = SobolevTarget.parse(text, 1, 2)
    f = target.numeric()
    cells = []
    worst = mpmath.mpf(0)
    with mpmath.workdps(40):
        for ((a, b),) in _cells(n):
            fa, fb = (Q(str(mpmath.nstr(f(mpmath.mpf(v.numerator) / v.denominator), 30))) for v in (a, b))
            slope = (fb - fa) / (b - a)
            poly = AtomPoly(1)
            poly.add(1, Poly(1, {(1,): slope, (0,): fa - slope * a}))
            cells.append((((a, b),), poly))
            for k in range(41):
                x = a + (b - a) * Q(k, 40)
                xm = mpmath.mpf(x.numerator) / x.denominator
                worst = max(worst, abs(f(xm) - poly.parts["1"]([x])))
    err = sup_error(target, cells, degree=1)
    seen = Q(str(mpmath.nstr(worst, 35)))  # a 35-digit value: compare with a relative margin of 1e-20
    assert err.lower <= seen * (1 + Q(1, 10**20)) and seen <= err.upper * (1 + Q(1, 10**20))
