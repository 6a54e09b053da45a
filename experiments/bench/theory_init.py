"""Training from the Theorem 3 construction (docs/theory.md §5, §7): does training improve the optimal-rate network?

``compare(text, d, n, N, init)`` starts from the construction (``init = "theorem3"``: the PolyReLU
network f_N; ``"theorem3-relu"``: its ReLU twin) as a pattern network
(:mod:`experiments.constructions.theorem3_start`): its nonzero weights and biases are trainable, its
zeros stay zero. Before training it *is* the construction, to float64 rounding. Measured, all at the
same nonzero-parameter count, as sup errors on a dense held-out grid:

- the construction itself, beside its certified bound;
- the construction with its readout solved by least squares (the best last layer for its features);
- that, trained by strong-Wolfe L-BFGS (Adam is left out: its first steps move every weight by about
  its learning rate at once, which throws the construction away);
- a random start of the same pattern, trained by Adam then L-BFGS.
"""

from __future__ import annotations

import copy

import torch

import grammar
from approx.fitting import pattern, targets
from approx.fitting.expression import torch_function
from experiments.constructions import theorem3_start


def sup_error(net: torch.nn.Module, f, d: int) -> float:
    x = targets.dense_grid(d, 8192 if d == 1 else 40_000)
    with torch.no_grad():
        return float((net(x).reshape(-1) - f(x)).abs().max())


def compare(
    text: str,
    d: int,
    n: int,
    N: int,
    init: str = "theorem3",
    adam: int = 1000,
    lbfgs: int = 1000,
    seed: int = 0,
    points_per_parameter: int = 8,
) -> dict:
    """One row of the benchmark (module docstring); ``points`` Sobol training points, at least 1024·d."""
    begin = theorem3_start.start(text, d, n, N, init, scale=1.0)
    f = torch_function(grammar.parse(text, d))
    points = max(1024 * d, points_per_parameter * begin.net.count)
    x = targets.sample(d, points, "sobol", seed)
    y = f(x)
    solved = copy.deepcopy(begin.net)
    pattern.solve_readout(solved, x, y)
    trained = copy.deepcopy(solved)
    t_c = pattern.train(trained, x, y, pattern.Schedule(adam=0, lbfgs=lbfgs))
    rand = pattern.random_like(begin.net, seed)
    t_r = pattern.train(rand, x, y, pattern.Schedule(adam=adam, lbfgs=lbfgs))
    return {
        "target": text,
        "d": d,
        "n": n,
        "N": N,
        "init": init,
        "nonzero_parameters": begin.net.count,
        "points": points,
        "construction": sup_error(begin.net, f, d),
        "bound": float(begin.bound),
        "readout_solved": sup_error(solved, f, d),
        "trained_from_construction": sup_error(trained, f, d),
        "trained_from_random": sup_error(rand, f, d),
        "seconds": [t_c, t_r],
    }
