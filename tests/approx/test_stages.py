"""Multi-stage residual fitting (approx/fitting/stack.py): parameter counts add up, and each stage helps."""

import pytest
import torch

from approx import StagedModule, fit, fit_stages
from approx.fitting import targets


def test_stages_add_their_parameters_and_lower_the_error():
    one = fit("runge", params=120, activation="tanh")
    two = fit_stages("runge", 2, params=120, activation="tanh")
    assert two.stages == 2 and two.params == 2 * one.params
    assert sum(p.numel() for p in two.module.parameters()) == two.params
    x = targets.dense_grid(1, 4096)
    with torch.no_grad():
        staged = float((two.module(x).reshape(-1) - targets.get("runge")(x)).abs().max())
    assert staged == pytest.approx(two.sup_error, rel=0.05)  # the module is what was measured
    # the second stage fitted part of what the first left: on the training points the error cannot rise
    # (docs/theory.md §7); on the held-out grid it may, by a little
    assert two.to_records()[0]["train_rmse"] < one.to_records()[0]["train_rmse"]
    assert two.module.scales[0] == 1.0 and 0 < two.module.scales[1] < 1e-2


def test_staged_module_is_the_scaled_sum():
    a, b = torch.nn.Linear(1, 1).double(), torch.nn.Linear(1, 1).double()
    x = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    out = StagedModule([a, b], [1.0, 0.25])(x)
    assert torch.allclose(out, a(x) + 0.25 * b(x))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_stage_counts_are_refused(bad):
    with pytest.raises(ValueError, match="stages"):
        fit_stages("runge", bad)
