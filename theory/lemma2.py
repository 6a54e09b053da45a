"""Lemma 2 (docs/theory.md §4): a ReLU network of size O(ln(1/ε)) approximates PolyReLU_a on [−1, 1] within ε.

The paper states O(ln²(1/ε)) and hides the dependence on r and ‖a‖ [review]. The lab's precise version,
for the construction ``theory.yarotsky.polyrelu_network(a, m)`` (Horner on t = clip(x, 0, 1) with
Yarotsky products of squaring depth m):

    sup_{x∈[−1,1]} |net_m(x) − PolyReLU_a(x)| ≤ E(a, m) = Σ_{k<n−1} 4·M_k²·4^{−(m+1)} ≤ (n−1)·M̄²·4^{−m},

with n = deg a, M_k = max(1, Σ_{j>k}|a_j| + E_{k+1}) rounded up to 1/16, so M_k ≤ M̄ := ⌈16(‖a‖₁ + 1)⌉/16
whenever E < 1 (true once E(a, m) < ε < 1, as E_{k+1} ≤ E_0), and the network has
neurons(m) = 2 + (n−1)(13m + 7) for n ≥ 2 (one clip layer of 2 units, then n−1 Horner steps, each
a product network of 12m + 6 units and m + 1 carry units). Choosing m = ⌈log_4((n−1)M̄²/ε)⌉ gives
**neurons ≤ c0 + c1·ln(1/ε)** with c1 = 13(n−1)/ln 4: O(r·ln(r‖a‖/ε)), linear in ln(1/ε), which is
stronger than the paper's ln². Degrees n ≤ 1 are exact with 2 neurons.

Certified errors (``certified_error``):
- ``exact``: the network is propagated into an exact PL function (``theory.pl.propagation``) and its
  sup error against PolyReLU_a is computed on [−1, 0] (the constant a_0) and [0, 1] (the polynomial):
  exact for deg a ≤ 2, otherwise a certified rational enclosure (``theory.pl.piecewise_linear``).
- ``bound``: the composed bound E(a, m) above, in exact rationals. Its ingredient, 0 ≤ f_m − x² ≤
  4^{−(m+1)}, is certified exactly on the network for m ≤ ``EXACT_SQUARE_MAX_M``; beyond that it is
  Yarotsky's theorem applied to the same code path.

``smallest(a, ε)`` returns the smallest m whose certified error is < ε: the smallest m with E(a, m) < ε,
then lowered while the exact error (affordable for m ≤ ``exact_max_m``) stays < ε.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from theory import yarotsky as Y
from theory.activation import polyrelu
from theory.certificate import Certificate, Check, certify
from theory.network import Sizes, same_network
from theory.pl.piecewise_linear import SupError, as_fraction, sup_error, trim
from theory.pl.propagation import network_to_pl

Q = Fraction
EXACT_SQUARE_MAX_M = 10  # f_m has 2^m pieces: exact certification up to m = 10 takes < 1 s
EXACT_MAX_M = 7  # the whole approximant's exact PL propagation stays below ~1 s per network up to here
EPSILONS = tuple(Q(1, 10**k) for k in range(1, 13))
ORDERS = (1, 2, 3, 4)


def paper_coefficients(r: int) -> tuple[Fraction, ...]:
    """The paper's initialisation a_0 = 0, a_i = 1/r (docs/theory.md §1)."""
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise ValueError(f"the order r must be an integer >= 1, got {r!r}")
    return (Q(0), *([Q(1, r)] * r))


def check_eps(eps: object) -> Fraction:
    e = as_fraction(eps)
    if not 0 < e < 1:
        raise ValueError(f"eps must lie in (0, 1), got {eps!r}")
    return e


def degree(a: Sequence[object]) -> int:
    return len(trim(a)) - 1


def neurons_formula(a: Sequence[object], m: int) -> int:
    """The construction's neuron count (module docstring); checked against ``Network.sizes``."""
    n = degree(a)
    return 2 if n <= 1 else 2 + (n - 1) * (13 * m + 7)


def exact_error(a: Sequence[object], m: int, hat: tuple = Y.HAT) -> SupError:
    """sup_{[−1,1]} |net_m − PolyReLU_a| from the exact PL function of the network."""
    return network_error(Y.polyrelu_network(trim(a), m, hat), a)


def network_error(net, a: Sequence[object]) -> SupError:
    """sup_{[−1,1]} |net − PolyReLU_a| for a given ReLU network of one input, from its exact PL function."""
    a = trim(a)
    (f,) = network_to_pl(net, -1, 1)
    left = sup_error(f, [a[0]], -1, 0)
    right = sup_error(f, a, 0, 1)
    return max(left, right, key=lambda e: e.upper)


def construction_value(a: Sequence[object], m: int, x: Fraction) -> Fraction:
    """The construction's value at x from its formulas alone, no network (docs/theory.md §4): t = clip(x, 0, 1),
    Horner p(t) whose products are Π(u, v) = 2M²[f_m(|u+v|/2M) − f_m(|u|/2M) − f_m(|v|/2M)] with
    f_m(u) = u − Σ_{s≤m} g_s(u)/4^s, g the hat, M the product bounds of the Horner plan. An independent
    path to compare a built network with."""
    a = trim(a)
    plan = Y.horner_plan(a, m)
    t = min(max(Fraction(x), Fraction(0)), Fraction(1))
    n = len(a) - 1
    if n <= 1:
        return a[0] + (a[1] * t if n == 1 else 0)

    zero = Fraction(0)

    def hat(u: Fraction) -> Fraction:
        return 2 * max(u, zero) - 4 * max(u - Fraction(1, 2), zero) + 2 * max(u - 1, zero)

    def square(u: Fraction) -> Fraction:
        out, g = u, u
        for s in range(1, m + 1):
            g = hat(g)
            out -= g / 4**s
        return out

    def product(u: Fraction, v: Fraction, M: Fraction) -> Fraction:
        return 2 * M * M * (square(abs(u + v) / (2 * M)) - square(abs(u) / (2 * M)) - square(abs(v) / (2 * M)))

    v = a[n] * t + a[n - 1]
    for k in range(n - 2, -1, -1):
        v = a[k] + product(t, v, plan.M[k])
    return v


#: exact points of [−1, 1] where a built network must equal the construction's formulas
FORMULA_POINTS = tuple(Fraction(k, 16) for k in range(-16, 17)) + (Fraction(1, 3), Fraction(5, 7), Fraction(97, 101))


def matches_formula(net, a: Sequence[object], m: int) -> bool:
    """``net`` computes the construction of squaring depth m at every FORMULA_POINTS point, exactly."""
    return all(net([x])[0] == construction_value(a, m, x) for x in FORMULA_POINTS)


@lru_cache(maxsize=64)
def square_interval(m: int, hat: tuple = Y.HAT) -> tuple[Fraction, Fraction]:
    """[min, max] of f_m − x² on [0, 1]: exact from the network for m ≤ EXACT_SQUARE_MAX_M, else the theorem."""
    if m > EXACT_SQUARE_MAX_M:
        return Y.square_error(m)
    (f,) = network_to_pl(Y.square_network(m, hat), 0, 1)
    return -sup_error(f, [0, 0, 1], sign=-1).upper, sup_error(f, [0, 0, 1], sign=1).upper


@dataclass(frozen=True)
class Lemma2Result:
    """The smallest network of the construction with certified error < eps."""

    a: tuple[Fraction, ...]
    eps: Fraction
    m: int
    error: Fraction  # the certified error (an upper bound; exact when ``exact``)
    method: str  # "exact", "enclosure" or "bound"
    bound: Fraction  # the composed bound E(a, m)
    sizes: Sizes

    def row(self) -> dict:
        return {
            "r": degree(self.a),
            "a": [str(c) for c in self.a],
            "eps": f"{float(self.eps):.0e}",
            "m": self.m,
            "certified_error": float(self.error),
            "method": self.method,
            "composed_bound": float(self.bound),
            **self.sizes.as_dict(),
        }


def smallest(a: Sequence[object], eps: object, exact_max_m: int = EXACT_MAX_M) -> Lemma2Result:
    """The smallest squaring depth m whose network has certified sup error < eps on [−1, 1]."""
    a, eps = trim(a), check_eps(eps)
    if degree(a) <= 1:  # a_0 + a_1 ReLU(x) is a ReLU network: exact
        m, err, method, bound = 0, Q(0), "exact", Q(0)
    else:
        m = 0
        while Y.polyrelu_bound(a, m, square_interval(m)) >= eps:
            m += 1
        bound = Y.polyrelu_bound(a, m, square_interval(m))
        err, method = bound, "bound"
        while 0 < m <= exact_max_m + 1:  # lower m while the exact error still certifies < eps
            candidate = exact_error(a, m - 1)
            if candidate.upper >= eps:
                break
            m, err, bound = m - 1, candidate.upper, Y.polyrelu_bound(a, m - 1, square_interval(m - 1))
            method = "exact" if candidate.exact else "enclosure"
        if method == "bound" and m <= exact_max_m:  # report the exact error where it is affordable
            final = exact_error(a, m)
            err, method = final.upper, "exact" if final.exact else "enclosure"
    net = Y.polyrelu_network(a, m)
    return Lemma2Result(a, eps, m, err, method, bound, net.sizes())


def size_table(orders: Sequence[int] = ORDERS, epsilons: Sequence[Fraction] = EPSILONS, exact_max_m: int = -1):
    """Rows of ``smallest(paper_coefficients(r), ε)``; by default the composed bound only (fast)."""
    return [smallest(paper_coefficients(r), e, exact_max_m) for r in orders for e in epsilons]


def least_squares(xs: Sequence[float], ys: Sequence[float], degree: int = 1) -> tuple[list[float], float]:
    """Coefficients c (ascending) of the polynomial fit y ≈ Σ c_k x^k, and the max |residual|."""
    c = [float(v) for v in np.polynomial.polynomial.polyfit(xs, ys, degree)]  # a float fit, for the size table
    res = max(abs(y - sum(ck * x**k for k, ck in enumerate(c))) for x, y in zip(xs, ys, strict=True))
    return c, res


def fit_sizes(results: Sequence[Lemma2Result]) -> dict:
    """Per order: neurons ≈ c0 + c1 ln(1/ε), the quadratic coefficient of a ln² fit, and the paper's ln² form."""
    out = {}
    for r in sorted({degree(res.a) for res in results}):
        rows = [res for res in results if degree(res.a) == r]
        xs = [math.log(1 / float(res.eps)) for res in rows]
        ys = [float(res.sizes.neurons) for res in rows]
        lin, lin_res = least_squares(xs, ys, 1)
        quad, _ = least_squares(xs, ys, 2)
        paper, paper_res = least_squares([x * x for x in xs], ys, 1)  # size ≈ d0 + d2 ln²(1/ε)
        out[r] = {
            "linear": {"c0": lin[0], "c1": lin[1], "max_residual": lin_res},
            "quadratic_coefficient": quad[2],
            "paper_ln2": {"d0": paper[0], "d2": paper[1], "max_residual": paper_res},
        }
    return out


def rate_bound(a: Sequence[object], eps: Fraction) -> tuple[int, float]:
    """m̄ = ⌈log_4((n−1)M̄²/ε)⌉ and the explicit linear bound neurons ≤ 2 + (n−1)(13 m̄ + 7)."""
    a = trim(a)
    n = len(a) - 1
    Mbar = Q(-((-(sum((abs(c) for c in a), Q(0)) + 1) * 16) // 1), 16)  # ⌈16(‖a‖₁ + 1)⌉/16
    target = (n - 1) * Mbar * Mbar / eps
    m = 0
    while 4**m < target:
        m += 1
    return m, 2 + (n - 1) * (13 * m + 7)


# --------------------------------------------------------------------------- certificates


def certify_square(max_m: int = EXACT_SQUARE_MAX_M, hat: tuple = Y.HAT) -> Certificate:
    def check():
        bad = []
        for m in range(1, max_m + 1):
            (f,) = network_to_pl(Y.square_network(m, hat), 0, 1)
            above = sup_error(f, [0, 0, 1], sign=1)
            below = sup_error(f, [0, 0, 1], sign=-1)
            if not (above.exact and above.value == Q(1, 4 ** (m + 1)) and below.value == 0 and f.pieces == 2**m):
                bad.append(f"m={m}: max {above.value}, min {-below.value}, pieces {f.pieces}")
        last = Q(1, 4 ** (max_m + 1)) if not bad else "see details"
        return Check(holds=not bad, measured_error=last, details="; ".join(bad) or "exact 4^-(m+1) for every m")

    return certify(
        "yarotsky-square",
        "For m = 1..10 the network f_m satisfies 0 ≤ f_m(x) − x² ≤ 4^{−(m+1)} on [0,1] with equality of the max "
        "(exact), and has exactly 2^m linear pieces.",
        "exact PL propagation of the network + exact sup error (rational critical points)",
        check,
        params={"m": f"1..{max_m}"},
        sizes=Y.square_network(max_m).sizes().as_dict(),
        error_bound=Q(1, 4 ** (max_m + 1)),
    )


def certify_product(m: int = 4, M: object = Q(3, 2), grid: int = 41, hat: tuple = Y.HAT) -> Certificate:
    M = as_fraction(M)
    net = Y.product_network(m, M, hat)

    def check():
        square = square_interval(m, hat)
        bound = Y.product_bound(M, square)
        pts = [-M + 2 * M * Q(k, grid - 1) for k in range(grid)]
        measured = max(abs(net([x, y])[0] - x * y) for x in pts for y in pts)
        built = same_network(net, Y.product_from(Y.square_network(m, hat), M))  # the network the bound is about
        ok = square == Y.square_error(m) and bound == M * M / 4**m and measured <= bound and built
        return Check(
            holds=ok,
            measured_error=measured,
            details=f"{'' if built else 'NOT the product of the certified squarer; '}"
            f"squaring error in [{square[0]}, {square[1]}]; composed bound {bound}; grid max {measured}",
        )

    return certify(
        f"product-m{m}",
        f"For |x|,|y| ≤ M the product network Π_m satisfies |Π_m(x,y) − xy| ≤ M²·4^(−m): Π_m is exactly the "
        f"product network around the certified squarer f_m, so the bound composes from f_m's exact squaring "
        f"interval [0, 4^(−(m+1))]; then checked at {grid}×{grid} exact grid points.",
        "composed bound (exact squaring errors) + exact evaluation on a dense grid",
        check,
        params={"m": m, "M": str(M), "grid": f"{grid}x{grid}"},
        sizes=net.sizes().as_dict(),
        error_bound=M * M / 4**m,
    )


def certify_smallest(a: Sequence[object], eps: object, hat: tuple = Y.HAT) -> Certificate:
    a, eps = trim(a), check_eps(eps)
    res = smallest(a, eps)

    def check():
        net = Y.polyrelu_network(a, res.m, hat)
        exact = network_error(net, a)
        prev = exact_error(a, res.m - 1, hat) if res.m > 0 else None
        built = hat != Y.HAT or matches_formula(net, a, res.m)  # the formulas know Yarotsky's hat only
        ok = (
            built
            and exact.upper < eps
            and exact.upper <= res.bound
            and (prev is None or prev.lower >= eps)
            and net.sizes().neurons == neurons_formula(a, res.m)
        )
        kind = "exact" if exact.exact else f"enclosure ±{float(exact.upper - exact.lower):.1e}"
        return Check(
            holds=ok,
            measured_error=exact.upper,
            details=f"{'' if built else 'NOT the Horner/Yarotsky construction at exact points; '}"
            f"m={res.m}: sup error {float(exact.upper):.6e} ({kind}) {'<' if exact.upper < eps else '>='} "
            f"eps; composed bound {float(res.bound):.6e}; m−1 gives {float(prev.lower) if prev else 'n/a'}"
            f"{'' if prev is None else (' >= eps' if prev.lower >= eps else ' < eps')}",
        )

    return certify(
        f"lemma2-r{degree(a)}-eps{float(eps):.0e}",
        "The smallest network of the Horner/Yarotsky construction with sup_{[−1,1]} |net − PolyReLU_a| < ε: "
        "its exact error is < ε and below the composed bound, and one squaring level less is ≥ ε.",
        "exact PL propagation of the network, exact sup error vs PolyReLU_a on [−1,0] and [0,1]",
        check,
        params={"a": [str(c) for c in a], "eps": str(eps), "m": res.m},
        sizes=res.sizes.as_dict(),
        error_bound=res.bound,
    )


RATE_EXACT_MAX_M = 6  # rows up to this squaring depth get the exact PL sup error; deeper ones, the composed bound


def squaring_depth_of(net, a: Sequence[object]) -> int | None:
    """The squaring depth m whose construction has ``net``'s neuron count (neurons_formula is increasing in m)."""
    neurons = net.sizes().neurons
    return next((m for m in range(0, 64) if neurons_formula(a, m) == neurons), None)


RATE_POINTS = tuple(Q(k, 8) for k in range(-8, 9))


def certify_rate(orders: Sequence[int] = (2, 3, 4), epsilons: Sequence[Fraction] = EPSILONS) -> Certificate:
    def check():
        bad, rows, exact_rows = [], size_table(orders, epsilons), 0
        for res in rows:
            m_bar, linear = rate_bound(res.a, res.eps)
            net = Y.polyrelu_network(res.a, res.m)
            neurons = net.sizes().neurons
            m_net = squaring_depth_of(net, res.a)  # the network's own depth, not the one it was stored with
            where = f"r={degree(res.a)} eps={float(res.eps):.0e} m={res.m}"
            if m_net is None or not matches_formula(net, res.a, m_net):
                bad.append(f"{where}: not the Horner/Yarotsky construction at exact points")
                continue
            if not (m_net <= m_bar and neurons <= linear):
                bad.append(f"{where}: m̄={m_bar}, neurons {neurons} vs {linear}")
            if m_net <= RATE_EXACT_MAX_M:  # the network itself, exactly: its sup error must be < eps
                exact_rows += 1
                err = network_error(net, res.a).upper
                if not err < res.eps:
                    bad.append(f"{where}: exact sup error {float(err):.3e} >= eps")
            else:  # too many pieces for the exact engine: the composed bound, recomputed for this network
                bound = Y.polyrelu_bound(res.a, m_net, square_interval(m_net))
                worst = max(abs(net([x])[0] - polyrelu(res.a)(x)) for x in RATE_POINTS)
                if not (bound < res.eps and worst <= bound):
                    bad.append(f"{where}: composed bound {float(bound):.3e} of its m = {m_net} is not < eps")
        fits = fit_sizes(rows)
        summary = "; ".join(
            f"r={r}: neurons ≈ {f['linear']['c0']:.1f} + {f['linear']['c1']:.2f}·ln(1/ε)" for r, f in fits.items()
        )
        tested = (
            f"{exact_rows} of {len(rows)} networks (m <= {RATE_EXACT_MAX_M}) have exact sup error < eps; for the "
            f"other {len(rows) - exact_rows} the composed bound of the network's own squaring depth is < eps "
            f"({len(RATE_POINTS)} exact points agree with it: a consistency check, not the proof)"
        )
        return Check(holds=not bad, details="; ".join([*bad, tested, summary]))

    return certify(
        "lemma2-rate",
        "For a = paper defaults (r = 2..4) and ε = 1e-1..1e-12 the smallest certified network has "
        "neurons ≤ 2 + (n−1)(13⌈log_4((n−1)M̄²/ε)⌉ + 7) = O(ln(1/ε)), stronger than the paper's O(ln²(1/ε)); "
        f"each network is built and evaluated: exact sup error for m ≤ {RATE_EXACT_MAX_M}, exact points beyond.",
        "composed bound in exact rationals for every row, against the explicit linear bound; the networks "
        "themselves by exact PL propagation (small m) or exact evaluation at points (large m)",
        check,
        params={"orders": list(orders), "eps": "1e-1..1e-12"},
    )


def certificates() -> list[Certificate]:
    return [
        certify_square(),
        certify_product(),
        certify_smallest(paper_coefficients(2), Q(1, 10**3)),
        certify_smallest(paper_coefficients(3), Q(1, 10**3)),
        certify_smallest((Q(1, 2), Q(-1, 3), Q(1, 4), Q(-1, 5), Q(1, 7)), Q(1, 10**2)),
        certify_rate(),
    ]
