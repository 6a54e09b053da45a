"""``polylab bench sweep``: the fitting engine's speed on this machine (issue 6 performance goals).

Three measurements, all in the same run so they share the machine's state:

1. the machine's own float64 matmul rate (n×n @ n×n, torch's default threads): the yardstick;
2. stacked against one-at-a-time: M networks of width w (d = 1, ``depth`` hidden layers, N points),
   time per model of one loss+gradient pass, each side at its best thread count (1 or default); and
   the plan the engine picks (approx.train.choose_plan) with its speed-up over one-at-a-time;
3. achieved FLOP/s of real sweep steps (Adam, ``fit_stack``) on the ``paper`` preset's largest models
   (its own stack sizes and training points), against the matmul rate.

FLOPs counted: 3 × 2·N·(weights) per model per step (forward, and backward ≈ 2 forwards), the
matmul work only; activations, the optimiser and the Python overhead are what the ratio exposes.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from approx.models import Activation, Architecture
from approx.train import Phase, choose_plan, fit_stack, intra_op_threads, time_plans

PAPER = Path(__file__).resolve().parent / "configs" / "paper.toml"


def matmul_rate(n: int = 1024, repeats: int = 10) -> float:
    """float64 GFLOP/s of an n×n matmul (best of ``repeats``), torch's default thread count."""
    a = torch.randn(n, n, dtype=torch.float64)
    b = torch.randn(n, n, dtype=torch.float64)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def stacking(width: int, act: str, models: int, points: int, depth: int, repeats: int) -> dict:
    """One-at-a-time, all stacked, and the engine's plan, timed round-robin (medians per model).

    The engine's plan is chosen from its own timings a moment earlier (as in a sweep, once per stack),
    so under a changing load it can be measured slower here than it was there.
    """
    arch = Architecture(1, width, depth, Activation(act))
    engine = choose_plan(arch, models, points)
    threads = sorted({1, torch.get_num_threads()})
    plans = sorted({(1, t) for t in threads} | {(models, t) for t in threads} | {engine})
    times = time_plans(arch, plans, points, repeats=repeats)
    med = {plan: sorted(v)[len(v) // 2] for plan, v in times.items()}
    one = min(med[(1, t)] for t in threads)
    stacked = min(med[(models, t)] for t in threads)
    return {"width": width, "activation": act, "one_ms": 1e3 * one, "stacked_ms": 1e3 * stacked,
            "speedup": one / stacked, "plan": f"{engine[0]}×, {engine[1]} thr",
            "engine_speedup": one / med[engine]}  # fmt: skip


def _adam_step_seconds(arch, group, points: int, steps: int, threads: int) -> float:
    models = len(group)
    x = torch.rand(models, points, arch.d_in, dtype=torch.float64)
    y = torch.rand(models, points, dtype=torch.float64)
    theta = arch.init([j.seed for j in group])
    with intra_op_threads(threads):
        fit_stack(arch, theta, x, y, [Phase("adam", 1, 1e-3)])  # warm-up (and compilation, if on)
        t0 = time.perf_counter()
        fit_stack(arch, theta, x, y, [Phase("adam", steps, 1e-3)])
        return (time.perf_counter() - t0) / (steps + 1)  # steps + the initial loss pass


def paper_largest(steps: int, compiled: bool = True) -> list[dict]:
    """Real Adam steps on the paper preset's largest stacks: eager, and with compiled activations."""
    from approx.models import compile_activations
    from experiments import sweep

    cfg = sweep.load(PAPER)
    out = []
    for group in sweep.stacks(cfg.jobs):
        if group[0].size != max(cfg.sizes):
            continue
        arch, models = group[0].arch, len(group)
        points = sweep.points_for(cfg, arch.d_in)
        _, threads = choose_plan(arch, models, points)
        flops = 3 * arch.matmul_flops(points) * models
        row = {"activation": arch.activation.label, "d": arch.d_in, "width": arch.width, "params": arch.size,
               "models": models, "points": points, "threads": threads}  # fmt: skip
        row["step_ms"] = 1e3 * _adam_step_seconds(arch, group, points, steps, threads)
        row["gflops"] = flops / row["step_ms"] * 1e-6
        if compiled and arch.activation.learnable:
            compile_activations(True)
            try:
                row["compiled_ms"] = 1e3 * _adam_step_seconds(arch, group, points, steps, threads)
            finally:
                compile_activations(False)
            row["compiled_gflops"] = flops / row["compiled_ms"] * 1e-6
        out.append(row)
    return out


def run(widths=(8, 32, 128), models=64, points=1024, depth=2, repeats=7, steps=10, activations=("relu", "polyrelu"),
        compiled=True):  # fmt: skip
    """Print the three tables as Markdown; returns the numbers."""
    rate = matmul_rate()
    with intra_op_threads(1):
        rate1 = matmul_rate()
    threads = torch.get_num_threads()
    print(f"machine float64 matmul (1024²): {rate:.1f} GFLOP/s on {threads} threads, {rate1:.1f} GFLOP/s on 1 thread;"
          f" the % columns use the {threads}-thread rate\n")  # fmt: skip
    print(f"Stacked vs one-at-a-time: {models} MLPs, d=1, depth {depth}, {points} points, loss+grad pass\n")
    print("| activation | width | one-at-a-time ms/model | stacked ms/model | stacked speed-up | engine plan "
          "| engine speed-up |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- |")
    stack_rows = []
    for act in activations:
        for w in widths:
            r = stacking(w, act, models, points, depth, repeats)
            stack_rows.append(r)
            print(f"| {act} | {w} | {r['one_ms']:.3f} | {r['stacked_ms']:.3f} | {r['speedup']:.2f}× | {r['plan']} | "
                  f"{r['engine_speedup']:.2f}× |", flush=True)  # fmt: skip
    print(f"\nPaper preset's largest models: Adam steps ({steps}) of the real stacks, matmul FLOPs only; compiled ="
          " `compile = true` (torch.compile'd activations, compile time excluded)\n")  # fmt: skip
    print("| activation | d | width | params | models | points | threads | ms/step | GFLOP/s | % of matmul "
          "| compiled ms/step | compiled GFLOP/s | compiled % |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    paper_rows = paper_largest(steps, compiled)
    for r in paper_rows:
        comp = "— | — | —"
        if "compiled_ms" in r:
            comp = f"{r['compiled_ms']:.1f} | {r['compiled_gflops']:.2f} | {100 * r['compiled_gflops'] / rate:.0f}%"
        print(f"| {r['activation']} | {r['d']} | {r['width']} | {r['params']} | {r['models']} | {r['points']} | "
              f"{r['threads']} | {r['step_ms']:.1f} | {r['gflops']:.2f} | {100 * r['gflops'] / rate:.0f}% | {comp} |",
              flush=True)  # fmt: skip
    return {"matmul_gflops": rate, "matmul_gflops_1_thread": rate1, "stacking": stack_rows, "paper_largest": paper_rows}
