"""``polylab bench certify``: a trained network's certified sup error, its cost and its tightness.

For each cell (activation, depth, P) the default engine fits the dimension's target (1-D:
|x − 3/10|^{5/2}; 2-D: pykan's toy exp(sin(πx₀) + x₁²)); then ``experiments.certify_fit`` encloses
sup |f − net| (docs/theory.md §8: exact pieces in 1-D, branch and bound over boxes in 2-D, §8.1). The
table gives the fit's time, the certificate's time and gap (upper/lower − 1), how far below the
certified lower end the fit's own held-out grid estimate fell, and interval bound propagation (IBP,
the usual verification baseline) through the same network on as many equal boxes as the certificate
ended with: its upper end divided by the certified one. IBP here runs in float64 without outward
rounding: a baseline for looseness, not a proof.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from mpmath import iv

from experiments.user_errors import UserError

TARGETS = {1: "abs(x0-3/10)**(5/2)", 2: "exp(sin(pi*x0) + x1**2)"}
ACTIVATIONS = ("relu", "relu2", "polyrelu", "polynomial")
CELLS = {
    1: tuple((activation, depth) for activation in ACTIVATIONS for depth in (1, 2, 3)),
    2: tuple((activation, depth) for activation in ACTIVATIONS for depth in (1, 2)),
}
#: smooth activations and PolyNorm, certified by branch and bound in any d (run with --activations; depth 2)
SMOOTH_CELLS = ("gelu", "tanh", "polynorm")
SIZES = (100, 300, 1000)
QUICK = ((("polyrelu", 2),), (100,))


def add_certify_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quick", action="store_true", help="one cell (PolyReLU, depth 2, P = 100): a smoke run")
    p.add_argument("--d", type=int, choices=sorted(TARGETS), default=1, help="input dimension (default 1)")
    p.add_argument(
        "--activations",
        default=None,
        metavar="A,B",
        help=f"the cells of these activations only (default: {', '.join(ACTIVATIONS)}; also {', '.join(SMOOTH_CELLS)})",
    )
    p.add_argument("--json", default=None, metavar="FILE", help="every row with provenance")


def run_cli(args) -> int:
    from experiments.atomic_io import write_json
    from experiments.provenance import provenance

    cells, sizes = QUICK if args.quick else (CELLS[args.d], SIZES)
    if args.activations:
        wanted = args.activations.split(",")
        unknown = sorted(set(wanted) - set(ACTIVATIONS) - set(SMOOTH_CELLS))
        if unknown:
            raise UserError(
                f"--activations: unknown {', '.join(unknown)}; valid: {', '.join(ACTIVATIONS + SMOOTH_CELLS)}"
            )
        depths = sorted({depth for _, depth in CELLS[args.d]})
        cells = tuple((a, depth) for a in wanted for depth in (depths if a in ACTIVATIONS else (2,)))
    rows = run(cells, sizes, args.d)
    if args.json:
        config = {"d": args.d, "target": TARGETS[args.d], "cells": cells, "sizes": sizes}
        write_json(args.json, {"rows": rows, "provenance": provenance(config, 0, "cpu")})
        print(f"json: {args.json}")
    return 0


def run(cells, sizes, d: int = 1) -> list[dict]:
    import approx
    from experiments import certify_fit

    target = TARGETS[d]
    print(f"f = {target} on [0,1]^{d}; errors relative to sup|f|")
    header = ("activation", "depth", "params", "fit s", "cert s", "cert/fit", "gap", "grid below", "IBP/upper")
    print(" ".join(f"{h:>10}" for h in header))
    rows = []
    for activation, depth in cells:
        for params in sizes:
            start = time.perf_counter()
            fit = approx.fit(target, d=d, activation=activation, depth=depth, params=params, progress=False)
            fit_s = time.perf_counter() - start
            sup = certify_fit.certify(fit)
            ibp = ibp_upper(fit, sup.pieces)
            row = {
                "activation": activation,
                "depth": depth,
                "params": fit.params,
                "fit_seconds": fit_s,
                **sup.as_dict(),
                "grid_estimate": fit.sup_error,
                "grid_below": max(0.0, 1 - fit.sup_error / float(sup.lower)),
                "ibp_upper": ibp,
            }
            rows.append(row)
            values = (activation, depth, fit.params, fit_s, sup.seconds, sup.seconds / fit_s, sup.gap)
            tail = (row["grid_below"], ibp / float(sup.upper))
            print(" ".join(f"{v:>10.3g}" if isinstance(v, float) else f"{v:>10}" for v in (*values, *tail)))
    return rows


def ibp_upper(fit, boxes: int) -> float:
    """max over about ``boxes`` equal boxes of |f/scale − net| bounded by interval propagation (floats)."""
    import itertools

    from theory.sobolev.target import SobolevTarget

    weights = fit.weights()
    if len(weights["stages"]) != 1:
        raise UserError("the IBP baseline takes one-stage fits")
    (stage,) = weights["stages"]
    d = fit.arch.d_in
    edges = np.linspace(0, 1, max(1, round(boxes ** (1 / d))) + 1)
    cells = np.array(list(itertools.product(range(len(edges) - 1), repeat=d)))
    lo, hi = 2 * edges[cells] - 1, 2 * edges[cells + 1] - 1
    layers = stage["layers"]
    for k, layer in enumerate(layers):
        W, b = np.array(layer["W"]), np.array(layer["b"])
        centre, radius = (lo + hi) / 2 @ W + b, (hi - lo) / 2 @ np.abs(W)
        lo, hi = centre - radius, centre + radius
        if k < len(layers) - 1:
            if layer["pieces"] is None:
                return math.nan  # a smooth σ: no IBP column (the baseline is written for polynomial pieces)
            lo, hi = _activation(layer["pieces"], lo, hi)
    net_lo, net_hi = stage["scale"] * lo[:, 0], stage["scale"] * hi[:, 0]
    target = SobolevTarget.parse(fit.target.expression, d, 1)
    worst = 0.0
    for cell, n_lo, n_hi in zip(cells, net_lo, net_hi, strict=True):
        f = target_range(target, edges[cell], edges[cell + 1]) / fit.target_scale
        worst = max(worst, abs(float(f.b) - n_lo), abs(n_hi - float(f.a)))
    return worst


def target_range(target, a, b):
    """f over the box [a, b] (one end per axis), by the lab's interval evaluation."""
    from theory.intervals import interval_eval

    box = {s: iv.mpf([float(lo), float(hi)]) for s, lo, hi in zip(target.symbols, a, b, strict=True)}
    return interval_eval(target.expr, box, continuous=True)


def _activation(pieces, lo, hi):
    """Each unit's σ on [lo, hi] by interval Horner on its polynomial for z ≥ 0 and for z < 0 (the hull
    where the interval holds 0): the natural interval extension, as IBP uses it."""
    out_lo, out_hi = np.empty_like(lo), np.empty_like(hi)
    for j, (right, left) in enumerate(pieces):
        r = _horner(right, np.maximum(lo[:, j], 0), np.maximum(hi[:, j], 0))
        l_ = _horner(left, np.minimum(lo[:, j], 0), np.minimum(hi[:, j], 0))
        neg, pos = hi[:, j] <= 0, lo[:, j] >= 0
        out_lo[:, j] = np.where(pos, r[0], np.where(neg, l_[0], np.minimum(r[0], l_[0])))
        out_hi[:, j] = np.where(pos, r[1], np.where(neg, l_[1], np.maximum(r[1], l_[1])))
    return out_lo, out_hi


def _horner(coeffs, lo, hi):
    out_lo, out_hi = np.zeros_like(lo), np.zeros_like(hi)
    for c in reversed(coeffs):  # (out·z) + c in interval arithmetic
        products = np.stack([out_lo * lo, out_lo * hi, out_hi * lo, out_hi * hi])
        out_lo, out_hi = products.min(0) + c, products.max(0) + c
    return out_lo, out_hi
