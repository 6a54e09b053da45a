"""The mutation suite: every certificate group must fail on constructions broken on purpose.

Each group gets the same kinds (``theory.mutants``): a weight or bias moved by 1/1000, an activation
coefficient moved by 1/1000, a dropped unit, an output weight scaled by 1 + 1/1000; Theorem 3 also gets
a moved Taylor coefficient (in the network alone, and in the network and f_N together), two
partition functions swapped, and Theorem 1 a coefficient of a unit that never fires on [−1, 1]^d.
Mutants are placed on units that fire somewhere on the certificate's domain, so each one changes the
function there. The mutants that do *not* change the function on the domain are listed in
``EQUIVALENT`` with the reason, and the suite checks what the certificate says about them.
"""

from __future__ import annotations

import itertools
import random
from fractions import Fraction as Q

import pytest

from theory import lemma1, lemma2, theorem1, theorem2, theorem3
from theory import mutants as M
from theory import yarotsky as Y
from theory.sobolev.approximant import Approximant
from theory.sobolev.target import SobolevTarget
from theory.sobolev.taylor import TaylorTable

SEEDS = (0, 1)
KINDS = M.KINDS

#: equivalent mutants: (where, what, why); each is exercised below
EQUIVALENT = (
    ("theorem3", "weights of a first-layer unit ReLU(−x_k)", "it is 0 on [0,1]^d, the statement's domain: holds"),
    (
        "theorem3",
        "dropping ReLU(−s)² where s = ψ_a + ψ_b",
        "s ≥ 0 on the cube, so the function is unchanged; the "
        "pairing proof needs the partner, so the certificate says not proven rather than equal",
    ),
    ("theorem2-piece-count", "any network", "the statement is about every network: a mutant is one more instance"),
    ("lemma2", "the clip unit ReLU(x − 1)", "never active on [−1, 1]: ``mutate`` places no mutant there"),
)


def _cube(d: int, k: int = 4) -> list[list[Q]]:
    return [list(p) for p in itertools.product([Q(i, k) for i in range(k + 1)], repeat=d)]


# --------------------------------------------------------------------------- Theorem 3

T3_CASES = (("sin(pi*x0)", 1, 2, 4), ("sin(pi*x0)*exp(x1)", 2, 2, 2))


class ShiftedTable(TaylorTable):
    """One Taylor coefficient moved by 1/1000."""

    def __init__(self, target, N, key):
        super().__init__(target, N)
        self.key = key

    def exact(self, m, alpha):
        c = super().exact(m, alpha)
        return c + Q(1, 1000) if (m, alpha) == self.key else c


@pytest.mark.parametrize("case", T3_CASES)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", SEEDS)
def test_theorem3_fails_on_every_network_mutant(case, kind, seed):
    text, d, n, N = case
    cert = theorem3.certify_case(text, d, n, N, mutate=lambda net: M.mutate(net, kind, seed, _cube(d)))
    assert not cert.holds, cert.details


@pytest.mark.parametrize("case", T3_CASES)
def test_theorem3_fails_on_swapped_partition_functions(case):
    text, d, n, N = case

    def swap(net):  # the hats of nodes m = 1 and m = 2 on axis 0: first-layer rows 4..7 and 8..11
        for i in range(4):
            net = M.swap_units(net, 0, 4 + i, 8 + i)
        return net

    cert = theorem3.certify_case(text, d, n, N, mutate=swap)
    assert not cert.holds and "differ" in cert.details


@pytest.mark.parametrize("case", T3_CASES)
def test_theorem3_fails_on_a_moved_taylor_coefficient(case):
    text, d, n, N = case
    target = SobolevTarget.parse(text, d, n)
    key = ((1,) * d, (0,) * d)
    alone = theorem3.certify_case(text, d, n, N, table=ShiftedTable(target, N, key))
    assert not alone.holds and "differ" in alone.details
    # moved in the network *and* in f_N: the cells agree, the independent jets do not
    table = ShiftedTable(target, N, key)
    net = theorem3.build(target, N, table=table).network
    check = theorem3.check_network(net, Approximant(target, N, table=table))
    assert check.exact and check.coefficients is not None and not check.coefficients.holds
    assert check.coefficients.examples == (key,)


def test_theorem3_equivalent_mutants():
    text, d, n, N = T3_CASES[1]
    net = theorem3.build(SobolevTarget.parse(text, d, n), N).network
    first = net.affines[0]
    negx = next(i for i, row in enumerate(first.rows) if row == {0: Q(-1)} and first.bias[i] == 0)  # ReLU(−x_0)
    readers = [i for i, row in enumerate(net.affines[1].rows) if negx in row]
    assert readers
    moved = theorem3.certify_case(text, d, n, N, mutate=lambda nt: M.shift_weight(nt, 1, readers[0], negx))
    assert moved.holds, moved.details  # equal to f_N on [0,1]^d: the statement still holds
    # the ReLU(−s)² partner of the first product (units 0..3 of layer 2 are s, −s, t, −t)
    dropped = theorem3.certify_case(text, d, n, N, mutate=lambda nt: M.drop_unit(nt, 1, 1))
    assert not dropped.holds and "partner" in dropped.details


# --------------------------------------------------------------------------- Lemma 1 and Theorem 1


@pytest.mark.parametrize("kind", KINDS)
def test_lemma1_fails_on_every_mutant(monkeypatch, kind):
    original = lemma1.expansion_network
    monkeypatch.setattr(lemma1, "expansion_network", lambda e: M.mutate(original(e), kind, 0))
    certs = [c for c in lemma1.certificates() if "single-neuron" not in c.name]
    assert certs and not any(c.holds for c in certs), [c.name for c in certs if c.holds]


def _mutated_conversions(monkeypatch, change):
    original = theorem1.to_polyrelu

    def converted(net, r=3, shared=None, **kw):
        c = original(net, r, shared, **kw)
        return theorem1.Conversion(c.source, change(c.target), c.factor, c.r)

    monkeypatch.setattr(theorem1, "to_polyrelu", converted)
    return theorem1.certificates()


@pytest.mark.parametrize("kind", KINDS)
def test_theorem1_fails_on_every_mutant(monkeypatch, kind):
    certs = _mutated_conversions(monkeypatch, lambda net: M.mutate(net, kind, 0))
    assert not any(c.holds for c in certs), [c.name for c in certs if c.holds]


def test_theorem1_fails_when_a_unit_dead_on_the_cube_changes(monkeypatch):
    """Units that never fire on [−1, 1]^d still matter on R^d, the statement's domain."""
    changed = []

    def dead_on_cube(net):
        live = M._live_units(net, [[Q(2 * v - 1) for v in p] for p in _cube(net.in_dim, 2)])
        every = M._live_units(net, None)
        for l, (lv, ev) in enumerate(zip(live, every, strict=True)):
            for u in sorted(set(ev) - set(lv)):
                changed.append((l, u))
                return M.shift_activation(net, l, u, Q(1))
        return M.mutate(net, "activation", 0)

    certs = _mutated_conversions(monkeypatch, dead_on_cube)
    assert changed and not any(c.holds for c in certs)


# --------------------------------------------------------------------------- Lemma 2


LEMMA2_BUILDERS = {
    # builder -> (domain points, the certificates that must fail)
    "square_network": ([[Q(i, 16)] for i in range(17)], lambda: [lemma2.certify_square(max_m=4)]),
    "product_network": (
        [[Q(i, 4), Q(j, 4)] for i in range(-6, 7) for j in range(-6, 7)],
        lambda: [lemma2.certify_product(m=3, grid=9)],
    ),
    "polyrelu_network": (
        [[Q(i, 16)] for i in range(-16, 17)],
        lambda: [
            lemma2.certify_smallest(lemma2.paper_coefficients(2), Q(1, 100)),
            lemma2.certify_rate(orders=(2,), epsilons=lemma2.EPSILONS[:8]),
        ],
    ),
}


@pytest.mark.parametrize("builder", sorted(LEMMA2_BUILDERS))
@pytest.mark.parametrize("kind", KINDS)
def test_lemma2_fails_on_every_mutant(monkeypatch, builder, kind):
    points, certificates = LEMMA2_BUILDERS[builder]
    original = getattr(Y, builder)
    monkeypatch.setattr(Y, builder, lambda *a, **k: M.mutate(original(*a, **k), kind, 0, points))
    lemma2.square_interval.cache_clear()
    try:
        certs = certificates()
    finally:
        lemma2.square_interval.cache_clear()
    assert not any(c.holds for c in certs), [(c.name, c.details) for c in certs if c.holds]


# --------------------------------------------------------------------------- Theorem 2


@pytest.mark.parametrize("kind", KINDS)
def test_theorem2_upper_fails_on_every_mutant(monkeypatch, kind):
    original = theorem2.relu_approximation

    def mutated(*a, **k):
        res = original(*a, **k)
        res.relu = M.mutate(res.relu, kind, 0, [[Q(i, 4)] * res.relu.in_dim for i in range(-4, 5)])
        return res

    monkeypatch.setattr(theorem2, "relu_approximation", mutated)
    certs = [theorem2.certify_upper(1, 2, 3, Q(1, 10**3), grid=9), theorem2.certify_upper_exact()]
    assert not any(c.holds for c in certs)


@pytest.mark.parametrize("kind", KINDS)
def test_theorem2_lower_bound_fails_on_a_mutated_construction(monkeypatch, kind):
    original = Y.square_network
    points = [[Q(i, 16)] for i in range(17)]
    monkeypatch.setattr(Y, "square_network", lambda *a, **k: M.mutate(original(*a, **k), kind, 0, points))
    lemma2.square_interval.cache_clear()
    try:
        assert not theorem2.certify_corrected_lower_bound(max_exact_m=4).holds
    finally:
        lemma2.square_interval.cache_clear()


def test_unmutated_groups_hold():
    """The suite's baseline: with nothing broken, the same calls hold."""
    assert all(theorem3.certify_case(*c).holds for c in T3_CASES)
    assert lemma2.certify_square(max_m=4).holds and lemma2.certify_product(m=3, grid=9).holds
    assert lemma2.certify_rate(orders=(2,), epsilons=lemma2.EPSILONS[:8]).holds
    assert theorem2.certify_corrected_lower_bound(max_exact_m=4).holds
    assert all(c.holds for c in theorem1.certificates())


# --------------------------------------------------------------------------- a fresh audit (slow)


def _sample(d: int, seed: int, n: int = 400) -> list[list[Q]]:
    """Points of R^d at scales 1..2^12, drawn apart from any certificate's own: where a mutant is placed."""
    rng = random.Random(1000 + seed)
    return [[Q(rng.randint(-1000, 1000) * 2 ** (k % 13), 1000) for _ in range(d)] for k in range(n)]


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 12))
def test_fresh_audit_no_mutant_survives(monkeypatch, seed):
    """The same kinds at ten more seeds per group: the suite above is its fast twin."""
    survivors = []
    for case in T3_CASES:
        for kind in KINDS:
            cert = theorem3.certify_case(*case, mutate=lambda net, k=kind, d=case[1]: M.mutate(net, k, seed, _cube(d)))
            survivors += [(case, kind)] if cert.holds else []
    original = theorem1.to_polyrelu
    for kind in KINDS:

        def converted(net, r=3, shared=None, k=kind, **kw):
            c = original(net, r, shared, **kw)
            return theorem1.Conversion(c.source, M.mutate(c.target, k, seed, _sample(net.in_dim, seed)), c.factor, c.r)

        monkeypatch.setattr(theorem1, "to_polyrelu", converted)
        survivors += [("theorem1", kind, c.name) for c in theorem1.certificates() if c.holds]
    monkeypatch.setattr(theorem1, "to_polyrelu", original)
    build = lemma1.expansion_network
    for kind in KINDS:
        monkeypatch.setattr(lemma1, "expansion_network", lambda e, k=kind: M.mutate(build(e), k, seed))
        survivors += [("lemma1", kind, c.name) for c in lemma1.certificates() if c.holds and "single" not in c.name]
    assert not survivors, survivors
