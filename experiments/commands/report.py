"""``polylab report DIR``: the report of a finished run, from its files alone.

A rates run (``results.csv`` and ``config.toml``) gets summary.json, figures and report.md; an LM
study (``study.json`` and ``runs/``) gets results.csv, its figures and report.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.user_errors import UserError

HELP = "write the Markdown report and figures of a rates run or an LM study"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="output folder of `polylab rates` (results.csv) or `polylab lm` (study.json, runs/)")
    p.add_argument("--boot", type=int, default=1000, help="bootstrap resamples for the slope CIs (default 1000)")


def run(args: argparse.Namespace) -> int:
    from experiments import output_lock
    from experiments.atomic_io import remove_temp_files
    from experiments.rates import report as rate_report

    out = Path(args.dir)
    if not out.is_dir():
        raise UserError(f"no such folder: {out}")
    if args.boot < 0:
        raise UserError(f"--boot must be >= 0, got {args.boot}")
    with output_lock.hold(out):
        for stray in remove_temp_files(out):
            print(f"note: removed {stray}, a temp file left by a killed run")
        if (out / "study.json").exists() and (out / "runs").is_dir():
            return lm(out)
        summary = rate_report.write_all(out, boot=args.boot)
    print(f"{rate_report.headline(summary)} → {out / 'report.md'}")
    return 0


def lm(out: Path) -> int:
    from experiments.transformer import report as lm_report
    from experiments.transformer import study as lm_study

    runs = lm_study.load_runs(out)
    if not runs:
        raise UserError(f"{out} holds no finished runs")
    for path in lm_report.write_all(out, runs):
        print(f"wrote {path}")
    return 0
