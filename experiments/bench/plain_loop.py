"""The loop a user writes, the baseline every fitting benchmark races: Adam, then L-BFGS with strong Wolfe.

Same network (the lab's architecture as a plain torch module, torch.nn.Linear's start), same training
points, same wall time: ``torch.optim.Adam`` (lr 1e-2, cosine over 300 steps) for the first 20% of the
time, then ``torch.optim.LBFGS(line_search_fn="strong_wolfe")`` until the time is spent. Evaluation
time is not counted.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from approx.fitting.models import Architecture

ADAM_SHARE = 0.2
ADAM_STEPS = 300


def plain_loop(
    arch: Architecture,
    x: Tensor,
    y: Tensor,
    seconds: float,
    x_test: Tensor,
    y_test: Tensor,
    seed: int = 0,
    trace: list[tuple[float, float]] | None = None,
) -> tuple[float, float]:
    """(sup |f − net| on the test points, seconds spent) of the plain loop given ``seconds``.

    ``trace`` (if given) collects (seconds, sup error) after every L-BFGS call.
    """
    module = arch.to_module(arch.init([seed])[0])

    def loss() -> Tensor:
        return (module(x) - y).square().mean()

    def sup() -> float:
        with torch.no_grad():
            err = float((module(x_test) - y_test).abs().max())
        return err if err == err else float("inf")  # a NaN network is as bad as it gets

    start = time.perf_counter()
    first = torch.optim.Adam(module.parameters(), lr=1e-2)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(first, ADAM_STEPS)
    for _ in range(ADAM_STEPS):
        if time.perf_counter() - start > ADAM_SHARE * seconds:
            break
        first.zero_grad()
        loss().backward()
        first.step()
        cosine.step()
    second = torch.optim.LBFGS(
        module.parameters(),
        lr=1.0,
        max_iter=20,
        history_size=20,
        line_search_fn="strong_wolfe",
        tolerance_grad=0.0,
        tolerance_change=0.0,
    )

    def closure() -> Tensor:
        second.zero_grad()
        value = loss()
        value.backward()
        return value

    while (spent := time.perf_counter() - start) < seconds:
        second.step(closure)
        if trace is not None:
            paused = time.perf_counter()
            trace.append((paused - start, sup()))
            start += time.perf_counter() - paused  # evaluation time is not the loop's
    return sup(), spent
