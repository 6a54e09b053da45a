"""``polylab bench NAME``: benchmarks that print a table (record them in benchmarks/RESULTS.md).

Each benchmark is a module with ``add_NAME_arguments(parser)`` and ``run_cli(args)``; add yours to BENCHES.
"""

from __future__ import annotations

import argparse
import importlib

HELP = "benchmarks: fitting engine (sweep), precision, robustness of the defaults, executors, kernels, certify"

#: benchmark name -> (module with add_arguments/run, one-line help)
BENCHES: dict[str, tuple[str, str]] = {
    "sweep": ("experiments.bench.sweep", "fitting engine: stacked vs one-at-a-time, FLOP/s vs matmul rate"),
    "precision": ("experiments.bench.precision", "error at equal wall time: engine vs torch loop vs pykan"),
    "robustness": (
        "experiments.bench.robustness",
        "the defaults vs the plain torch loop in every d × depth × activation",
    ),
    "executor": ("experiments.bench.executor", "Ray executor vs local on the same stacks; per-task overhead"),
    "kernels": ("experiments.bench.kernels", "PolyReLU/PolyNorm forward+backward: every impl, time and saved memory"),
    "certify": ("experiments.bench.certify", "a trained network's certified sup error: cost, gap, IBP baseline"),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="bench", metavar="NAME", required=False)  # none: run them all
    for name, (module, help_) in BENCHES.items():
        q = sub.add_parser(name, help=help_, description=help_)
        mod = importlib.import_module(module)
        getattr(mod, f"add_{name}_arguments")(q)


def run(args: argparse.Namespace) -> int:
    if args.bench is None:  # `polylab bench` (what `make bench` runs): every benchmark on its defaults
        parser = argparse.ArgumentParser(prog="polylab bench")
        add_arguments(parser)
        return max(run(parser.parse_args([name])) for name in BENCHES)
    return importlib.import_module(BENCHES[args.bench][0]).run_cli(args)
