"""Theorem 3 (docs/theory.md §5): targets, partition of unity, exact PolyReLU construction, bounds, ReLU twin, CLI."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.cli import main
from theory import theorem3 as T3
from theory.network import Affine, Network
from theory.polynomial import Poly
from theory.sobolev.approximant import Approximant
from theory.sobolev.cellwise import NotPolynomial, network_on_box
from theory.sobolev.partition import Partition, Trapezoid
from theory.sobolev.target import SobolevTarget, parse_target, scale_into_ball
from theory.sobolev.taylor import TaylorTable, TaylorValue

Q = Fraction

# --------------------------------------------------------------------------- targets


@pytest.mark.parametrize(
    ("text", "d", "fragment"),
    [
        ("sin(pi*x0", 1, "malformed"),
        ("x1", 1, "unknown symbol 'x1'"),
        ("z+1", 2, "unknown symbol 'z'"),
        ("foo(x0)", 1, "unknown function 'foo'"),
        ("__import__('os')", 1, "unknown function"),
        ("x0.real", 1, "Attribute"),
        ("[x0]", 1, "List"),
        ("x0 if x0 else 1", 1, "IfExp"),
        ("sin(x0, x0)", 1, "one argument"),
        ("x0**1000", 1, "outside the limit"),
        ("", 1, "non-empty"),
        ("1/0", 1, "division by zero"),
    ],
)
def test_malformed_targets_one_line(text, d, fragment):
    with pytest.raises(ValueError, match=None) as err:
        parse_target(text, d)
    assert fragment in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "n"), [("abs(x0-0.5)", 2), ("sqrt(x0)", 1), ("log(x0)", 1), ("1/(x0-0.25)", 1), ("sin(x0)/x0", 2)]
)
def test_not_differentiable_targets_refused(text, n):
    with pytest.raises(ValueError, match="not certified") as err:
        SobolevTarget.parse(text, 1, n)
    assert "\n" not in str(err.value)


def test_smooth_on_domain_accepted_and_decimals_exact():
    assert parse_target("0.1*x0", 1) == sp.Rational(1, 10) * sp.Symbol("x0", real=True)
    SobolevTarget.parse("x0**(3/2)", 1, 1)  # C^1 on [0,1]
    SobolevTarget.parse("abs(x0+1)*log(2+x1)", 2, 2)  # |·| and log away from their singularities


@pytest.mark.parametrize(
    ("text", "d", "n", "exact"), [("sin(pi*x0)", 1, 2, math.pi**2), ("exp(2*x0)", 1, 3, 8 * math.e**2)]
)
def test_norm_is_a_certified_upper_bound(text, d, n, exact):
    norm = SobolevTarget.parse(text, d, n).norm
    assert exact <= float(norm.upper) <= exact * 1.002
    assert norm.lower <= exact


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-9, 9), min_size=2, max_size=5), st.integers(1, 3))
def test_norm_bounds_random_polynomials(coeffs, n):
    text = "+".join(f"({c})*x0**{i}" for i, c in enumerate(coeffs))
    target = SobolevTarget.parse(text, 1, n)
    xs = np.linspace(0, 1, 401)
    seen = 0.0
    for k in range(n + 1):
        p = np.polynomial.Polynomial(coeffs).deriv(k) if k else np.polynomial.Polynomial(coeffs)
        seen = max(seen, float(np.max(np.abs(p(xs)))))
    assert seen <= float(target.norm.upper) * (1 + 1e-12)


def test_scale_into_ball():
    scaled, s = scale_into_ball(SobolevTarget.parse("3*sin(pi*x0)", 1, 2))
    assert s > 0 and float(scaled.norm.upper) <= 1


# --------------------------------------------------------------------------- partition of unity


@pytest.mark.parametrize(("N", "d"), [(1, 1), (3, 1), (7, 1), (2, 2), (3, 3)])
def test_partition_certificate_holds(N, d):
    cert = Partition(N, d).certify()
    assert cert.holds and cert.max_active <= 2**d and cert.support_radius_times_N == Q(2, 3)


@pytest.mark.parametrize(
    "broken",
    [
        Partition(4, 1, scale=2),
        Partition(4, 1, scale=4),
        Partition(4, 1, Trapezoid(breaks=(Q(-2), Q(-1), Q(1, 2), Q(2)))),
    ],
)
def test_broken_partition_fails(broken):
    assert not broken.certify().holds


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(0, 10**6))
def test_partition_sums_to_one_at_random_points(N, k):
    P = Partition(N, 2)
    x = (Q(k % 997, 997), Q(k % 1009, 1009))
    active = P.active(x)
    assert sum(P.phi(m, x) for m in active) == 1 and len(active) <= 4
    assert all(P.phi(m, x) == 0 for m in P.nodes() if m not in active)


# --------------------------------------------------------------------------- Taylor table and f_N


def test_taylor_values_exact_and_numeric():
    table = TaylorTable(SobolevTarget.parse("sin(pi*x0)", 1, 3), 8)
    c = table.exact((3,), (2,))
    assert isinstance(c, TaylorValue)
    assert sp.simplify(c.doit() - (-(sp.pi**2) * sp.sin(3 * sp.pi / 8) / 2)) == 0
    assert abs(float(sp.N(c, 30)) - float(table.numeric((3,), (2,)))) < 1e-15
    assert table.exact((0,), (0,)) == 0 and table.exact((8,), (0,)) == 0  # sin(0), sin(π) proven 0
    assert TaylorTable(SobolevTarget.parse("x0**2+1", 1, 2), 4).exact((2,), (1,)) == Q(1)  # rational stays rational


def test_bound_holds_and_rate():
    target = SobolevTarget.parse("exp(x0)*sin(3*x0)", 1, 2)
    errs = []
    for N in (2, 4, 8):
        A = Approximant(target, N)
        b = A.certified_bound()
        err = A.sup_error_mp([(Q(i, 600),) for i in range(601)])
        assert err <= b.bound <= b.bound_paper and b.constant_below_paper
        errs.append(err)
    assert 3 < errs[1] / errs[2] < 5  # ≈ 2^n = 4


# --------------------------------------------------------------------------- cellwise exact evaluation


def test_cellwise_square_identity_and_kink_detection():
    # u² = ReLU(u)² + ReLU(−u)²: a polynomial on a box that straddles the kink
    from theory.activation import relu_power

    square = Network(
        [Affine(1, ({0: Q(1)}, {0: Q(-1)}), (Q(-1, 3), Q(1, 3))), Affine(2, ({0: Q(1), 1: Q(1)},), (Q(0),))],
        [relu_power(2)],
    )
    out = network_on_box(square, [(Q(0), Q(1))])[0]
    assert out.parts == {"1": Poly.affine([1], Q(-1, 3)) ** 2}
    half = Network(square.affines[:1] + (Affine(2, ({0: Q(1)},), (Q(0),)),), square.activations)
    with pytest.raises(NotPolynomial):
        network_on_box(half, [(Q(0), Q(1))])
    assert network_on_box(half, [(Q(1, 2), Q(1))])[0].parts == {"1": Poly.affine([1], Q(-1, 3)) ** 2}


# --------------------------------------------------------------------------- the construction


@pytest.mark.parametrize(
    ("text", "d", "n", "N", "form"),
    [
        ("sin(pi*x0)", 1, 1, 5, "per_neuron"),
        ("exp(x0)*cos(3*x0)", 1, 2, 6, "per_neuron"),
        ("1/(1+x0**2)", 1, 3, 3, "per_neuron"),
        ("sin(pi*x0)", 1, 2, 3, "shared"),
        ("x0**2*x1+cos(x0-x1)", 2, 2, 2, "per_neuron"),
    ],
)
def test_network_equals_f_N_on_every_cell(text, d, n, N, form):
    built = T3.build(SobolevTarget.parse(text, d, n), N, form)
    check = T3.check_network(built.network, built.approximant)
    assert check.exact and not check.sampled and check.coefficients is not None and check.coefficients.holds
    assert check.cells_checked == check.cells_total == (len(Partition(N, d).breakpoints_1d()) - 1) ** d
    bound = built.approximant.certified_bound().bound
    assert check.error is not None and 0 < check.error.lower <= check.error.upper <= bound


@settings(max_examples=12, deadline=None)
@given(st.integers(1, 2), st.integers(1, 3), st.integers(1, 5), st.sampled_from(["per_neuron", "shared"]))
def test_sizes_match_closed_form(d, n, N, form):
    built = T3.build(SobolevTarget.parse("exp(x0)" if d == 1 else "exp(x0+x1)", d, n), N, form)
    closed = built.closed_form()
    for key in ("neurons", "depth", "width", "hidden_layers"):
        assert getattr(built.sizes, key) == getattr(closed, key)
    assert closed.depth == math.ceil(math.log2(d + n - 1)) + 2 if d + n > 2 else closed.depth == 2
    assert len(built.terms) == (N + 1) ** d * math.comb(n - 1 + d, d)


def test_shared_form_uses_one_vector_per_layer():
    built = T3.build(SobolevTarget.parse("sin(pi*x0)", 1, 2), 3, "shared")
    assert all(built.network.shared) and {a for layer in built.network.activations for a in layer} == {
        built.network.activations[0][0]
    }


def test_certificates_fail_on_broken_constructions():
    assert T3.certify_case("sin(pi*x0)", 1, 2, 3).holds
    out = len(T3.build(SobolevTarget.parse("sin(pi*x0)", 1, 2), 3).network.affines) - 1
    moved = T3.certify_case("sin(pi*x0)", 1, 2, 3, mutate=lambda net: net.perturbed(out, 0, 3, Q(1, 7)))
    assert not moved.holds and "partner" in moved.details  # one weight of a pair: its kink no longer cancels
    assert not T3.certify_case("sin(pi*x0)", 1, 2, 3, partition=Partition(3, 1, scale=2)).holds
    wrong_psi = Partition(3, 1, Trapezoid(weights=(Q(1), Q(-1), Q(-1), Q(1)), breaks=(Q(-2), Q(-1), Q(1, 2), Q(3, 2))))
    assert not T3.certify_case("sin(pi*x0)", 1, 2, 3, partition=wrong_psi).holds


def test_export_matches_f_N():
    from experiments.constructions.theorem3_rates import evaluate
    from theory.export import to_torch

    built = T3.build(SobolevTarget.parse("sin(pi*x0)*exp(x1)", 2, 2), 3)
    X = np.random.default_rng(0).random((2000, 2))
    y = evaluate(to_torch(built.network), X)
    assert np.max(np.abs(y - built.approximant.values_float(X))) < 1e-12


# --------------------------------------------------------------------------- ReLU twin


def test_relu_twin_bound_and_measurement():
    A = Approximant(SobolevTarget.parse("sin(pi*x0)", 1, 2), 4)
    bounds = [T3.relu_error_bound(A, m) for m in range(2, 8)]
    assert all(a > b for a, b in zip(bounds, bounds[1:], strict=False))
    m = T3.relu_squaring_depth(A)
    assert T3.relu_error_bound(A, m) <= A.certified_bound().bound < T3.relu_error_bound(A, m - 1)
    built = T3.build(A.target, 4, "relu")
    assert built.sizes.neurons == built.closed_form().neurons
    worst = max(abs(T3.value_mp(built.network, (Q(i, 97),)) - A.value_mp((Q(i, 97),))) for i in range(98))
    assert worst <= mpmath.mpf(float(T3.relu_error_bound(A, m)))


# --------------------------------------------------------------------------- CLI


def test_construct_theorem3_cli(tmp_path, capsys):
    out, fig = tmp_path / "t3.json", tmp_path / "t3.png"
    rc = main(
        [
            "construct",
            "theorem3",
            "--target",
            "sin(pi*x0)",
            "--n",
            "2",
            "--N",
            "1,2,4,8",
            "--hp-points",
            "200",
            "--float-points",
            "2000",
            "--json",
            str(out),
            "--plot",
            str(fig),
        ]
    )
    assert rc == 0 and fig.stat().st_size > 1000
    data = json.loads(out.read_text())
    assert data["provenance"]["git_commit"] and data["result"]["theory_slope"] == -2
    rows = data["result"]["rows"]
    assert all(r["polyrelu"]["holds"] and r["polyrelu"]["error"] <= r["bound"] for r in rows)
    assert all(r["polyrelu"]["certified"]["lower_float"] <= r["polyrelu"]["certified"]["upper_float"] for r in rows)
    assert all(r["relu"]["built"] and r["relu"]["error"] <= r["relu"]["bound_total"] for r in rows)
    printed = capsys.readouterr().out
    assert "every cell checked exactly" in printed and ": hold" in printed and "sampled" not in printed


def test_construct_theorem3_sampled_cells_never_say_hold(capsys):
    rc = main(
        ["construct", "theorem3", "--N", "4", "--no-relu", "--cells", "3", "--hp-points", "50", "--float-points", "200"]
    )
    printed = capsys.readouterr().out
    assert rc == 0 and "sampled 3 of 9 cells" in printed and "not proven: cells were sampled" in printed


def test_construct_theorem3_shared_form(tmp_path):
    out = tmp_path / "t3s.json"
    rc = main(
        [
            "construct",
            "theorem3",
            "--form",
            "shared",
            "--no-relu",
            "--N",
            "2,4",
            "--hp-points",
            "100",
            "--float-points",
            "500",
            "--json",
            str(out),
        ]
    )
    rows = json.loads(out.read_text())["result"]["rows"]
    assert rc == 0 and all(r["polyrelu"]["closed_form_matches"] and r["polyrelu"]["export_vs_fN"] < 1e-12 for r in rows)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--target", "sin(pi*x0"], "malformed"),
        (["--target", "abs(x0-0.5)"], "not certified"),
        (["--target", "x0+z"], "unknown symbol"),
        (["--N", "0,2"], "--N"),
        (["--n", "0"], "smoothness order"),
    ],
)
def test_construct_theorem3_user_errors(args, fragment, capsys):
    assert main(["construct", "theorem3", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and len(err.splitlines()) == 1
