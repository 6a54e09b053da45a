"""The "kinks" start against the uniform default: sup error before and after, per activation and depth.

    .venv/bin/python benchmarks/kinks.py [--sizes 300 3000] [--depths 1 2] [--json FILE]

*before*: ``init = "uniform"`` (U(±1/√fan_in), PolyReLU a_i = 1/r) with the default schedule (Adam, then
Levenberg–Marquardt, then the readout solved exactly). *after*: ``init = "kinks"`` (breakpoints on an
even grid of the domain, PolyReLU at ReLU^r) with ``KINKS_SCHEDULE`` (readout solved, then LM, then
the readout again). Three seeds per cell, trained as one stack; the median and the best sup error on an
8192-point held-out grid. The two *tuning* targets (a windowed sine "bump" and Runge's function) set
the defaults; the four *held-out* ones (those of ``polylab bench precision``) were fixed before and
are reported only.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from approx.fitting import targets
from approx.fitting.one_call import fit_seeds
from approx.fitting.schedule import KINKS_SCHEDULE, UNIFORM_SCHEDULE
from experiments.atomic_io import write_json
from experiments.bench.precision import HELD_OUT, held_out_target
from experiments.provenance import provenance

TUNING = {
    "bump": targets.from_callable(
        "bump", lambda x: torch.exp(-8 * (x[..., 0] - 0.4) ** 2) * torch.sin(6 * x[..., 0]), 1
    ),
    "runge": targets.get("runge"),
}
ACTIVATIONS = ("relu", "relu2", "polyrelu", "tanh")
STARTS = {"before": ("uniform", UNIFORM_SCHEDULE), "after": ("kinks", KINKS_SCHEDULE)}


def cell(target, act: str, params: int, depth: int, start: str) -> dict:
    init, phases = STARTS[start]
    t0 = time.perf_counter()
    results = fit_seeds(target, [0, 1, 2], activation=act, params=params, depth=depth, init=init, phases=phases)
    errors = [r.sup_error for r in results]
    return {
        "median": statistics.median(errors),
        "best": min(errors),
        "params": results[0].params,
        "seconds": time.perf_counter() - t0,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[300, 3000])
    p.add_argument("--depths", type=int, nargs="+", default=[1, 2])
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(1)
    cases = [("tuning", name, t) for name, t in TUNING.items()] + [
        ("held-out", n, held_out_target(n)) for n in HELD_OUT
    ]
    print("| set | target | depth | P | activation | before median / best | after median / best | median gain |")
    print("| --- | --- | ---: | ---: | --- | --- | --- | ---: |", flush=True)
    rows = []
    for size in args.sizes:
        for depth in args.depths:
            for kind, name, target in cases:
                for act in ACTIVATIONS:
                    before, after = (cell(target, act, size, depth, s) for s in STARTS)
                    rows.append(
                        {
                            "set": kind,
                            "target": name,
                            "depth": depth,
                            "size": size,
                            "activation": act,
                            "before": before,
                            "after": after,
                        }
                    )
                    print(
                        f"| {kind} | {name} | {depth} | {before['params']} | {act} | {before['median']:.2e} / "
                        f"{before['best']:.2e} | {after['median']:.2e} / {after['best']:.2e} | "
                        f"{before['median'] / after['median']:.3g}× |",
                        flush=True,
                    )
                    if args.json:  # after every row: a long run shows what it has
                        write_json(args.json, {"rows": rows, "provenance": provenance(vars(args))})


if __name__ == "__main__":
    main()
