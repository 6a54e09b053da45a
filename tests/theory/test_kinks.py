"""Theorem 3 on kinked W^{n,∞} targets (docs/theory.md §5.4): membership, one-sided Taylor tables,
split enclosures, and the mutants each check must catch."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import theorem3 as T3
from theory.activation import relu
from theory.calculus import compose, extend_depth, parallel
from theory.network import Affine, Network
from theory.polynomial import AtomPoly, Poly
from theory.sobolev import kinks, taylor_check
from theory.sobolev.approximant import Approximant
from theory.sobolev.certified_error import pieces, sup_error
from theory.sobolev.target import SobolevTarget, parse_target
from theory.sobolev.taylor import TaylorTable
from theory.sobolev.twin_error import twin_error

KINK = "abs(x0-3/10)**(5/2)"


def test_a_kinked_target_is_in_w2_and_refused_in_w3_with_the_largest_n():
    f = SobolevTarget.parse(KINK, 1, 2)
    assert [str(k) for k in f.kinks] == ["x0 - 3/10 = 0"]
    # f'' = (15/4)|x − 3/10|^{1/2} ≤ (15/4)·0.7^{1/2} ≈ 3.1375 on [0, 1]
    assert 3.137 < float(f.norm.order_n_upper) < 3.14
    with pytest.raises(ValueError, match=r"D\^\(3,\) f is unbounded near the kink x0 - 3/10 = 0.*largest valid n is 2"):
        SobolevTarget.parse(KINK, 1, 3)


@pytest.mark.parametrize(
    "text, d, n, message",
    [
        ("abs(x0-1/3)", 1, 2, r"D\^\(1,\) f jumps by 2 across the kink x0 - 1/3 = 0.*largest valid n is 1"),
        ("abs(x0-1/3)**3", 1, 4, r"D\^\(3,\) f jumps by 12 .*largest valid n is 3"),
        ("abs(x0-x1)**(5/2)", 2, 3, r"unbounded near the kink x0 - x1 = 0.*largest valid n is 2"),
        ("sqrt(x0)", 1, 1, r"could not be bounded.*no n >= 1 is valid"),
        ("abs(sin(4*x0))", 1, 1, r"\|affine\| only.*no n is certified"),
    ],
)
def test_every_refusal_names_the_largest_valid_n(text, d, n, message):
    with pytest.raises(ValueError, match=message):
        SobolevTarget.parse(text, d, n)


def test_the_continuity_check_is_what_refuses_a_jump_in_a_bounded_derivative(monkeypatch):
    """|x − 1/3|³ has D³f = ±6 bounded on each piece: only the jump test keeps it out of W^{4,∞}."""
    with pytest.raises(ValueError, match="jumps"):
        SobolevTarget.parse("abs(x0-1/3)**3", 1, 4)
    monkeypatch.setattr(kinks.Lifted, "jump", lambda self, alpha: "")
    assert SobolevTarget.parse("abs(x0-1/3)**3", 1, 4).n == 4  # the mutant wrongly certifies W^{4,∞}


#: five C¹ kinks and one where f' jumps (at 9/10): 1-D, more kinks than d ≥ 2 allows
MANY = " + ".join(f"(x0-{c})*abs(x0-{c})" for c in ("1/10", "1/5", "2/5", "1/2", "7/10")) + " + abs(x0-9/10)/7"


def test_in_1d_the_pieces_are_the_intervals_between_kinks_and_each_kink_is_checked_from_its_two_sides():
    f = SobolevTarget.parse(MANY, 1, 1)
    assert len(f.kinks) == 6 and len(f.lifted.pieces) == 7  # of 2^6 sign patterns, the 7 met in [0, 1]
    with pytest.raises(
        ValueError, match=r"D\^\(1,\) f jumps by 2/7 across the kink x0 - 9/10 = 0.*largest valid n is 1"
    ):
        SobolevTarget.parse(MANY, 1, 2)
    outside = SobolevTarget.parse("abs(x0+1)**(1/2) + abs(x0-2)", 1, 3)  # both kinks off [0, 1]: smooth there
    assert outside.lifted.pieces == [()] and outside.n == 3


def test_a_1d_kink_placed_wrongly_is_never_checked(monkeypatch):
    """Mutant: kinks placed at −(true place) fall off [0, 1]; no two pieces meet there, and the jump at
    9/10 would be certified away. The test above is what keeps this out."""
    monkeypatch.setattr(kinks.Lifted, "_zeros", lambda self: [k.offset / k.normal[0] for k in self.kinks])
    assert SobolevTarget.parse(MANY, 1, 2).n == 2


def test_kinks_are_found_exactly_and_scaled_to_one_hyperplane_each():
    lifted = kinks.lift(
        parse_target("abs(2*x0+x1-1) + abs(-4*x0-2*x1+2)**2 + abs(x0-1/2)", 2), SobolevTarget.parse("x0", 2, 1).symbols
    )
    assert sorted((k.normal, k.offset) for k in lifted.kinks) == [
        ((Fraction(1), Fraction(0)), Fraction(-1, 2)),
        ((Fraction(1), Fraction(1, 2)), Fraction(-1, 2)),
    ]


def test_one_sided_coefficients_agree_at_a_node_on_the_kink():
    table = TaylorTable(SobolevTarget.parse(KINK, 1, 2), 10)  # node 3 is x = 3/10
    assert table.exact((3,), (0,)) == 0 and table.exact((3,), (1,)) == 0
    assert table.one_sided == 2


class _JumpsAtTheKink(kinks.Lifted):
    """f' one unit higher on the left piece: the two sides no longer agree at the kink."""

    def derivative(self, alpha, signs):
        out = super().derivative(alpha, signs)
        return out + 1 if alpha == (1,) and signs == (-1,) else out


def test_a_coefficient_whose_sides_disagree_at_a_kink_node_is_refused():
    lifted = SobolevTarget.parse(KINK, 1, 2).lifted
    table = TaylorTable(_with_lift(KINK, _JumpsAtTheKink(lifted.F, lifted.kinks, lifted.symbols)), 10)
    assert table.exact((2,), (1,)) != 0  # off the kink: the (wrong) left formula, caught by the jets
    with pytest.raises(ValueError, match="differs between the sides"):
        table.exact((3,), (1,))  # x = 3/10: both sides are asked, and they disagree


def _with_lift(text: str, lifted: kinks.Lifted) -> SobolevTarget:
    target = SobolevTarget.parse(text, 1, 2)
    target.__dict__["lifted"] = lifted
    return target


def test_a_table_on_a_moved_kink_is_caught_by_the_independent_jets_and_the_certificate():
    true = SobolevTarget.parse(KINK, 1, 2)
    moved = _with_lift(KINK, kinks.lift(parse_target("abs(x0-31/100)**(5/2)", 1), true.symbols))
    table = TaylorTable(moved, 10)
    assert taylor_check.compare(TaylorTable(true, 10)).holds
    assert not taylor_check.compare(table).holds
    assert not T3.certify_case(KINK, 1, 2, 10, table=table).holds
    assert T3.certify_case(KINK, 1, 2, 10).holds


class _ForgetsTheSide(kinks.Lifted):
    """The chain rule without the sign s_i: the left piece's odd derivatives flip."""

    def derivative(self, alpha, signs):
        return super().derivative(alpha, (1,) * len(signs))


def test_a_wrong_one_sided_derivative_is_caught():
    true = SobolevTarget.parse(KINK, 1, 2)
    lifted = true.lifted
    table = TaylorTable(_with_lift(KINK, _ForgetsTheSide(lifted.F, lifted.kinks, lifted.symbols)), 10)
    check = taylor_check.compare(table)
    assert not check.holds and all(alpha == (1,) for _, alpha in check.examples)
    assert not T3.certify_case(KINK, 1, 2, 10, table=table).holds


def test_an_unsplit_cell_gives_a_wrong_enclosure_and_the_split_one_is_right():
    """On [0, 1/2] with the kink at 1/3, p = (x − 1/3)³ is f on the right piece only: f − p = −2(x − 1/3)³
    on the left, 2/27 at x = 0. Expanding the right piece's formula over the whole cell misses it."""
    box = ((Fraction(0), Fraction(1, 2)),)
    p = AtomPoly(1)
    p.add(1, Poly.affine([1], Fraction(-1, 3)) ** 3)
    kinked = SobolevTarget.parse("abs(x0-1/3)**3", 1, 3)
    unsplit = SobolevTarget.parse("(x0-1/3)**3", 1, 3)  # the right piece's formula, blind to the kink
    assert len(pieces(kinked.lifted, box)) == 2
    split, blind = sup_error(kinked, [(box, p)], 3), sup_error(unsplit, [(box, p)], 3)
    exact = Fraction(2, 27)
    assert blind.upper < exact  # wrong: below |f − p| at x = 0
    assert split.lower <= exact <= split.upper


def _sampled_sup(target: SobolevTarget, approximant: Approximant, points: int = 4001) -> float:
    axes = np.meshgrid(*[np.linspace(0, 1, points if target.d == 1 else 161)] * target.d, indexing="ij")
    X = np.stack([a.ravel() for a in axes], axis=1)
    return float(np.max(np.abs(target.numpy()(*X.T) - approximant.values_float(X))))


@settings(max_examples=6, deadline=None)
@given(c=st.fractions(min_value=Fraction(1, 20), max_value=Fraction(19, 20), max_denominator=40), N=st.integers(2, 6))
def test_any_1d_kink_certifies_and_encloses_the_sampled_error(c, N):
    text = f"abs(x0-{c})**(5/2) + x0**2"
    cert = T3.certify_case(text, 1, 2, N)
    assert cert.holds, cert.details
    upper = float(Fraction(cert.measured_error.strip("[]").split(", ")[1]))
    target = SobolevTarget.parse(text, 1, 2)
    assert _sampled_sup(target, Approximant(target, N)) <= upper * (1 + 1e-9)


@settings(max_examples=4, deadline=None)
@given(
    a=st.sampled_from([(1, -1), (2, 1), (1, 3), (-3, 2)]),
    b=st.fractions(min_value=Fraction(-1, 2), max_value=Fraction(1, 2), max_denominator=8),
)
def test_any_2d_affine_kink_certifies_and_encloses_the_sampled_error(a, b):
    centre = Fraction(a[0] + a[1], 2)  # u(1/2, 1/2) = b: the kink crosses the cube's middle region
    text = f"abs(({a[0]})*x0 + ({a[1]})*x1 - ({centre}) + ({b}))**(5/2)"
    cert = T3.certify_case(text, 2, 2, 2)
    assert cert.holds, cert.details
    upper = float(Fraction(cert.measured_error.strip("[]").split(", ")[1]))
    target = SobolevTarget.parse(text, 2, 2)
    assert _sampled_sup(target, Approximant(target, 2)) <= upper * (1 + 1e-9)


# ---------------------------------------------------------------- the ReLU twin, certified in 1-D


def _spiked(net: Network, at: Fraction, width: Fraction, height: Fraction) -> Network:
    """net + a ReLU hat of ``height`` and half-width ``width`` centred at ``at`` (same depth)."""
    hat = Network(
        [
            Affine(1, ({0: Fraction(1)},) * 3, (-(at - width), -at, -(at + width))),
            Affine(3, ({0: height / width, 1: -2 * height / width, 2: height / width},), (Fraction(0),)),
        ],
        [[relu()] * 3],
    )
    both = parallel(net, extend_depth(hat, net.depth))
    return compose(Network([Affine(2, ({0: Fraction(1), 1: Fraction(1)},), (Fraction(0),))], []), both)


def test_the_certified_twin_error_catches_a_spike_that_the_grid_misses():
    target = SobolevTarget.parse("sin(pi*x0)", 1, 2)
    approximant = Approximant(target, 4)
    twin = T3.build(target, 4, "relu", squaring_depth=4).network
    clean = twin_error(twin, approximant)
    assert clean.upper <= clean.lower * Fraction(101, 100)  # tight: upper/lower ≤ 1.01
    grid = T3.breakpoint_grid(approximant.partition, 400)
    gap = min(b - a for a, b in zip(sorted({x[0] for x in grid}), sorted({x[0] for x in grid})[1:], strict=False))
    at = grid[7][0] + gap / 2  # midway between two grid points: the sample never sees it
    spike = _spiked(twin, at, gap / 8, Fraction(1, 2))
    sampled = max(abs(T3.value_mp(spike, x) - approximant.value_mp(x)) for x in grid)
    certified = twin_error(spike, approximant)
    assert float(sampled) <= float(clean.lower) and float(certified.lower) > float(clean.upper) + 0.4
    assert certified.lower <= Fraction(1, 2) + clean.upper and certified.upper >= Fraction(1, 2) - clean.upper
    assert T3.certify_relu_twin("sin(pi*x0)", 1, 2, 4).holds
    assert not T3.certify_relu_twin(
        "sin(pi*x0)", 1, 2, 4, mutate=lambda n: _spiked(n, at, gap / 8, Fraction(1, 2))
    ).holds


def test_the_twin_error_moves_with_the_readout():
    target = SobolevTarget.parse(KINK, 1, 2)
    approximant = Approximant(target, 4)
    twin = T3.build(target, 4, "relu", squaring_depth=4).network
    base = twin_error(twin, approximant)
    last = twin.affines[-1]
    scaled = ({j: w * Fraction(11, 10) for j, w in last.rows[0].items()},)
    moved = twin_error(twin.with_affine(len(twin.affines) - 1, Affine(last.in_dim, scaled, last.bias)), approximant)
    assert moved.lower > base.upper  # f̃ grows by a tenth of sup|f̃| ≈ 0.6: far more than its error
