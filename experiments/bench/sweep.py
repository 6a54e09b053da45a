"""``polylab bench sweep``: the fitting engine's speed on this machine (goals: benchmarks/RESULTS.md).

Four measurements, all in the same run so they share the machine's state:

1. the machine's own float64 matmul rate (n×n @ n×n, torch's default threads): the yardstick;
2. stacked against one-at-a-time: M networks of width w (d = 1, ``depth`` hidden layers, N points),
   time per model of one loss+gradient pass, each side at its best thread count (1 or default); and
   the plan the engine picks (approx.fitting.train.choose_plan) with its speed-up over one-at-a-time;
3. one activation's forward+backward on the paper preset's largest stacks, five ways: the library's
   autograd form, the released code's way (the same under ``torch.utils.checkpoint``), ``torch.compile``
   of it, the eager fused forms (approx.kernels.fused_horner / fused_polynorm) and the C kernels
   (approx.kernels.native_kernels, the default on CPU);
4. achieved FLOP/s of real sweep steps (Adam, ``train_chunk``) on the ``paper`` preset's largest models
   (its own stack sizes and training points), against the matmul rate: with the C kernels (default),
   with the eager fused forms (``POLYLAB_NATIVE=0``) and with ``compile = true``.

FLOPs counted: 3 × 2·N·(weights) per model per step (forward, and backward ≈ 2 forwards), the
matmul work only; activations, the optimiser and the Python overhead are what the ratio exposes.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch

from approx.fitting.models import Activation, Architecture
from approx.fitting.plans import choose_plan, intra_op_threads, plan_cost, time_plans
from approx.fitting.schedule import Phase
from approx.fitting.train import train_chunk
from approx.kernels.cpu_memory import keep_freed_memory
from experiments.user_errors import UserError

PAPER = Path(__file__).resolve().parent.parent / "configs" / "paper.toml"


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
    med = {plan: plan_cost(v) for plan, v in times.items()}  # the engine's own statistic
    one = min(med[(1, t)] for t in threads)
    stacked = min(med[(models, t)] for t in threads)
    return {
        "width": width,
        "activation": act,
        "one_ms": 1e3 * one,
        "stacked_ms": 1e3 * stacked,
        "speedup": one / stacked,
        "plan": f"{engine[0]}×, {engine[1]} thr",
        "engine_speedup": one / med[engine],
    }


KERNEL_SHAPES = ((9, 256, 98), (6, 1024, 97))  # (models, points, width) of the paper preset's largest stacks, d = 1, 2
KERNEL_ACTIVATIONS = (
    Activation("polynomial"),
    Activation("polyrelu"),
    Activation("polyrelu", coefficients="per_neuron"),
    Activation("polynorm"),
    Activation("gelu"),
)
#: the forms a kernel is measured against
OTHER_FORMS = ("library", "checkpointed", "compiled", "eager fused")


def _kernel_forms(act: Activation) -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None]:
    """form -> fn(h, a) for one activation: its impls (approx/activations/table.py) and the released code's
    checkpointed library form; None where a form does not exist (GELU has no eager fused form)."""
    from torch.utils.checkpoint import checkpoint

    library = dataclasses.replace(act, impl="reference").apply
    return {
        "library": library,
        "checkpointed": lambda h, a: checkpoint(library, h, a, use_reentrant=False),
        "compiled": dataclasses.replace(act, impl="compile").apply,
        "eager fused": dataclasses.replace(act, impl="eager").apply if act.learnable else None,
        "C kernel": act.apply,
    }


def activation_kernels(repeats: int = 30) -> list[dict]:
    """µs per forward+backward of one activation layer (median of ``repeats``, round-robin), per form."""
    rows = []
    for M, N, w in KERNEL_SHAPES:
        g = torch.Generator().manual_seed(0)
        h = torch.randn(M, N, w, generator=g, dtype=torch.float64).requires_grad_(True)
        up = torch.randn(M, N, w, generator=g, dtype=torch.float64)
        for act in KERNEL_ACTIVATIONS:
            a = torch.randn(M, 1, w if act.coefficients == "per_neuron" else 1, 4, generator=g, dtype=torch.float64)
            a.requires_grad_(True)
            forms = {"relu": lambda h, a: torch.relu(h), **_kernel_forms(act)}
            ready = {name: fn for name, fn in forms.items() if fn is not None}
            times: dict[str, list[float]] = {name: [] for name in ready}
            for rep in range(repeats + 1):
                for name, fn in ready.items():
                    t0 = time.perf_counter()
                    torch.autograd.grad(fn(h, a), (h, a), up, allow_unused=True)
                    if rep:  # pass 0: warm-up and compilation
                        times[name].append(time.perf_counter() - t0)
            row: dict[str, object] = {"shape": f"{M}×{N}×{w}", "activation": act.label}
            row.update({name: 1e6 * _median(v) if v else None for name, v in times.items()})
            rows.append(row)
    return rows


def _adam_step_seconds(arch, group, points: int, steps: int, threads: int) -> float:
    models = len(group)
    x = torch.rand(models, points, arch.d_in, dtype=torch.float64)
    y = torch.rand(models, points, dtype=torch.float64)
    theta = arch.init([j.seed for j in group])
    with intra_op_threads(threads):
        train_chunk(arch, theta, x, y, [Phase("adam", 1, 1e-3)])  # warm-up (and compilation, if on)
        t0 = time.perf_counter()
        train_chunk(arch, theta, x, y, [Phase("adam", steps, 1e-3)])
        return (time.perf_counter() - t0) / (steps + 1)  # steps + the initial loss pass


#: mode -> the activation impl that runs it (approx/activations/table.py)
MODES = {"C kernels": "auto", "eager fused": "eager", "compiled": "compile"}


def paper_largest(steps: int, compiled: bool = True, rounds: int = 5) -> list[dict]:
    """Real Adam steps on the paper preset's largest stacks, per mode (MODES; fixed activations have one).

    Each of ``rounds`` rounds measures the float64 matmul rate and then every mode, so a step is set
    against the rate of the same moment: on a shared CPU the load, and both numbers, move by 2x over a
    run. Reported: the median step time and the median of the per-round % of the matmul rate.
    """
    from experiments.rates import config

    cfg = config.load(PAPER)
    out = []
    for group in config.stacks(cfg.jobs):
        if group[0].size != max(cfg.sizes):
            continue
        arch, models = group[0].arch, len(group)
        points = config.points_for(cfg, arch.d_in, arch.size)
        _, threads = choose_plan(arch, models, points)
        flops = 3 * arch.matmul_flops(points) * models
        modes = list(MODES)[: 3 if compiled else 2] if arch.activation.learnable else list(MODES)[:1]
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        percent: dict[str, list[float]] = {mode: [] for mode in modes}
        rates = []
        for _ in range(rounds):
            rates.append(matmul_rate(repeats=3))
            for mode in modes:
                impl = dataclasses.replace(arch.activation, impl=MODES[mode])
                t = _adam_step_seconds(dataclasses.replace(arch, activation=impl), group, points, steps, threads)
                seconds[mode].append(t)
                percent[mode].append(100 * flops / t * 1e-9 / rates[-1])
        row = {
            "activation": arch.activation.label,
            "d": arch.d_in,
            "width": arch.width,
            "params": arch.size,
            "models": models,
            "points": points,
            "threads": threads,
            "matmul_gflops": _median(rates),
        }
        for mode in modes:
            ms = 1e3 * _median(seconds[mode])
            row[mode] = {"ms": ms, "gflops": flops / ms * 1e-6, "percent": _median(percent[mode])}
        out.append(row)
    return out


def _median(v: list[float]) -> float:
    return sorted(v)[len(v) // 2]


def run(
    widths=(8, 32, 128),
    models=64,
    points=1024,
    depth=2,
    repeats=7,
    steps=10,
    activations=("relu", "polyrelu"),
    compiled=True,
):
    """Print the four tables as Markdown; returns the numbers."""
    keep_freed_memory()
    rate = matmul_rate()
    with intra_op_threads(1):
        rate1 = matmul_rate()
    threads = torch.get_num_threads()
    print(f"machine float64 matmul (1024²): {rate:.1f} GFLOP/s on {threads} threads, {rate1:.1f} GFLOP/s on 1 thread\n")
    print(f"Stacked vs one-at-a-time: {models} MLPs, d=1, depth {depth}, {points} points, loss+grad pass\n")
    print(
        "| activation | width | one-at-a-time ms/model | stacked ms/model | stacked speed-up | engine plan "
        "| engine speed-up |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    stack_rows = []
    for act in activations:
        for w in widths:
            r = stacking(w, act, models, points, depth, repeats)
            stack_rows.append(r)
            print(
                f"| {act} | {w} | {r['one_ms']:.3f} | {r['stacked_ms']:.3f} | {r['speedup']:.2f}× | {r['plan']} | "
                f"{r['engine_speedup']:.2f}× |",
                flush=True,
            )
    print(
        "\nOne activation layer, forward + backward, µs (median, round-robin); shapes = (models, points, width) of"
        " the paper preset's largest stacks; order 3\n"
    )
    kernel_rows = activation_kernels()
    forms = ["relu", "library", "checkpointed", "compiled", "eager fused", "C kernel"]
    print("| shape | activation | " + " | ".join(forms) + " | C kernel vs best other |")
    print("| --- | --- | " + " | ".join("---" for _ in forms) + " | --- |")
    for r in kernel_rows:
        best_other = min(r[f] for f in OTHER_FORMS if r.get(f))
        print(
            f"| {r['shape']} | {r['activation']} | "
            + " | ".join(f"{r[f]:.0f}" if r.get(f) else "—" for f in forms)
            + f" | {best_other / r['C kernel']:.2f}× |",
            flush=True,
        )
    shown = MODES if compiled else MODES[:2]
    print(
        f"\nPaper preset's largest models: {steps} Adam steps of the real stacks per measurement; 5 rounds, each"
        " timing the float64 matmul and then every mode; medians of the step time and of the per-round % of"
        " the matmul rate (GFLOP/s counts matmul FLOPs only)\n"
    )
    print(
        "| activation | d | width | params | models | points | threads | matmul GFLOP/s | "
        + " | ".join(f"{m} ms/step | {m} %" for m in shown)
        + " |"
    )
    print("| --- " * (8 + 2 * len(shown)) + "|")
    paper_rows = paper_largest(steps, compiled)
    for r in paper_rows:
        cells = [f"{r[m]['ms']:.1f} | **{r[m]['percent']:.0f}%**" if m in r else "— | —" for m in shown]
        print(
            f"| {r['activation']} | {r['d']} | {r['width']} | {r['params']} | {r['models']} | {r['points']} | "
            f"{r['threads']} | {r['matmul_gflops']:.1f} | " + " | ".join(cells) + " |",
            flush=True,
        )
    return {
        "matmul_gflops": rate,
        "matmul_gflops_1_thread": rate1,
        "stacking": stack_rows,
        "kernels": kernel_rows,
        "paper_largest": paper_rows,
    }


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--widths", type=int, nargs="+", default=[8, 32, 128], help="widths to compare (default 8 32 128)")
    p.add_argument("--models", type=int, default=64, help="models per stack (default 64)")
    p.add_argument("--points", type=int, default=1024, help="training points (default 1024)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="timed passes per measurement (default 7)")
    p.add_argument("--steps", type=int, default=10, help="Adam steps timed on the paper models (default 10)")
    p.add_argument("--no-compiled", action="store_true", help="skip the torch.compile column (saves ~1-2 min)")


def run_cli(args) -> int:
    for name in ("widths", "models", "points", "depth", "repeats", "steps"):
        values = getattr(args, name)
        if any(v < 1 for v in (values if isinstance(values, list) else [values])):
            raise UserError(f"--{name} must be >= 1")
    run(
        tuple(args.widths),
        args.models,
        args.points,
        args.depth,
        args.repeats,
        args.steps,
        compiled=not args.no_compiled,
    )
    return 0
