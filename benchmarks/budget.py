"""What a budget charges per step against what a step takes on this machine (docs/engine.md, "Budgets").

    .venv/bin/python benchmarks/budget.py [--json benchmarks/budget.json]

One model, one thread, a PolyReLU network of one hidden layer on 2 points per parameter (the `paper`
preset's data), for each optimiser that can carry a budget. A ratio near 1 means a budget of B
seconds takes about B seconds here; the fits are the same whatever the ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from approx.fitting import targets
from approx.fitting.models import Activation, Architecture, width_for_params
from approx.fitting.optim.budget import step_seconds
from approx.fitting.schedule import Phase
from approx.fitting.train import train
from experiments.atomic_io import write_json
from experiments.markdown import table
from experiments.provenance import provenance

SIZES = ((1, 300), (1, 1000), (1, 1600), (2, 1600), (1, 4000), (2, 4000))
PHASES = (Phase("adam", steps=40, lr=1e-3), Phase("lbfgs", steps=40, lr=1.0), Phase("lm", steps=6))


def measure(d: int, params: int, phase: Phase) -> dict:
    act = Activation.parse("polyrelu")
    arch = Architecture(d, width_for_params(params, d, 1, act), 1, act)
    x = targets.sample(d, 2 * params, "sobol", 0)
    y = torch.sin(5 * x.sum(1))[None]
    theta = train(arch, arch.init([0]), x, y, [Phase("adam", steps=20, lr=1e-2)], chunk=1, threads=1).theta
    train(arch, theta, x, y, [Phase(phase.optimizer, steps=1, lr=phase.lr)], chunk=1, threads=1)  # warm-up
    start = time.perf_counter()
    fit = train(arch, theta, x, y, [phase], chunk=1, threads=1)
    seconds = (time.perf_counter() - start) / max(1, len(fit.history[0]))
    charged = step_seconds(phase, x.shape[0], arch.size)
    return {"d": d, "params": arch.size, "points": x.shape[0], "optimizer": phase.optimizer,
            "cg": phase.optimizer == "lm" and phase.cg_above < arch.size,
            "charged": charged, "measured": seconds, "ratio": seconds / charged}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="also write the rows, with provenance, here")
    args = p.parse_args()
    rows = [measure(d, params, phase) for d, params in SIZES for phase in PHASES]
    header = ("d", "P", "N", "phase", "charged s/step", "measured s/step", "measured / charged")
    cells = [
        (r["d"], r["params"], r["points"], r["optimizer"] + (" (CG)" if r["cg"] else ""), f"{r['charged']:.2e}",
         f"{r['measured']:.2e}", f"{r['ratio']:.2f}")
        for r in rows
    ]  # fmt: skip
    print(table(header, cells))
    if args.json:
        write_json(args.json, {"rows": rows, "provenance": provenance({"sizes": SIZES})})


if __name__ == "__main__":
    main()
