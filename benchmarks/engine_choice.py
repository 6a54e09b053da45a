"""Whether a change of the engine's defaults pays, measured on the robustness tuning cells only.

    .venv/bin/python benchmarks/engine_choice.py VARIANT --dims 1 2 3 [--against FILE] [--json FILE]

Every *tuning* cell of ``polylab bench robustness`` at P ≈ 300 in the chosen dimensions (the held-out
targets are never run here) runs both sides, the defaults and the plain loop, with one change made in
the worker processes only:

- ``arcsine``: arcsine training points (``approx.fitting.targets.arcsine``) in every dimension;
- ``lbfgs-first``: the uniform start's schedule gains an L-BFGS phase between Adam and
  Levenberg–Marquardt (``approx.fitting.schedule.LBFGS_FIRST``);
- ``long-lm``: every Levenberg–Marquardt phase of the default schedules may take :data:`LONG_LM`
  steps, stopping earlier where 50 steps gain less than 0.1% (``patience``), within its budget;
- ``long-final``: the same for the last training only, the winner's polish on every point (or a
  lone candidate's schedule), while the candidates race as before;

(``smooth-knees``, the knees for GELU and tanh in the portfolio, was a variant here until it became
the default at fa29fd2; run it at 8b43959.)

``--against`` is a robustness run made without the change (default: the committed one; for
``arcsine`` in d = 3, the run before arcsine points became the default there:
``git show 4a03b97:benchmarks/robustness/robustness.json > before.json``). Per dimension: the
geometric-mean factor by which the defaults' error falls, the median ratio loop / defaults and the
cells below 0.99×, without → with the change. Two worker processes, one thread each, as in the
benchmark.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics

from experiments.atomic_io import write_json
from experiments.bench.robustness import SMALL, Cell, cells, run
from experiments.provenance import provenance


def arcsine_cell(cell: Cell) -> dict:
    from approx.fitting import targets
    from experiments.bench.robustness import run_cell

    targets.ARCSINE_FROM = 1  # "auto" takes arcsine points in every dimension, in this worker only
    return run_cell(cell)


def lbfgs_first_cell(cell: Cell) -> dict:
    from approx.fitting import portfolio, schedule
    from experiments.bench.robustness import run_cell

    portfolio.UNIFORM_SCHEDULE = schedule.LBFGS_FIRST  # in this worker only
    return run_cell(cell)


def longer(phases: tuple) -> tuple:
    """``phases`` with every Levenberg–Marquardt phase allowed :data:`LONG_LM` steps, until it stalls."""
    return tuple(
        dataclasses.replace(p, steps=LONG_LM, patience=50, min_delta=1e-3) if p.optimizer == "lm" else p for p in phases
    )


def long_lm_cell(cell: Cell) -> dict:
    from approx.fitting import portfolio, schedule
    from experiments.bench.robustness import run_cell

    for name in ("UNIFORM_SCHEDULE", "KINKS_SCHEDULE", "GROWN_SCHEDULE", "POLISH_SCHEDULE"):  # in this worker only
        setattr(portfolio, name, longer(getattr(schedule, name)))
    return run_cell(cell)


def long_final_cell(cell: Cell) -> dict:
    from approx.fitting import portfolio, schedule
    from experiments.bench.robustness import run_cell

    race = portfolio.fit

    def final_long(arch, seeds, x, y, candidates, engine):  # a lone candidate is its own final training
        if len(candidates) == 1:
            candidates = (dataclasses.replace(candidates[0], phases=longer(candidates[0].phases)),)
        return race(arch, seeds, x, y, candidates, engine)

    portfolio.POLISH_SCHEDULE, portfolio.fit = longer(schedule.POLISH_SCHEDULE), final_long  # in this worker only
    return run_cell(cell)


#: the ``long-lm`` and ``long-final`` variants' step cap of a Levenberg–Marquardt phase
LONG_LM = 3000
VARIANTS = {
    "arcsine": arcsine_cell,
    "lbfgs-first": lbfgs_first_cell,
    "long-lm": long_lm_cell,
    "long-final": long_final_cell,
}


def table(base: dict[str, dict], new: dict[str, dict], dims: list[int]) -> str:
    lines = [
        "| d | cells | defaults' error, without / with (geometric mean) | median ratio, without → with "
        "| below 0.99×, without → with |",
        "| ---: | ---: | ---: | --- | --- |",
    ]
    for d in dims:
        keys = [k for k, row in new.items() if row["d"] == d]
        gain = math.exp(statistics.fmean(math.log(base[k]["ours"] / new[k]["ours"]) for k in keys))
        before, after = [base[k]["ratio"] for k in keys], [new[k]["ratio"] for k in keys]
        lines.append(
            f"| {d} | {len(keys)} | {gain:.2f}× | {statistics.median(before):.3g}× → {statistics.median(after):.3g}× "
            f"| {sum(r < 0.99 for r in before)} → {sum(r < 0.99 for r in after)} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("variant", choices=sorted(VARIANTS))
    p.add_argument("--dims", type=int, nargs="+", default=[1, 2, 3], choices=(1, 2, 3))
    p.add_argument("--against", default="benchmarks/robustness/robustness.json", help="a run without the change")
    p.add_argument("--json", help="write every cell of the run with the change here")
    p.add_argument("--activations", nargs="+", help="only the cells of these activations (a change for them alone)")
    p.add_argument("--large", action="store_true", help="the P ≈ 3000 tuning cells as well")
    args = p.parse_args()
    with open(args.against) as f:
        base = {c["key"]: c for c in json.load(f)["cells"]}
    todo = [
        c
        for c in cells(role="tuning")
        if (c.params == SMALL or args.large)
        and c.case.d in args.dims
        and (not args.activations or c.activation in args.activations)
    ]
    new = run(todo, {}, lambda rows: None, worker=VARIANTS[args.variant])
    print(table(base, new, args.dims))
    for key, row in sorted(new.items()):
        print(f"{key}: defaults {base[key]['ours']:.2e} → {row['ours']:.2e} (loop {row['loop']:.2e})")
    if args.json:
        write_json(args.json, {"cells": list(new.values()), **provenance(vars(args), 0)})


if __name__ == "__main__":
    main()
