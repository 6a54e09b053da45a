"""Cell polynomials (docs/theory.md §5.1): agree with the kink-tracking evaluator, refuse what they cannot prove."""

from __future__ import annotations

from fractions import Fraction as Q

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.activation import polyrelu, relu, relu_power
from theory.network import Affine, Network
from theory.polynomial import Poly
from theory.sobolev.cell_polynomials import NotSeparable, cell_polynomials
from theory.sobolev.cellwise import network_on_box

fractions = st.fractions(min_value=-2, max_value=2, max_denominator=8)


@st.composite
def paired_networks(draw):
    """A separable first layer, then a layer of cancelling pairs ±z (ReLU² with equal weights, ReLU with
    opposite ones), then an output: a network the method must handle, of random size and weights."""
    d = draw(st.integers(1, 2))
    units = draw(st.integers(1, 5))
    rows, bias = [], []
    for _ in range(units):
        rows.append({draw(st.integers(0, d - 1)): draw(fractions.filter(bool))})
        bias.append(draw(fractions))
    first = Affine(d, tuple(rows), tuple(bias))
    pairs = draw(st.integers(1, 3))
    rows2, bias2, acts2, out = [], [], [], {}
    for p in range(pairs):
        row = {j: draw(fractions) for j in draw(st.sets(st.integers(0, units - 1), min_size=1, max_size=3))}
        row = {j: v for j, v in row.items() if v} or {0: Q(1)}
        b = draw(fractions)
        square = draw(st.booleans())
        w = draw(fractions.filter(bool))
        rows2 += [row, {j: -v for j, v in row.items()}]
        bias2 += [b, -b]
        acts2 += [relu_power(2)] * 2 if square else [relu()] * 2
        out[2 * p], out[2 * p + 1] = w, (w if square else -w)
    second = Affine(units, tuple(rows2), tuple(bias2))
    last = Affine(2 * pairs, (out,), (draw(fractions),))
    first_acts = [draw(st.sampled_from([relu(), relu_power(2), polyrelu((0, 1, 1))])) for _ in range(units)]
    return Network([first, second, last], [first_acts, acts2])


@settings(max_examples=40, deadline=None)
@given(paired_networks())
def test_cell_polynomials_agree_with_the_kink_tracking_evaluator(net):
    cells = cell_polynomials(net)
    for box, poly in cells.cells():
        (reference,) = network_on_box(net, box)
        assert poly.parts == {k: v for k, v in reference.parts.items() if not v.is_zero()}


@settings(max_examples=20, deadline=None)
@given(paired_networks(), st.data())
def test_cell_polynomials_are_the_network_at_points(net, data):
    cells = cell_polynomials(net)
    for box, poly in cells.cells():
        x = [a + (b - a) * data.draw(st.fractions(0, 1, max_denominator=16)) for a, b in box]
        assert sum((p(x) for p in poly.parts.values()), Q(0)) == net(x)[0]


def _square_of(z_bias: Q, weights=(Q(1), Q(1))) -> Network:
    first = Affine(1, ({0: Q(1)},), (z_bias,))
    second = Affine(1, ({0: Q(1)}, {0: Q(-1)}), (Q(0), Q(0)))
    last = Affine(2, ({0: weights[0], 1: weights[1]},), (Q(0),))
    return Network([first, second, last], [[relu()], [relu_power(2)] * 2])


def test_pairs_cancel_and_a_missing_partner_is_refused():
    # ReLU(h)² + ReLU(−h)² = h² with h = ReLU(x − 1/3): 0 on [0, 1/3], (x − 1/3)² on [1/3, 1]
    (_, left), (_, right) = cell_polynomials(_square_of(Q(-1, 3))).cells()
    assert not left.parts and right.parts["1"] == Poly.affine([1], Q(-1, 3)) ** 2
    with pytest.raises(NotSeparable, match="partner"):
        cell_polynomials(_square_of(Q(-1, 3), (Q(1), Q(1, 2))))


def test_a_first_layer_unit_reading_two_coordinates_is_refused():
    net = Network([Affine(2, ({0: Q(1), 1: Q(1)},), (Q(0),)), Affine(1, ({0: Q(1)},), (Q(0),))], [[relu()]])
    with pytest.raises(NotSeparable, match="reads 2 coordinates"):
        cell_polynomials(net)


def test_cells_refine_the_kinks_and_the_extra_breakpoints():
    cells = cell_polynomials(_square_of(Q(-1, 3)), extra_breakpoints=[Q(1, 2), Q(2)])
    assert cells.pieces == (((Q(0), Q(1, 3)), (Q(1, 3), Q(1, 2)), (Q(1, 2), Q(1))),)
