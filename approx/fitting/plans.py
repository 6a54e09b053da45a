"""How to run a stack on this machine: stacked or in chunks, on how many threads (chosen by timing).

Stacking pays for narrow networks, not for wide ones, and on a small shared CPU two threads can lose
to one; :func:`choose_plan` measures the candidates under the same load and takes the fastest.
Levenberg–Marquardt's Jacobians bound a chunk from above (:func:`lm_bytes`).
"""

from __future__ import annotations

import time

import torch

from approx.fitting.jacobian import jacobian_bytes
from approx.fitting.models import Architecture

#: memory one chunk of an LM phase may hold (Jacobians, normal matrices, factors)
LM_CHUNK_BYTES = 2 * 2**30

_PLAN_CACHE: dict[tuple, tuple[int, int]] = {}


class intra_op_threads:
    """Context manager: run with ``n`` torch CPU threads (None: leave as is), restore afterwards.

    Why: on a small shared CPU, tiny matmuls on 2 threads can be 10-100x slower than on 1
    (threads wait on each other's barriers while the other core is busy), so the engine measures both.
    """

    def __init__(self, n: int | None):
        self.n, self.old = n, torch.get_num_threads()

    def __enter__(self):
        if self.n:
            torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def time_plans(
    arch: Architecture, plans: list[tuple[int, int]], points: int, dtype=torch.float64, device="cpu", repeats=5
) -> dict[tuple[int, int], list[float]]:
    """Seconds per model of one loss+gradient pass for each (stack size, threads) plan, ``repeats`` each.

    The plans are timed round-robin, so a change in the machine's load hits all of them alike.
    """
    from approx.fitting.train import mse_loss_grad  # train imports this module

    passes = {}
    for chunk in sorted({c for c, _ in plans}):
        theta = arch.init(list(range(chunk)), dtype, device)
        x = torch.rand(points, arch.d_in, dtype=dtype, device=device)
        y = torch.zeros(chunk, points, dtype=dtype, device=device)
        passes[chunk] = (mse_loss_grad(arch, x, y), theta)
    times: dict[tuple[int, int], list[float]] = {plan: [] for plan in plans}
    for r in range(repeats + 1):
        for chunk, threads in plans:
            loss_grad, theta = passes[chunk]
            with intra_op_threads(threads or None):
                synchronize(device)
                t0 = time.perf_counter()
                loss_grad(theta, True)
                synchronize(device)
                if r:  # pass 0 is the warm-up (allocator, kernels, compilation)
                    times[(chunk, threads)].append((time.perf_counter() - t0) / chunk)
    return times


def synchronize(device: str) -> None:
    """Wait for the device's queued work (a no-op on the CPU), so a timer measures the work itself."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def plan_cost(times: list[float]) -> float:
    """Median seconds per model: the statistic :func:`choose_plan` minimises and ``polylab bench sweep`` reports."""
    return sorted(times)[len(times) // 2]


def choose_plan(arch: Architecture, models: int, points: int, dtype=torch.float64, device="cpu") -> tuple[int, int]:
    """(stack size, CPU threads) with the least median time per model, one-at-a-time plans included.

    Stack sizes tried: 1 (one at a time), 4, 16, 64, … below ``models``, and ``models`` (all stacked): a
    wide stack can fall out of cache and lose to a smaller one. Threads: 1 and torch's default (CPU
    only); on a shared CPU two threads can lose to one. All plans are timed round-robin under the same
    load and compared on one statistic, so the plan taken is never slower than one-at-a-time at its
    best thread count in that measurement (a later change of load can still make it so).
    """
    key = (arch, models, points, dtype, device, torch.get_num_threads())
    if key not in _PLAN_CACHE:
        chunks = sorted({1, models} | {4**k for k in range(1, 8) if 4**k < models})
        threads = [0] if device != "cpu" else sorted({1, torch.get_num_threads()})
        times = time_plans(arch, [(c, t) for c in chunks for t in threads], points, dtype, device, repeats=7)
        _PLAN_CACHE[key] = min(times, key=lambda plan: (plan_cost(times[plan]), plan))
    return _PLAN_CACHE[key]


def lm_bytes(params: int, points: int, itemsize: int = 8) -> int:
    """Bytes one model holds during an LM phase: J and its one-point copies, JᵀJ and its Cholesky factor."""
    return jacobian_bytes(1, points, params, itemsize) + 3 * params * params * itemsize


def lm_chunk(chunk: int, params: int, points: int, itemsize: int = 8) -> int:
    """The largest stack size ≤ ``chunk`` whose LM phase fits in :data:`LM_CHUNK_BYTES`."""
    return max(1, min(chunk, LM_CHUNK_BYTES // lm_bytes(params, points, itemsize)))
