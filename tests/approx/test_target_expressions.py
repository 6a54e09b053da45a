"""Every catalogue family that has one carries its exact expression (what a certified error encloses,
docs/theory.md §8); the grammar's own torch back end reads it back as the same function."""

from __future__ import annotations

import pytest
import torch

from approx.fitting import targets as T
from approx.fitting.expression import expression_target


@pytest.mark.parametrize(
    "family, kw",
    [
        ("abs_power", {"n": 1, "d": 1}),
        ("abs_power", {"n": 2, "d": 2}),
        ("spline", {"n": 3, "d": 1, "knots": 6, "seed": 0}),
        ("spline", {"n": 1, "d": 2, "knots": 2, "seed": 3}),
    ],
)
def test_a_familys_expression_is_the_target(family, kw):
    target = T.get(family, **kw)
    assert target.expression is not None
    read_back = expression_target(target.expression, target.d)
    x = T.sample(target.d, 4096, "random", 1)
    assert torch.allclose(read_back.fn(x), target.fn(x), rtol=0, atol=1e-14)


def test_a_moved_constant_is_seen():
    """Mutant: the expression of a neighbouring centre is not the target."""
    target, other = T.get("abs_power", n=1, d=1), T.get("abs_power", n=1, d=1, center=0.45)
    x = T.sample(1, 4096, "random", 1)
    assert (expression_target(other.expression, 1).fn(x) - target.fn(x)).abs().max() > 1e-3


def test_targets_without_an_exact_form_say_so():
    assert T.get("fourier", n=1, d=1).expression is None and T.get("runge").expression is None
    assert T.resolve("sin(3*x0)").expression == "sin(3*x0)"
    assert T.get("spline", n=1, d=2, knots=40).expression is None  # past the grammar's size limits
