"""Training from the Theorem 3 construction (experiments/bench/theory_init.py)."""

import numpy as np
import torch

from experiments.bench import theory_init as TI


def test_the_exported_construction_is_f_N_before_training_and_keeps_its_pattern():
    masked, target, approximant = TI.construction_module("sin(pi*x0)*exp(x1)", 2, 2, 2)
    x = torch.rand(500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = masked.module(x).reshape(-1).numpy()
    assert np.max(np.abs(y - approximant.values_float(x.numpy()))) < 1e-12
    zeros = {n: (p == 0) for n, p in masked.module.named_parameters() if n in masked.masks}
    f = TI.torch_function(target.expr, 2)
    TI.train(masked, x, f(x), adam=5, lbfgs=5)
    for name, p in masked.module.named_parameters():
        if name in zeros:
            assert torch.all(p[zeros[name]] == 0), f"{name} left its sparsity pattern"
    rand = TI.random_like(masked, seed=1)
    assert rand.nonzero == masked.nonzero and not all(
        torch.equal(a, b) for a, b in zip(rand.module.parameters(), masked.module.parameters(), strict=True)
    )


def test_training_from_the_construction_lowers_its_error():
    r = TI.compare("sin(pi*x0)", 1, 2, 4, adam=100, lbfgs=100)
    assert r["construction"] <= r["bound"] and r["trained_from_construction"] < r["construction"]
