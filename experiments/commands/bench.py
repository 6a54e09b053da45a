"""``polylab bench NAME``: benchmarks that print a table (record them in benchmarks/RESULTS.md).

Each benchmark is a module with ``add_arguments(parser)`` and ``run(args)``; add yours to BENCHES.
"""

from __future__ import annotations

import argparse
import importlib

HELP = "benchmarks: fitting engine (sweep), precision fitting (precision), executors (executor)"

#: benchmark name -> (module with add_arguments/run, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "sweep": ("experiments.commands.bench", "fitting engine: stacked vs one-at-a-time, FLOP/s vs matmul rate"),
    "precision": ("experiments.bench_precision", "error at equal wall time: engine vs torch loop vs pykan"),
    "executor": ("experiments.bench_executor", "Ray executor vs local on the same stacks; per-task overhead"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="NAME", required=False)  # none: run them all
    for name, (module, help_) in BENCHES.items():
        q = sub.add_parser(name, help=help_, description=help_)
        mod = importlib.import_module(module)
        getattr(mod, f"add_{name}_arguments", getattr(mod, "add_bench_arguments", None))(q)


def add_sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--widths", type=int, nargs="+", default=[8, 32, 128], help="widths to compare (default 8 32 128)")
    p.add_argument("--models", type=int, default=64, help="models per stack (default 64)")
    p.add_argument("--points", type=int, default=1024, help="training points (default 1024)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers (default 2)")
    p.add_argument("--repeats", type=int, default=7, help="timed passes per measurement (default 7)")
    p.add_argument("--steps", type=int, default=10, help="Adam steps timed on the paper models (default 10)")
    p.add_argument("--no-compiled", action="store_true", help="skip the torch.compile column (saves ~1-2 min)")


def run(args: argparse.Namespace) -> int:
    if args.bench is None:  # `polylab bench` (what `make bench` runs): every benchmark on its defaults
        parser = argparse.ArgumentParser(prog="polylab bench")
        add_arguments(parser)
        return max(run(parser.parse_args([name])) for name in BENCHES)
    if args.bench == "sweep":
        from experiments import bench_sweep

        for name in ("widths", "models", "points", "depth", "repeats", "steps"):
            values = getattr(args, name)
            if any(v < 1 for v in (values if isinstance(values, list) else [values])):
                raise ValueError(f"--{name} must be >= 1")
        bench_sweep.run(
            tuple(args.widths),
            args.models,
            args.points,
            args.depth,
            args.repeats,
            args.steps,
            compiled=not args.no_compiled,
        )
        return 0
    module = importlib.import_module(BENCHES[args.bench][0])
    return module.run(args)
