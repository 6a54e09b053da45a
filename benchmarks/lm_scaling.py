"""Levenberg–Marquardt's damping matrix D = diag JᵀJ + c·mean(diag), chosen on the tuning cells only.

    .venv/bin/python benchmarks/lm_scaling.py --lift 1e-16 1e-4 1e-2 1e4 [--json FILE]

c ≈ 0 is Marquardt's scaling, a large c Levenberg's isotropic damping (λ absorbs the factor). For each
c, ``approx.fit``'s defaults run on every *tuning* cell of ``polylab bench robustness`` at P ≈ 300
(the held-out targets are never run here), and each error is divided into the plain loop's error
recorded for that cell in ``--against`` (a committed robustness run): the median ratio and the
number of cells below 1×. Two worker processes, one thread each, as in the benchmark.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from experiments.atomic_io import write_json
from experiments.bench.robustness import SMALL, Cell, cells
from experiments.provenance import provenance


def run_cell(job: tuple[float, Cell]) -> tuple[str, float]:
    import torch

    import approx
    from approx.fitting.expression import expression_target
    from approx.fitting.models import Activation
    from approx.fitting.optim import levenberg_marquardt

    lift, cell = job
    torch.set_num_threads(1)
    levenberg_marquardt.LIFT = lift  # this worker process only
    target = expression_target(cell.case.expr, cell.case.d)
    act = Activation.parse(cell.activation)
    fit = approx.fit(target, activation=act, params=cell.params, depth=cell.depth, seed=cell.seed)
    return cell.key, fit.sup_error


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lift", type=float, nargs="+", default=[1e-16, 1e-4, 1e-2, 1e4])
    p.add_argument("--against", default="benchmarks/robustness/robustness.json", help="the loop's errors per cell")
    p.add_argument("--limit", type=int, default=0, help="the first N tuning cells only (a smoke run)")
    p.add_argument("--json", help="write every cell's error here")
    args = p.parse_args()
    with open(args.against) as f:
        recorded = json.load(f)["cells"]
    loop = {c["key"]: c["loop"] for c in (recorded.values() if isinstance(recorded, dict) else recorded)}
    todo = [c for c in cells(role="tuning") if c.params == SMALL][: args.limit or None]
    rows, errors = [], {}
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        for lift in args.lift:
            start = time.perf_counter()
            errors[lift] = dict(pool.map(run_cell, [(lift, c) for c in todo]))
            ratios = [loop[k] / e for k, e in errors[lift].items()]
            below = sum(r < 1 for r in ratios)
            rows.append((lift, statistics.median(ratios), below, len(ratios), time.perf_counter() - start))
    print("| c (LIFT) | median loop / defaults | cells below 1× | cells | seconds |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for lift, median, below, n, seconds in rows:
        print(f"| {lift:g} | {median:.3g}× | {below} | {n} | {seconds:.0f} |")
    if args.json:
        table = {str(k): v for k, v in errors.items()}
        write_json(args.json, {"errors": table, **provenance(vars(args), 0)})


if __name__ == "__main__":
    main()
