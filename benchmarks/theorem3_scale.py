"""Theorem 3 at scale: build + export of the exact PolyReLU network, and float64 evaluation.

Goals: 1-D N = 1024 and 2-D N = 64 each build + export in <= 60 s on a 2-core CPU; exported networks
evaluate at 10^6 points (CPU or GPU). Prints a Markdown table; run from the repository root:

    .venv/bin/python benchmarks/theorem3_scale.py [--device cpu] [--points 1000000] [--json FILE]

Each case: parse (+ certified norm), build (``theory.theorem3.build``), export (``theory.export.to_torch``),
then evaluate at ``--points`` random points and compare with f_N evaluated directly. ``--evaluator
block`` (default, ``experiments.constructions.block_evaluation``) evaluates per grid cell only the product
trees of the terms active there; ``layered`` is the generic batched CSR pass
(``experiments.constructions.theorem3_rates.evaluate``), whose cost is width × points (10^4-10^5 units wide here).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from experiments.atomic_io import write_json
from experiments.constructions.block_evaluation import BlockEvaluator
from experiments.constructions.theorem3_rates import evaluate
from experiments.provenance import provenance
from theory import theorem3 as T3
from theory.export import to_torch
from theory.sobolev.target import SobolevTarget

CASES = {
    "1d-N1024": ("sin(pi*x0)", 1, 2, 1024),
    "2d-N64": ("sin(pi*x0)*cos(pi*x1)", 2, 2, 64),
    "1d-N64": ("sin(pi*x0)", 1, 2, 64),
    "2d-N16": ("sin(pi*x0)*cos(pi*x1)", 2, 2, 16),
}


def run_case(name: str, points: int, device: str, seed: int, evaluator: str = "block") -> dict:
    text, d, n, N = CASES[name]
    t0 = time.perf_counter()
    target = SobolevTarget.parse(text, d, n)
    t1 = time.perf_counter()
    built = T3.build(target, N, "per_neuron")
    t2 = time.perf_counter()
    module = to_torch(built.network)
    t3 = time.perf_counter()
    row = {
        "case": name,
        "target": text,
        "d": d,
        "n": n,
        "N": N,
        "neurons": built.sizes.neurons,
        "nonzero_parameters": built.sizes.nonzero_parameters,
        "closed_form_matches": built.sizes.neurons == built.closed_form().neurons,
        "parse_s": t1 - t0,
        "build_s": t2 - t1,
        "export_s": t3 - t2,
        "build_export_s": t3 - t0,
    }
    if points:
        X = np.random.default_rng(seed).random((points, d))
        t4 = time.perf_counter()
        y = BlockEvaluator(built, module)(X) if evaluator == "block" else evaluate(module, X, device)
        row["evaluator"] = evaluator
        row["eval_points"] = points
        row["eval_s"] = time.perf_counter() - t4
        row["max_abs_vs_fN"] = float(np.max(np.abs(y - built.approximant.values_float(X))))
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="1d-N1024,2d-N64", help=f"comma-separated, from {', '.join(CASES)}")
    p.add_argument("--eval-cases", default="1d-N1024,2d-N64", help="cases evaluated at --points points")
    p.add_argument("--points", type=int, default=1_000_000)
    p.add_argument("--device", default="cpu", help="device of the layered pass (the block pass is CPU numpy)")
    p.add_argument(
        "--evaluator",
        choices=("block", "layered"),
        default="block",
        help="block: per grid cell, the active terms' trees only (default); layered: all units",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    rows = []
    evals = set(args.eval_cases.split(","))
    print(
        "| case | neurons | nonzero params | build s | export s | build+export s | eval points | eval s "
        "| max abs(net − f_N) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        row = run_case(name, args.points if name in evals else 0, args.device, args.seed, args.evaluator)
        rows.append(row)
        ev = (
            f"{row['eval_points']:,} | {row['eval_s']:.1f} | {row['max_abs_vs_fN']:.1e}"
            if "eval_s" in row
            else "- | - | -"
        )
        print(
            f"| {name} | {row['neurons']:,} | {row['nonzero_parameters']:,} | {row['build_s']:.1f} | "
            f"{row['export_s']:.1f} | {row['build_export_s']:.1f} | {ev} |",
            flush=True,
        )
    if args.json:
        write_json(args.json, {"rows": rows, "provenance": provenance(vars(args), args.seed, args.device)})


if __name__ == "__main__":
    main()
