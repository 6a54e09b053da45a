"""Why GELU and tanh stay flat at one hidden layer: the features a start gives, before any training.

    .venv/bin/python benchmarks/smooth_knees.py [--json benchmarks/smooth_knees.json]

For the `paper` study's three 1-D targets and one-hidden-layer networks of ~100 to ~4,000 parameters,
each hidden layer is fixed and only the readout is solved (least squares, approx/fitting/varpro.py):
the best a network with those features can do. Starts compared:

- ``uniform``: the engine's uniform start, U(±1/√fan_in) weights and biases (fan_in = 1);
- ``knees s``: unit j is σ(s·(x − c_j)) with c_j the midpoints of an even grid of [0, 1] and slope
  s = width/4 or width/16: GELU's knee, or tanh's step, at every grid point, as sharp as the grid is
  fine (the smooth analogue of the kinks start, docs/theory.md §7);
- ReLU's kinks start, for reference.

Printed: the relative sup error on the dense held-out grid per start and size, and the slope of
log error on log parameters. Nothing here is trained, so nothing depends on time or threads.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from approx.fitting import metrics, stack, targets
from approx.fitting.initialisation import initial_parameters
from approx.fitting.models import Activation, Architecture
from approx.fitting.varpro import solve_readout
from experiments.atomic_io import write_json
from experiments.markdown import table
from experiments.provenance import provenance

SIZES = (100, 250, 630, 1600, 4000)
TARGETS = {
    "abs_power_n1_d1": targets.abs_power(1, 1),
    "abs_power_n2_d1": targets.abs_power(2, 1),
    "spline_n3_d1_s0": targets.spline(3, 1, knots=6, seed=0),
}
SHARPNESS = (4, 16)  # slope s = width / k


def width_for(size: int) -> int:
    """One hidden layer in 1-D has 3·width + 1 parameters."""
    return max(2, round((size - 1) / 3))


def start(arch: Architecture, kind: str) -> torch.Tensor:
    if kind in ("uniform", "kinks"):
        return initial_parameters(arch, [0], kind).double()
    k = int(kind.split("/")[1])
    theta = arch.init([0], torch.float64)
    p, w = arch.unpack(theta), arch.width
    s = w / k
    c = (torch.arange(w, dtype=torch.float64) + 0.5) / w
    p["W0"][0, 0].fill_(s / 2)  # the network sees h = 2x − 1: σ(s(x − c)) = σ(s/2·h + s/2 − s·c)
    p["b0"][0].copy_(s / 2 - s * c)
    return theta


def sup_error(arch: Architecture, kind: str, target, x, y, x_test, y_test) -> float:
    best = solve_readout(arch, start(arch, kind), x[None], y[None])
    return metrics.errors(arch, best, x_test, y_test, x[None], y[None])[0]["max_abs"] / float(y_test.abs().max())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="also write the rows, with provenance, here")
    args = p.parse_args()
    torch.set_num_threads(1)
    starts = {
        "gelu": ["uniform", *(f"knees w/{k}" for k in SHARPNESS)],
        "tanh": ["uniform", *(f"knees w/{k}" for k in SHARPNESS)],
        "relu": ["kinks"],
    }
    rows = []
    for name, target in TARGETS.items():
        x_test, y_test = stack.held_out(target, 8192)
        for act, kinds in starts.items():
            for kind in kinds:
                errs, params = [], []
                for size in SIZES:
                    arch = Architecture(1, width_for(size), 1, Activation(act))
                    x = targets.sample(1, 2 * size, "sobol", 0)
                    errs.append(sup_error(arch, kind, target, x, target(x), x_test, y_test))
                    params.append(arch.count().total)
                slope = float(np.polyfit(np.log(params), np.log(errs), 1)[0])
                rows.append(
                    {
                        "target": name,
                        "activation": act,
                        "start": kind,
                        "params": params,
                        "errors": errs,
                        "slope": slope,
                        "theory": -target.n,
                    }
                )
    header = ["target", "activation", "start", *(f"P≈{s}" for s in SIZES), "slope", "−n/d"]
    body = [
        [
            r["target"],
            r["activation"],
            r["start"],
            *(f"{e:.1e}" for e in r["errors"]),
            f"{r['slope']:+.2f}",
            f"{r['theory']}",
        ]
        for r in rows
    ]
    print(table(header, body))
    if args.json:
        write_json(args.json, {"rows": rows, "provenance": provenance({"sizes": SIZES, "sharpness": SHARPNESS})})


if __name__ == "__main__":
    main()
