"""``polylab rates CONFIG --out DIR``: run a rate sweep, then write summary.json, figures and report.md."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from experiments import executors
from experiments.user_errors import UserError

HELP = "fit target functions and measure error against parameter count (TOML config; resumable)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="sweep config (TOML), e.g. experiments/configs/quick.toml")
    p.add_argument("--out", required=True, help="output folder: results.csv, summary.json, figures/, report.md")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--resume", action="store_true", help="continue a run in --out, skipping finished fits")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true", help="torch.compile the activations (same values, faster)")
    p.add_argument("--allow-large", action="store_true", help="run even if the memory estimate exceeds the limit")
    p.add_argument("--dry-run", action="store_true", help="check the config and the memory estimate, then stop")
    executors.add_arguments(p, "each stack")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per stack (Ray: CPUs per task; default 1 with Ray, torch's own locally)",
    )


def run(args: argparse.Namespace) -> int:
    from experiments import output_lock, resources
    from experiments.rates import config, memory
    from experiments.rates import run as sweep

    cfg = config.load(args.config, compile=args.compile)  # every config error surfaces here, before any fit
    sweep.check_device(args.device, cfg.dtype)
    out = Path(args.out)
    print(
        f"{cfg.name}: {len(cfg.jobs)} fits ({len(cfg.targets)} targets × {len(cfg.activations)} activations × "
        f"{len(cfg.sizes)} sizes × {len(cfg.seeds)} seeds) → {out}"
    )
    estimates = memory.estimates(cfg)
    resources.check(estimates, args.device, args.allow_large)  # before the lock: a refused run touches nothing
    if args.dry_run:
        peak = max(e.bytes for e in estimates)
        print(f"config OK; estimated peak memory {peak / 2**20:.0f} MiB (dry run: nothing written)")
        return 0
    if args.threads is not None and not 1 <= args.threads <= 1024:
        raise UserError(f"--threads must be an integer in 1..1024, got {args.threads}")
    with output_lock.hold(out):
        return _run(args, cfg, out)


def _run(args: argparse.Namespace, cfg, out: Path) -> int:
    from experiments.atomic_io import write_json
    from experiments.provenance import provenance
    from experiments.rates import report as rate_report
    from experiments.rates import run as sweep

    threads = args.threads or 1
    if args.executor == "local" and args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    executor = executors.make(args.executor, args.address)

    runs_file = out / "run.json"
    history = []
    if args.resume and runs_file.exists():
        history = _history(runs_file)
    this_run = provenance(cfg.name, None, args.device) | {"compile": cfg.compile, **executor.describe()}
    if args.executor == "ray":
        this_run["threads_per_task"] = threads
    start = time.perf_counter()

    def record(stats: dict) -> None:  # after every stack, so a killed run keeps its wall time
        this_run.update(wall_seconds=round(time.perf_counter() - start, 1), fits_run=stats["ran"])
        runs = [*history, this_run]
        total = round(sum(r.get("wall_seconds", 0) for r in runs), 1)
        write_json(runs_file, {"config": args.config, "total_wall_seconds": total, "runs": runs})

    progress = not args.no_progress
    try:
        stats = sweep.run(
            cfg,
            out,
            args.device,
            args.resume,
            progress=progress,
            on_stack=record,
            allow_large=args.allow_large,
            executor=executor,
            threads=threads,
        )
    finally:
        if hasattr(executor, "close"):
            executor.close()
    this_run["nodes"] = stats["nodes"]  # job -> node it ran on
    this_run["failed"] = [{"stack": f.key, "error": f.error} for f in stats["failures"]]
    record(stats)
    wall = time.perf_counter() - start
    print(f"{stats['ran']} fits in {wall:.0f} s; {stats['done']} in {out / 'results.csv'}")
    for f in stats["failures"]:
        print(f"FAILED: stack {f.key}: {f.error} (its fits are not in results.csv; --resume runs them again)")
    summary = rate_report.write_all(out, cfg)
    print(f"{rate_report.headline(summary)}; summary: {out / 'summary.json'}  report: {out / 'report.md'}")
    return 1 if stats["failures"] else 0


def _history(runs_file: Path) -> list[dict]:
    """The earlier runs recorded in run.json (provenance of each resumed session)."""
    from experiments.inputs import read_json

    record = read_json(runs_file)
    runs = record.get("runs") if isinstance(record, dict) else None
    if not isinstance(runs, list) or not all(isinstance(r, dict) for r in runs):
        raise UserError(f"{runs_file}: 'runs' is not a list of run records")
    return runs
