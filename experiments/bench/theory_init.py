"""Training from the Theorem 3 construction (docs/theory.md §5, §7): does training improve the optimal-rate network?

``construction_module(text, d, n, N)`` exports the exact PolyReLU network (``theory.theorem3``) to a
float64 torch module whose nonzero weights and biases are trainable and whose zeros stay zero (a
gradient mask keeps the sparsity pattern); the PolyReLU coefficients e_1/e_2 stay fixed. Before
training it *is* f_N, to float64 rounding. ``compare(...)`` trains it (Adam, then
``torch.optim.LBFGS`` with strong-Wolfe line search) and, with the same pattern and schedule, a random
initialisation, and reports the sup errors on a dense held-out grid beside the construction's own
certified error. All three have the same nonzero-parameter count.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch

from approx.fitting import targets
from experiments.rates.expressions import torch_function
from theory import theorem3 as T3
from theory.export import to_torch
from theory.sobolev.approximant import Approximant
from theory.sobolev.target import SobolevTarget


@dataclass
class Masked:
    module: torch.nn.Module
    masks: dict[str, torch.Tensor]  # parameter name -> 1 where the construction has a nonzero

    @property
    def nonzero(self) -> int:
        return int(sum(m.sum() for m in self.masks.values()))

    def project(self) -> None:
        """Zero every gradient (and weight) outside the pattern."""
        with torch.no_grad():
            for name, p in self.module.named_parameters():
                if name in self.masks:
                    p.mul_(self.masks[name])
                    if p.grad is not None:
                        p.grad.mul_(self.masks[name])


def construction_module(text: str, d: int, n: int, N: int) -> tuple[Masked, SobolevTarget, Approximant]:
    target = SobolevTarget.parse(text, d, n)
    built = T3.build(target, N)
    module = to_torch(built.network, sparse=False)
    masks = {}
    for name, p in module.named_parameters():
        if name.endswith(("weight", "bias")):
            masks[name] = (p.detach() != 0).to(p.dtype)
        else:
            p.requires_grad_(False)  # the PolyReLU coefficients: fixed at e_1 / e_2
    return Masked(module, masks), target, built.approximant


def random_like(masked: Masked, seed: int) -> Masked:
    """The same pattern with random weights: N(0, 1/fan-in) on the nonzeros of each layer."""
    gen = torch.Generator().manual_seed(seed)
    module = copy.deepcopy(masked.module)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name in masked.masks:
                fan_in = max(1.0, float(masked.masks[name].sum(-1).float().mean())) if p.dim() == 2 else 1.0
                p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / fan_in**0.5 * masked.masks[name])
    return Masked(module, masked.masks)


def train(masked: Masked, x: torch.Tensor, y: torch.Tensor, adam: int, lbfgs: int) -> float:
    """Adam then strong-Wolfe L-BFGS on the mean squared error, inside the pattern; returns seconds."""
    params = [p for p in masked.module.parameters() if p.requires_grad]
    start = time.perf_counter()
    opt = torch.optim.Adam(params, lr=1e-3)
    for _ in range(adam):
        opt.zero_grad()
        loss = (masked.module(x).reshape(-1) - y).square().mean()
        loss.backward()
        masked.project()
        opt.step()
        masked.project()
    lb = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=lbfgs,
        history_size=50,
        line_search_fn="strong_wolfe",
        tolerance_grad=1e-14,
        tolerance_change=1e-16,
    )

    def closure():
        lb.zero_grad()
        loss = (masked.module(x).reshape(-1) - y).square().mean()
        loss.backward()
        masked.project()
        return loss

    if lbfgs:
        lb.step(closure)
        masked.project()
    return time.perf_counter() - start


def sup_error(masked: Masked, f, d: int) -> float:
    x = targets.dense_grid(d, 8192 if d == 1 else 40_000)
    with torch.no_grad():
        return float((masked.module(x).reshape(-1) - f(x)).abs().max())


def compare(text: str, d: int, n: int, N: int, adam: int = 2000, lbfgs: int = 2000, seed: int = 0) -> dict:
    masked, target, approximant = construction_module(text, d, n, N)
    f = torch_function(target.expr, d)
    points = max(1024, 8 * masked.nonzero) if d == 1 else max(4096, 8 * masked.nonzero)
    x = targets.sample(d, points, "sobol", seed)
    y = f(x)
    before = sup_error(masked, f, d)
    rand = random_like(masked, seed)
    t_c = train(masked, x, y, adam, lbfgs)
    t_r = train(rand, x, y, adam, lbfgs)
    return {
        "target": text,
        "d": d,
        "n": n,
        "N": N,
        "nonzero_parameters": masked.nonzero,
        "points": points,
        "construction": before,
        "bound": float(approximant.certified_bound().bound),
        "trained_from_construction": sup_error(masked, f, d),
        "trained_from_random": sup_error(rand, f, d),
        "seconds": [t_c, t_r],
    }
