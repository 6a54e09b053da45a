"""How the portfolio picks its start, compared on the tuning cells only: which score finds the best candidate.

    .venv/bin/python benchmarks/selection_rules.py [--limit N] [--json FILE]

For every *tuning* cell of ``polylab bench robustness`` at P ≈ 300 (the held-out targets are never
run here) the portfolio's candidates train exactly as ``approx.fit`` trains them, on 7/8 of the
training points. Each candidate's validation sup error, probe overshoot (beyond the training values'
range), excess beyond the data's band (``portfolio.band``) and error on the dense held-out grid are
recorded, and each rule picks a candidate from the first three alone. A rule's
regret in a cell is the grid error of its pick over that of the best candidate (before the polish,
which every rule shares). Cells with a single candidate have nothing to choose and are left out.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from experiments.atomic_io import write_json
from experiments.bench.robustness import SMALL, Cell, cells
from experiments.provenance import provenance

Candidates = dict[str, dict[str, float]]  # start -> {"sup", "over", "band", "grid"}


def _excess(c: Candidates, name: str) -> float:
    return c[name]["over"] - min(v["over"] for v in c.values())


#: score of candidate ``name`` among the cell's candidates ``c``; the smallest is picked
RULES: dict[str, Callable[[Candidates, str], float]] = {
    "max(sup, overshoot)": lambda c, n: max(c[n]["sup"], c[n]["over"]),
    "sup": lambda c, n: c[n]["sup"],
    "max(sup, excess overshoot)": lambda c, n: max(c[n]["sup"], _excess(c, n)),
    "max(sup, excess beyond the data's band)": lambda c, n: max(c[n]["sup"], c[n]["band"]),
}


def run_cell(cell: Cell) -> tuple[str, Candidates]:
    import torch

    from approx.fitting import metrics, portfolio, stack
    from approx.fitting.expression import expression_target
    from approx.fitting.models import Activation, Architecture, width_for_params

    torch.set_num_threads(1)
    target, d = expression_target(cell.case.expr, cell.case.d), cell.case.d
    act = Activation.parse(cell.activation)
    arch = Architecture(d, width_for_params(cell.params, d, cell.depth, act), cell.depth, act)
    request = stack.Request(arch, (target,), (cell.seed,), stack.training_points(d, arch.size))
    train_part, val_part = portfolio.split(*stack.sample_points(request))
    runs = portfolio.train_candidates(arch, [cell.seed], train_part, val_part, request.candidates, portfolio.Engine())
    x_test, y_test = stack.held_out(target, stack.default_test_points(d))
    where, seen, out = portfolio.band(train_part, portfolio.probe_points(d)), train_part[1].double(), {}
    for name, run in runs.items():
        sup, band = portfolio.validation_errors(arch, run, val_part, where)
        values = metrics.predict(arch, run.theta.double(), where.points)
        over = torch.maximum(values.amax(1) - seen.amax(1), seen.amin(1) - values.amin(1)).clamp(min=0)
        grid = (metrics.predict(arch, run.theta.double(), x_test) - y_test).abs().amax(1)
        out[name] = {"sup": float(sup[0]), "over": float(over[0]), "band": float(band[0]),
                     "grid": float(grid[0] / y_test.abs().max())}  # fmt: skip
    return cell.key, out


def regrets(found: dict[str, Candidates], rule: Callable[[Candidates, str], float]) -> list[float]:
    """Per cell with a choice, the grid error of the rule's pick over the best candidate's."""
    out = []
    for c in found.values():
        ok = {n: v for n, v in c.items() if math.isfinite(v["sup"]) and math.isfinite(v["over"])}
        if len(c) > 1 and ok:
            pick = min(ok, key=lambda n: rule(ok, n))
            out.append(c[pick]["grid"] / min(v["grid"] for v in ok.values()))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--limit", type=int, default=0, help="the first N tuning cells only (a smoke run)")
    p.add_argument("--json", help="write every candidate's numbers here")
    args = p.parse_args()
    todo = [c for c in cells(role="tuning") if c.params == SMALL][: args.limit or None]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        found = dict(pool.map(run_cell, todo))
    print("| rule | cells with a choice | best pick (≤ 1.1×) | geometric-mean regret | regret > 2× | worst |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, rule in RULES.items():
        r = regrets(found, rule)
        if r:
            mean = math.exp(sum(map(math.log, r)) / len(r))
            best, bad = sum(x <= 1.1 for x in r), sum(x > 2 for x in r)
            print(f"| {name} | {len(r)} | {best} | {mean:.3f} | {bad} | {max(r):.3g} |")
    if args.json:
        write_json(args.json, {"candidates": found, **provenance(vars(args), 0)})


if __name__ == "__main__":
    main()
