"""``polylab bench robustness``: the defaults against the plain torch loop in every cell, tuned or not.

A cell is (d, depth, activation, target, P). In each, ``approx.fit`` runs on its defaults, and the
plain loop (experiments/bench/plain_loop.py) gets the same network, the same training points and the
same wall time; the cell's number is the ratio loop error / default error of the relative sup error
on the dense held-out grid (> 1: the defaults win).

- d ∈ {1, 2, 3} × depth ∈ {1, 2, 3} × eight activations at P ≈ 300, one seed;
- P ≈ 3000 on a fixed subset: depth 2, d ∈ {1, 2}, PolyReLU and GELU, one tuning and one held-out
  target per dimension (four activations at first; halved before any held-out run, to keep the
  benchmark within an hour);
- four targets per dimension: two **tuning** targets, on which the defaults may be chosen, and two
  **held-out** targets, fixed in this file before any tuning and never used for a choice: a kink off
  the grid and the axes, an analytic target, a steep front, a product of factors.

``--quick`` is the inner loop of development: d ∈ {1, 2}, depth ∈ {1, 2}, four activations and the
tuning targets only (``--role all`` adds the held-out ones). Results: ``OUT/robustness.json`` (every
cell, with provenance), ``OUT/robustness.png`` (a map of the ratios) and Markdown tables per d and
depth. Two worker processes, one thread each, run the cells; within a cell both sides run in the same
process one after the other.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from experiments.user_errors import UserError


@dataclass(frozen=True)
class Case:
    """A target of the benchmark; ``role`` says whether a default may be chosen on it."""

    expr: str
    d: int
    role: str  # "tuning" | "held-out"
    kind: str  # analytic | kink | front | product


#: fixed before any tuning; the held-out targets are never used to choose a default
CASES = (
    Case("1/(1+25*(2*x0-1)**2)", 1, "tuning", "analytic"),
    Case("abs(x0-0.3)**2.5", 1, "tuning", "kink"),
    Case("tanh(30*(x0-0.613))", 1, "held-out", "front"),
    Case("abs(x0-0.5813)**1.5*cos(4*x0)", 1, "held-out", "product"),
    Case("exp(sin(pi*(2*x0-1))+(2*x1-1)**2)", 2, "tuning", "analytic"),
    Case("abs(x0-x1)**2.5", 2, "tuning", "kink"),
    Case("tanh(12*(x0+0.7*x1-0.9))", 2, "held-out", "front"),
    Case("abs(x0+0.5*x1-0.71)**1.5*(1+x1)", 2, "held-out", "product"),
    Case("exp(-4*((x0-0.5)**2+(x1-0.4)**2+(x2-0.6)**2))", 3, "tuning", "analytic"),
    Case("abs(x0+x1-x2-0.3)**2.5", 3, "tuning", "kink"),
    Case("tanh(8*(x0*x1+x2-0.7))", 3, "held-out", "front"),
    Case("sin(2*x0)*cos(3*x1)*(x2+0.5)", 3, "held-out", "product"),
)
#: activation specs (approx/activations/table.py): every family the lab fits with
ACTIVATIONS = (
    "relu",
    "relu2",
    "polyrelu",
    {"name": "polyrelu", "coefficients": "per_neuron"},
    "polynomial",
    "polynorm",
    "gelu",
    "tanh",
)
QUICK_ACTIVATIONS = ("relu", "polyrelu", "polynorm", "gelu")
LARGE_ACTIVATIONS = ("polyrelu", "gelu")
DIMS, DEPTHS = (1, 2, 3), (1, 2, 3)
SMALL, LARGE = 300, 3000


@dataclass(frozen=True)
class Cell:
    case: Case
    activation: str | dict
    depth: int
    params: int
    seed: int = 0

    @property
    def key(self) -> str:
        act = self.activation if isinstance(self.activation, str) else "polyrelu_per_neuron"
        return f"d{self.case.d}|L{self.depth}|{act}|{self.case.expr}|P{self.params}|s{self.seed}"


def cells(quick: bool = False, role: str = "tuning", sizes: str = "all") -> list[Cell]:
    """The benchmark's cells: all of them, or the quick subset; ``role`` tuning | held-out | all;
    ``sizes`` all | small (P ≈ 300) | large (the P ≈ 3000 subset)."""
    chosen = [c for c in CASES if role == "all" or c.role == role]
    if quick:
        out = [Cell(c, a, L, SMALL) for c in chosen if c.d in (1, 2) for L in (1, 2) for a in QUICK_ACTIVATIONS]
    else:
        out = [Cell(c, a, L, SMALL) for c in chosen for L in DEPTHS for a in ACTIVATIONS]
        large = [
            c
            for d in (1, 2)
            for c in [next(x for x in CASES if x.d == d and x.role == r) for r in ("tuning", "held-out")]
        ]
        out += [Cell(c, a, 2, LARGE) for c in large if c in chosen for a in LARGE_ACTIVATIONS]
    wanted = {"all": (SMALL, LARGE), "small": (SMALL,), "large": (LARGE,)}[sizes]
    return [c for c in out if c.params in wanted]


def run_cell(cell: Cell) -> dict:
    """Both sides of one cell, in this process, one thread: the defaults, then the loop at equal time."""
    import torch

    import approx
    from approx.fitting import stack, targets
    from approx.fitting.expression import expression_target
    from experiments.bench.plain_loop import plain_loop

    torch.set_num_threads(1)
    target = expression_target(cell.case.expr, cell.case.d)
    start = time.perf_counter()
    ours = approx.fit(target, activation=_act(cell.activation), params=cell.params, depth=cell.depth, seed=cell.seed)
    seconds = time.perf_counter() - start
    x = targets.sample(cell.case.d, stack.training_points(cell.case.d, ours.arch.size), seed=cell.seed)  # ours
    x_test, y_test = stack.held_out(target, stack.default_test_points(cell.case.d))
    loop, _ = plain_loop(ours.arch, x, target(x), seconds, x_test, y_test, cell.seed)
    ratio = loop / ours.sup_error if ours.sup_error > 0 else math.inf
    return {
        **asdict(cell.case),
        "activation": ours.arch.activation.label,
        "depth": cell.depth,
        "params": ours.params,
        "seed": cell.seed,
        "key": cell.key,
        "ours": ours.sup_error,
        "loop": loop,
        "ratio": ratio,
        "seconds": seconds,
        "start": ours.start,
        "status": ours.status,
    }


def _act(spec: str | dict):
    from approx.fitting.models import Activation

    return Activation.parse(spec)


def run(
    todo: list[Cell],
    done: dict[str, dict],
    save: Callable[[dict[str, dict]], None],
    workers: int = 2,
    progress: bool = True,
    worker: Callable[[Cell], dict] = run_cell,
) -> dict[str, dict]:
    """Run ``worker`` (a module-level function) on every cell of ``todo`` not in ``done``, on ``workers``
    processes; ``save(done)`` after each."""
    from tqdm import tqdm

    todo = [c for c in todo if c.key not in done]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(worker, c) for c in todo]
        for future in tqdm(futures, disable=not progress, unit="cell", desc="robustness", dynamic_ncols=True):
            row = future.result()
            done[row["key"]] = row
            save(done)
    return done


def summary(rows: list[dict]) -> dict:
    """Goal numbers: cells below 1×, and the median ratio, overall and per dimension and role."""

    def stats(rs: list[dict]) -> dict:
        ratios = [r["ratio"] for r in rs]
        return {
            "cells": len(rs),
            "below_1x": sum(q < 1 for q in ratios),
            "median": statistics.median(ratios) if ratios else math.nan,
            "worst": min(ratios, default=math.nan),
        }

    out = {"all": stats(rows)}
    for d in DIMS:
        out[f"d={d}"] = stats([r for r in rows if r["d"] == d])
    for role in ("tuning", "held-out"):
        out[role] = stats([r for r in rows if r["role"] == role])
    return out


def tables(rows: list[dict]) -> str:
    """One Markdown table per (d, depth, P): activations down, targets across, ratio loop/defaults."""
    from experiments.markdown import table

    parts = []
    for d in DIMS:
        for params in (SMALL, LARGE):
            for depth in DEPTHS:
                here = [r for r in rows if r["d"] == d and r["depth"] == depth and _size(r) == params]
                if not here:
                    continue
                exprs = list(dict.fromkeys(r["expr"] for r in here))
                acts = list(dict.fromkeys(r["activation"] for r in here))
                by = {(r["activation"], r["expr"]): r for r in here}
                header = ["activation", *[f"{e} ({next(r['role'] for r in here if r['expr'] == e)})" for e in exprs]]
                body = [[a, *[_cell(by.get((a, e))) for e in exprs]] for a in acts]
                parts.append(f"**d = {d}, depth {depth}, P ≈ {params}** (loop error / default error)\n")
                parts.append(table(header, body) + "\n")
    return "\n".join(parts)


def _size(row: dict) -> int:
    return LARGE if row["key"].endswith(f"|P{LARGE}|s{row['seed']}") else SMALL


def _cell(row: dict | None) -> str:
    if row is None:
        return "—"
    return f"{row['ratio']:.3g}× ({row['ours']:.1e})"


def figure(rows: list[dict], path: Path) -> None:
    """A heat map of log10(loop / defaults): one panel per dimension, (depth, activation) down, targets across."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from experiments.atomic_io import save_figure

    small = [r for r in rows if _size(r) == SMALL]
    fig, axes = plt.subplots(1, len(DIMS), figsize=(5.2 * len(DIMS), 7.5), squeeze=False)
    for ax, d in zip(axes[0], DIMS, strict=True):
        here = [r for r in small if r["d"] == d]
        if not here:
            ax.set_axis_off()
            continue
        exprs = list(dict.fromkeys(r["expr"] for r in here))
        lines = list(dict.fromkeys((r["depth"], r["activation"]) for r in here))
        grid = np.full((len(lines), len(exprs)), np.nan)
        for r in here:
            grid[lines.index((r["depth"], r["activation"])), exprs.index(r["expr"])] = math.log10(max(r["ratio"], 1e-6))
        image = ax.imshow(grid, cmap="RdBu", vmin=-3, vmax=3, aspect="auto")
        ax.set_xticks(
            range(len(exprs)),
            [f"{e[:22]}\n({next(r['role'] for r in here if r['expr'] == e)})" for e in exprs],
            fontsize=7,
            rotation=20,
            ha="right",
        )
        ax.set_yticks(range(len(lines)), [f"L={L} {a}" for L, a in lines], fontsize=7)
        ax.set_title(f"d = {d}, P ≈ {SMALL}")
        fig.colorbar(image, ax=ax, label="log10(loop error / default error)  (> 0: defaults win)")
    fig.suptitle("approx.fit defaults against the plain torch loop at equal wall time", fontsize=11)
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def add_robustness_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="d ≤ 2, depth ≤ 2, four activations (≤ 10 min)")
    p.add_argument(
        "--role", default=None, choices=("tuning", "held-out", "all"), help="targets (default: all; --quick: tuning)"
    )
    p.add_argument(
        "--sizes", default="all", choices=("all", "small", "large"), help="P ≈ 300, the P ≈ 3000 subset, or both"
    )
    p.add_argument("--out", default="benchmarks/robustness", help="folder for robustness.json and robustness.png")
    p.add_argument("--resume", action="store_true", help="keep the cells already in OUT/robustness.json")
    p.add_argument("--workers", type=int, default=2, help="worker processes, one thread each (default 2)")


def run_cli(args: argparse.Namespace) -> int:
    from experiments import output_lock
    from experiments.atomic_io import write_json
    from experiments.inputs import read_json
    from experiments.provenance import provenance

    role = args.role or ("tuning" if args.quick else "all")
    if not 1 <= args.workers <= (os.cpu_count() or 1) * 4:
        raise UserError(f"--workers must be in 1..{(os.cpu_count() or 1) * 4}, got {args.workers}")
    todo = cells(args.quick, role, args.sizes)
    if not todo:
        raise UserError(f"no cells: --quick has no P ≈ 3000 subset (--sizes {args.sizes})")
    with output_lock.hold(args.out) as out:
        path = out / "robustness.json"
        done = {r["key"]: r for r in read_json(path)["cells"]} if args.resume and path.exists() else {}
        config = {"quick": args.quick, "role": role, "sizes": args.sizes, "cells": len(todo)}

        def save(rows: dict[str, dict]) -> None:
            listed = list(rows.values())
            write_json(path, {"summary": summary(listed), "cells": listed, **provenance(config)})

        started = time.perf_counter()
        rows = list(run(todo, done, save, args.workers).values())
        print(tables(rows))
        for name, s in summary(rows).items():
            print(f"{name:10s} cells {s['cells']:4d}  below 1×: {s['below_1x']:3d}  ", end="")
            print(f"median {s['median']:.3g}×  worst {s['worst']:.3g}×")
        figure(rows, out / "robustness.png")
        print(f"{len(rows)} cells in {time.perf_counter() - started:.0f} s → {path}, {out / 'robustness.png'}")
    return 0
