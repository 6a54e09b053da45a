"""Certificates that check what they are handed: an enclosure, a unit's error, a stored m or bound.

Each mutant below changes a number that a certificate used to take on trust from the code upstream
of it; the certificate must now recompute it and fail.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction as Q

import pytest

from theory import lemma2, theorem2, theorem3
from theory import yarotsky as Y


@pytest.mark.parametrize(
    "mutation",
    [
        lambda e: dataclasses.replace(e, lower=Q(0), upper=Q(0), cells=0),  # an empty enclosure
        lambda e: dataclasses.replace(e, lower=e.upper, upper=e.lower),  # ends swapped
        lambda e: dataclasses.replace(e, lower=min(e.lower, e.upper / 3), upper=e.upper / 3),  # too small
    ],
    ids=["empty", "swapped", "too-small"],
)
def test_theorem3_checks_its_own_error_enclosure(mutation):
    assert theorem3.certify_case("sin(pi*x0)", 1, 2, 4).holds
    broken = theorem3.certify_case("sin(pi*x0)", 1, 2, 4, mutate_error=mutation)
    assert not broken.holds and "not sound" in broken.details


def _stale_units(monkeypatch, lower_by: int = 1):
    """relu_approximation whose units are built at m − lower_by, with the stale m, errors and bound kept."""
    real = theorem2.relu_approximation

    def stale(*args, **kwargs):
        res = real(*args, **kwargs)
        acts = {act.describe(): act for layer in res.polyrelu.activations for act in layer}
        units = {
            k: Y.polyrelu_network(theorem2.activation_coefficients(acts[k]), res.squaring_depth[k] - lower_by)
            for k in res.units
        }
        return dataclasses.replace(res, units=units, relu=theorem2.assemble(res.polyrelu, units))

    monkeypatch.setattr(theorem2, "relu_approximation", stale)


@pytest.mark.parametrize("lower_by", [1, 2])
def test_theorem2_recomputes_each_units_error(monkeypatch, lower_by):
    assert theorem2.certify_upper(1, 2, 3, Q(1, 10**3), 33).holds
    _stale_units(monkeypatch, lower_by)
    broken = theorem2.certify_upper(1, 2, 3, Q(1, 10**3), 33)
    assert not broken.holds and "> ! the claimed bound" in broken.details


def test_theorem2_refuses_a_claimed_bound_below_its_budget(monkeypatch):
    real = theorem2.relu_approximation

    def optimistic(*args, **kwargs):
        res = real(*args, **kwargs)
        return dataclasses.replace(res, bound=res.bound * Q(99, 100))

    monkeypatch.setattr(theorem2, "relu_approximation", optimistic)
    broken = theorem2.certify_upper(1, 2, 3, Q(1, 10**3), 33)
    assert not broken.holds and "> ! the claimed bound" in broken.details


def test_lemma2_rate_recomputes_from_the_network_not_the_stored_m(monkeypatch):
    """Networks one squaring level short, stored with the m, error and bound of the right ones."""
    real = Y.polyrelu_network
    monkeypatch.setattr(lemma2.Y, "polyrelu_network", lambda a, m, hat=Y.HAT: real(a, max(m - 1, 0), hat))
    broken = lemma2.certify_rate(orders=(3,), epsilons=(Q(1, 10**5), Q(1, 10**6)))
    assert not broken.holds and "not < eps" in broken.details


def test_lemma2_checks_the_construction_by_an_independent_evaluation(monkeypatch):
    real = Y.horner_network

    def off(a, m, hat=Y.HAT):  # the builder itself is wrong: a coefficient moved by 1/1000
        moved = list(lemma2.trim(a))
        moved[0] += Q(1, 1000)
        return real(moved, m, hat)

    monkeypatch.setattr(lemma2.Y, "horner_network", off)
    broken = lemma2.certify_smallest(lemma2.paper_coefficients(3), Q(1, 10**3))
    assert not broken.holds and "NOT the Horner/Yarotsky construction" in broken.details


def test_the_relu_twins_details_take_their_sign_from_the_verdict(monkeypatch):
    monkeypatch.setattr(theorem3, "relu_error_bound", lambda approximant, m: Q(1, 10**12))
    broken = theorem3.certify_relu_twin("sin(pi*x0)", 1, 2, 4, grid_points=40)
    assert not broken.holds and "> ! composed bound" in broken.details
