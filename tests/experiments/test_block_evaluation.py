"""experiments.constructions.block_evaluation: the exported Theorem 3 network evaluated term block by term block equals
the layer-by-layer pass (and f_N) to float64 rounding, and skips only trees that are exactly zero."""

from fractions import Fraction

import numpy as np
import pytest
import torch

from experiments.constructions.block_evaluation import BlockEvaluator, exact_zero_outside
from experiments.constructions.theorem3_rates import evaluate
from theory import theorem3 as T3
from theory.export import to_torch
from theory.sobolev.target import SobolevTarget

CASES = [("sin(pi*x0)", 1, 2, 8), ("exp(x0)", 1, 3, 16), ("sin(pi*x0)*cos(pi*x1)", 2, 2, 4), ("x0**2*x1", 2, 1, 3)]


def _built(text, d, n, N):
    built = T3.build(SobolevTarget.parse(text, d, n), N, "per_neuron")
    return built, to_torch(built.network)


def _points(d, N, count=3000, seed=0):
    X = np.random.default_rng(seed).random((count, d))
    grid = np.linspace(0.0, 1.0, 3 * N + 1)  # the cell edges, where a skipped node's ψ just reaches 0
    X[: len(grid)] = grid[:, None]
    return X


@pytest.mark.parametrize("case", CASES)
def test_block_pass_equals_the_layered_pass_and_f_N(case):
    built, module = _built(*case)
    X = _points(case[1], case[3])
    y = BlockEvaluator(built, module)(X)
    np.testing.assert_allclose(y, evaluate(module, X), rtol=0, atol=1e-13)
    np.testing.assert_allclose(y, built.approximant.values_float(X), rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_only_exactly_zero_trees_are_skipped(case):
    built, _ = _built(*case)
    N, d = case[3], case[1]
    rng = np.random.default_rng(1)
    points = [tuple(Fraction(int(v), 3 * N * 7) for v in rng.integers(0, 3 * N * 7 + 1, d)) for _ in range(200)]
    points += [tuple(Fraction(i, N) for _ in range(d)) for i in range(N + 1)]
    assert all(exact_zero_outside(built, x) for x in points)


def test_the_block_pass_reads_the_module_weights():
    """A weight of one tree changed in the exported module changes the block pass where that tree is active."""
    built, module = _built("sin(pi*x0)", 1, 2, 8)
    X = _points(1, 8)
    before = BlockEvaluator(built, module)(X)
    t = next(i for i, (m, _) in enumerate(built.terms) if m == (4,))
    lo, _ = built.blocks.ranges[-1][t]
    out = module.affines[-1]
    with torch.no_grad():
        w = out.weight.to_dense() if out.weight.is_sparse else out.weight
        w = w.clone()
        w[0, lo] += 1.0
        module.affines[-1].weight = torch.nn.Parameter(w.to_sparse() if out.weight.is_sparse else w)
    after = BlockEvaluator(built, module)(X)
    moved = np.abs(after - before) > 1e-6
    assert moved.any() and np.all(np.abs(X[moved, 0] - 0.5) <= 1 / 8)  # only on the cells of node m = 4


def test_other_forms_are_refused():
    built = T3.build(SobolevTarget.parse("sin(pi*x0)", 1, 2), 4, "shared")
    with pytest.raises(ValueError, match="per_neuron"):
        BlockEvaluator(built, to_torch(built.network))


def test_bad_points_are_refused():
    built, module = _built("sin(pi*x0)", 1, 2, 4)
    with pytest.raises(ValueError, match="shape"):
        BlockEvaluator(built, module)(np.zeros((3, 2)))
