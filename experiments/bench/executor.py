"""``polylab bench executor``: the Ray executor against the local one on the same stacks (docs/scaling.md).

Both run the same ``--stacks`` stacks of a rates config (default: ``paper``, spread over its sizes):
- **local**: this process, torch's own thread count (today's path);
- **ray**: a one-machine Ray with ``--workers`` workers of 1 thread each.
Reported: wall times and their ratio; Ray's per-task overhead (a task that returns one stack's rows
without fitting, median of ``--probes``) against the median stack time; and a cost model fitted to the
measured stacks (seconds ∝ models · parameters · points · optimiser steps) that docs/scaling.md uses to
estimate the ``paper-large`` preset on more nodes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from experiments import executors, output_lock
from experiments.atomic_io import write_json
from experiments.provenance import provenance
from experiments.rates import config
from experiments.rates import run as sweep
from experiments.user_errors import UserError


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="experiments/configs/paper.toml", help="rates config (default: paper)")
    p.add_argument("--stacks", type=int, default=8, help="stacks to time, spread over sizes (default 8)")
    p.add_argument("--workers", type=int, default=2, help="Ray workers of 1 thread each (default 2)")
    p.add_argument("--probes", type=int, default=20, help="empty tasks timed for the per-task overhead")
    p.add_argument("--json", default="benchmarks/executor.json", help="where to write the figures")
    p.add_argument(
        "--estimate",
        default="experiments/configs/paper-large.toml",
        help="config whose wall time is estimated from the cost model (default: paper-large)",
    )
    p.add_argument("--cores-per-node", type=int, default=2, help="cores per node in the estimate (default 2, as here)")


def chosen_stacks(cfg: config.Config, k: int) -> list[list[config.Job]]:
    groups = config.stacks(cfg.jobs)
    step = max(1, len(groups) // k)
    return groups[::step][:k]


def _steps(cfg: config.Config) -> int:
    return sum(p.steps for p in cfg.phases) if cfg.phases else 1100  # the default schedule's steps


def cost(cfg: config.Config, group: list[config.Job]) -> float:
    """models · parameters · points · steps: what a stack's time is taken to be proportional to."""
    arch = group[0].arch
    return len(group) * arch.size * config.points_for(cfg, arch.d_in, arch.size) * _steps(cfg)


def _echo(rows: list[dict]) -> list[dict]:
    return rows


def estimate(cfg: config.Config, per_unit: float, overhead: float, cores: int) -> list[dict]:
    """Wall time on 1-64 nodes: total work over the workers, but never below the longest stack, plus the
    driver's per-task cost (it writes results.csv once per finished stack)."""
    seconds = sorted((cost(cfg, g) * per_unit for g in config.stacks(cfg.jobs)), reverse=True)
    total, longest = sum(seconds), seconds[0]
    rows = []
    for nodes in (1, 4, 16, 64):
        workers = nodes * cores
        spread = total / workers
        wall = max(spread, longest) + len(seconds) * overhead
        rows.append(
            {
                "nodes": nodes,
                "workers": workers,
                "hours": wall / 3600,
                "stacks": len(seconds),
                "bound_by": "total work / workers" if spread >= longest else "the longest stack",
            }
        )
    return rows


def run_cli(args: argparse.Namespace) -> int:
    for name in ("stacks", "workers", "probes"):
        if getattr(args, name) < 1:
            raise UserError(f"--{name} must be >= 1")
    cfg = config.load(args.config)
    groups = chosen_stacks(cfg, args.stacks)
    cfg.jobs = [job for g in groups for job in g]  # only these stacks, the same for both executors
    times: dict[str, float] = {}
    stack_seconds: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("local", "ray"):
            out = Path(tmp) / name
            executor = executors.make(name, None, args.workers if name == "ray" else None)
            marks = [0.0]

            def mark(stats, marks=marks):
                marks.append(stats["seconds"])

            try:
                with output_lock.hold(out):
                    stats = sweep.run(cfg, out, progress=False, executor=executor, threads=1, on_stack=mark)
                times[name] = stats["seconds"]
                if name == "local":
                    stack_seconds = [b - a for a, b in zip(marks, marks[1:], strict=False)]
                else:
                    rows = [[{"job": "x"}] * len(g) for g in groups]
                    probe = [executors.Task(f"probe {i}", _echo, (rows[i % len(rows)],)) for i in range(args.probes)]
                    lat = []
                    for task in probe:  # one at a time: the round trip of one task, no queueing
                        t0 = time.perf_counter()
                        executor.run([task], lambda *_: None)
                        lat.append(time.perf_counter() - t0)
                    times["overhead"] = statistics.median(lat)
            finally:
                if hasattr(executor, "close"):
                    executor.close()
    median_stack = statistics.median(stack_seconds)
    model = statistics.median(s / cost(cfg, g) for s, g in zip(stack_seconds, groups, strict=True))
    result = {
        "config": args.config,
        "stacks": len(groups),
        "fits": len(cfg.jobs),
        "workers": args.workers,
        "local_seconds": times["local"],
        "ray_seconds": times["ray"],
        "ratio": times["ray"] / times["local"],
        "per_task_overhead_seconds": times["overhead"],
        "median_stack_seconds": median_stack,
        "overhead_fraction": times["overhead"] / median_stack,
        "seconds_per_cost_unit": model,
        "stack_seconds": stack_seconds,
    }
    print(f"{len(groups)} stacks ({len(cfg.jobs)} fits) of {args.config}\n")
    print("| executor | wall s | vs local |\n| --- | ---: | ---: |")
    print(f"| local (this process) | {times['local']:.1f} | 1.00 |")
    print(f"| ray, {args.workers} workers × 1 thread | {times['ray']:.1f} | {result['ratio']:.2f} |")
    print(
        f"\nper-task overhead {times['overhead'] * 1e3:.0f} ms = {100 * result['overhead_fraction']:.1f}% of the "
        f"median stack ({median_stack:.1f} s); cost model {model:.3e} s per model·param·point·step"
    )
    result["estimate"] = estimate(config.load(args.estimate), model, times["overhead"], args.cores_per_node)
    print(f"\nestimated wall time of {args.estimate} ({args.cores_per_node} cores per node, 1 thread per task):\n")
    print("| nodes | workers | hours | bound by |\n| ---: | ---: | ---: | --- |")
    for row in result["estimate"]:
        print(f"| {row['nodes']} | {row['workers']} | {row['hours']:.1f} | {row['bound_by']} |")
    write_json(args.json, {"result": result, "provenance": provenance(vars(args))})
    print(f"json: {args.json}")
    return 0
