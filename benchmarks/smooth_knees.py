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

``--trained``: the same targets fitted by ``approx.fit`` at one hidden layer, ``init = "kinks"``
(the knees, with the kinks schedule: readout, Levenberg–Marquardt, readout) against ``"uniform"``
(Adam, LM, readout), seed 0, two training points per parameter; sup error and seconds.
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


def trained(sizes: tuple[int, ...] = (250, 1600)) -> list[dict]:
    """``approx.fit`` from the knees and from the uniform start, per target, activation and size."""
    import time

    import approx

    rows = []
    for name, target in TARGETS.items():
        for act in ("gelu", "tanh"):
            for size in sizes:
                for init in ("kinks", "uniform"):
                    start = time.perf_counter()
                    r = approx.fit(
                        target, activation=act, params=size, depth=1, points=2 * size, init=init, progress=False
                    )
                    seconds = time.perf_counter() - start
                    rows.append({"target": name, "activation": act, "params": size, "init": init,
                                 "sup_error": r.sup_error, "seconds": seconds})  # fmt: skip
    return rows


def readout() -> list[dict]:
    """The best readout's error over each start's features, per target, activation, start and size."""
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
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="also write the rows, with provenance, here")
    p.add_argument("--trained", action="store_true", help="fit the networks instead (approx.fit, kinks vs uniform)")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.trained:
        fits = trained()
        print(table(["target", "activation", "P", "init", "sup error", "seconds"],
                    [[r["target"], r["activation"], r["params"], r["init"], f"{r['sup_error']:.2e}",
                      f"{r['seconds']:.1f}"] for r in fits]))  # fmt: skip
        if args.json:
            write_json(args.json, {"fits": fits, "provenance": provenance({"trained": True})})
        return
    rows = readout()
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
