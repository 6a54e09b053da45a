"""``polylab lm``: the transformer FFN study (docs/theory.md §6) — train, analyse, write CSV, figures, report."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import torch

from experiments import executors, output_lock
from experiments.transformer import study as lm_study
from experiments.user_errors import UserError

HELP = (
    "transformer FFN study: PolyCom vs ReLU, GELU, SwiGLU in a small byte-level LM "
    "(presets: tiny, cpu, gpu, moe_cpu, order_cpu)"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="preset (tiny, cpu, gpu, moe_cpu, order_cpu) or a TOML study config")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="keep finished runs in OUT/runs and run only the rest")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on cuda)")
    p.add_argument("--corpus", help="text file or directory to train on instead of the config's (default: stdlib)")
    p.add_argument("--steps", type=int, help="override train.steps (e.g. a quick check)")
    p.add_argument("--variants", help="comma-separated subset of the config's variants")
    p.add_argument(
        "--threads", type=int, help="torch CPU threads (on a CPU shared with other jobs, 1 is often fastest)"
    )
    p.add_argument("--report-only", action="store_true", help="rewrite CSV, figures and report from OUT/runs")
    p.add_argument("--allow-large", action="store_true", help="run even if the memory estimate exceeds the limit")
    executors.add_arguments(p, "each (variant, seed)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.threads is not None:
        if args.threads < 1:
            raise UserError(f"--threads must be >= 1, got {args.threads}")
        if args.executor == "local":
            torch.set_num_threads(args.threads)
    overrides = {}
    if args.steps is not None:
        if args.steps < 1:
            raise UserError(f"--steps must be >= 1, got {args.steps}")
        overrides["train.steps"] = args.steps
        overrides["train.warmup"] = min(args.steps // 10, lm_study.load_study(args.config).train.get("warmup", 0))
        overrides["train.eval_interval"] = max(1, min(args.steps // 2, 100))
    if args.variants:
        known = {v.name: v for v in lm_study.load_study(args.config).variants}
        chosen = [n.strip() for n in args.variants.split(",") if n.strip()]
        bad = [n for n in chosen if n not in known]
        if bad:
            raise UserError(f"unknown variant(s) {', '.join(bad)}; config has {', '.join(known)}")
        overrides["study.variants"] = [dataclasses.asdict(known[n]) for n in chosen]
    if args.report_only and not out.is_dir():
        raise UserError(f"no such folder: {out}")
    failed = False
    with output_lock.hold(out):
        if not args.report_only:
            executor = executors.make(args.executor, args.address)
            try:
                lm_study.run_study(
                    args.config,
                    out,
                    resume=args.resume,
                    device=args.device,
                    corpus=args.corpus,
                    overrides=overrides,
                    allow_large=args.allow_large,
                    executor=executor,
                    threads=args.threads or 1,
                )
            except lm_study.RunsFailed as err:
                print(f"error: {err}")
                failed = True
            finally:
                if hasattr(executor, "close"):
                    executor.close()
        from experiments.transformer import report as lm_report  # after training: the report needs only the run files

        runs = lm_study.load_runs(out)
        if not runs:
            raise UserError(f"{out} holds no finished runs")
        for path in lm_report.write_all(out, runs):
            print(f"wrote {path}")
    return 1 if failed else 0
