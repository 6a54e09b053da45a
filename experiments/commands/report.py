"""``polylab report DIR``: summary.json, figures and report.md from a rates run's results.csv."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.user_errors import UserError

HELP = "write a Markdown report (slope table, figures) of a rates run"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="output folder of `polylab rates` (holds results.csv and config.toml)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the slope CIs (default 1000)")


def run(args: argparse.Namespace) -> int:
    from experiments import output_lock, rate_report
    from experiments.atomic_io import remove_temp_files

    out = Path(args.dir)
    if not out.is_dir():
        raise UserError(f"no such folder: {out}")
    if args.boot < 0:
        raise UserError(f"--boot must be >= 0, got {args.boot}")
    with output_lock.hold(out):
        for stray in remove_temp_files(out):
            print(f"note: removed {stray}, a temp file left by a killed run")
        summary = rate_report.write_all(out, boot=args.boot)
    print(f"{summary['rows']} fits, {len(summary['fits'])} rate fits → {out / 'report.md'}")
    return 0
