"""Constructive rate curves for Theorem 3 (docs/theory.md §5): PolyReLU-exact against ReLU-Yarotsky.

For each grid size N this builds the exact PolyReLU network (``theory.theorem3``), checks a sample of
cells exactly (network ≡ f_N), exports it to torch float64 (``theory.export``) and compares it with
f_N at random points, and measures sup|f − f_N| on a grid in 30-digit arithmetic and on a denser
regular grid in float64 (up to 2·10^6 points; the errors are > 10^-12, float64 rounding ~10^-15), the
larger of the two being the sup estimate. The network *is* f_N (proven on the checked cells), so that
is the network's error; the float64 export error is reported beside it.

The ReLU twin uses Yarotsky products at the least squaring depth m whose composed bound is ≤ the
PolyReLU bound (accuracy matched to ε_N); it is built, exported and measured in float64 when its
closed-form size is at most ``max_relu_neurons``, otherwise only its sizes and certified bound are
reported (marked ``"built": false``).

Slopes are least-squares fits of log(error) on log(size) over N ≥ 4; the theory slope is −n/d.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from dataclasses import asdict
from fractions import Fraction

import numpy as np
import torch

from approx.fitting.rates import fit_rate
from approx.layered import LayeredNetwork
from theory import theorem3 as T3
from theory.export import to_torch
from theory.sobolev.approximant import Approximant
from theory.sobolev.target import SobolevTarget, scale_into_ball

FIT_MIN_N = 4
EXPORT_TOLERANCE = 1e-9  # float64 export vs f_N: rounding is ~1e-15 here, a wrong weight ~1e-3


def evaluate(module: LayeredNetwork, X: np.ndarray, device: str = "cpu", batch: int | None = None) -> np.ndarray:
    """The exported network at the rows of X in float64, in batches (hidden layers can be 10^5 wide).

    Sparse layers, and dense ones under 10% full, are multiplied in CSR form (several times faster than
    COO, and than dense matmul, on CPU).
    """
    module = module.to(device)
    width = max(getattr(a, "out_features", 1) for a in module.layers)
    batch = batch or max(64, min(65536, 2**25 // max(width, 1)))
    mats = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        for a in module.layers:
            w = a.weight.detach()
            if not w.is_sparse and w.numel() > 10_000 and torch.count_nonzero(w) < 0.1 * w.numel():
                w = w.to_sparse()  # the construction is very sparse even where the export stored it dense
            mats.append((w.to_sparse_csr() if w.is_sparse else w, a.bias.detach()))
    out = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            h = torch.as_tensor(X[i : i + batch], dtype=torch.float64, device=device)
            for k, (w, b) in enumerate(mats):
                h = (w @ h.T).T + b if w.layout == torch.sparse_csr else h @ w.T + b
                if k < len(module.pointwise):
                    h = module.pointwise[k](h)
            out.append(h[:, 0].cpu().numpy())
    return np.concatenate(out)


def hp_grid(d: int, points: int) -> list[tuple[Fraction, ...]]:
    per_axis = max(2, round(points ** (1 / d)))
    axis = [Fraction(i, per_axis) for i in range(per_axis + 1)]
    return list(itertools.product(axis, repeat=d))


def float_grid(d: int, N: int, per_cell: int = 8, max_points: int = 2_000_000) -> np.ndarray:
    """A regular grid with ``per_cell`` points per 1/(3N) cell per axis (capped at ``max_points`` in all)."""
    per_axis = min(max(3 * N * per_cell, 20_000 if d == 1 else 0), int(max_points ** (1 / d))) + 1
    axis = np.linspace(0.0, 1.0, per_axis)
    return np.stack(np.meshgrid(*([axis] * d), indexing="ij"), axis=-1).reshape(-1, d)


def fit_slope(sizes: list[float], errors: list[float]) -> float | None:
    """The log-log slope of errors against sizes (``approx.fitting.rates.fit_rate``), or None below two sizes."""
    try:
        return fit_rate(np.array(sizes, dtype=float), np.array(errors, dtype=float), np.zeros(len(sizes)), boot=0).slope
    except ValueError:
        return None


def cell_check_record(check: T3.CellCheck) -> dict:
    """``check_network``'s findings as JSON: cells, Taylor coefficients (without examples), certified error."""
    keys = ("cells_checked", "cells_total", "sampled", "differ", "exact", "why")
    out: dict = {"cells": {k: getattr(check, k) for k in keys}}
    if check.coefficients is not None:
        c = check.coefficients
        out["coefficients"] = {
            "checked": c.checked,
            "differ": c.differ,
            "exact": c.exact,
            "radius": c.radius,
            "holds": c.holds,
        }
    if check.error is not None:
        out["certified"] = check.error.as_dict()
    return out


def one_grid(
    target: SobolevTarget,
    N: int,
    *,
    relu: bool,
    max_relu_neurons: int,
    cells: int | None,
    hp_points: int,
    float_points: int,
    device: str,
    seed: int,
    form: str = "per_neuron",
) -> dict:
    rng = np.random.default_rng(seed)
    d = target.d
    row: dict = {"N": N}
    t = time.perf_counter()
    built = T3.build(target, N, form)
    row["build_seconds"] = time.perf_counter() - t
    sizes, closed = built.sizes, built.closed_form()
    row["polyrelu"] = {
        "sizes": sizes.as_dict(),
        "closed_form": asdict(closed),
        "closed_form_matches": (sizes.neurons, sizes.depth, sizes.width)
        == (closed.neurons, closed.depth, closed.width),
    }
    approximant = built.approximant
    bound = approximant.certified_bound()
    row["bound"] = float(bound.bound)
    row["bound_paper"] = float(bound.bound_paper)
    t = time.perf_counter()
    check = T3.check_network(built.network, approximant, sample=cells, seed=seed)
    row["polyrelu"] |= cell_check_record(check)
    row["cell_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    module = to_torch(built.network)
    row["export_seconds"] = time.perf_counter() - t
    X = rng.random((float_points, d))
    t = time.perf_counter()
    y = evaluate(module, X, device)
    row["eval_seconds"] = time.perf_counter() - t
    f = target.numpy()(*X.T)
    fN = approximant.values_float(X)
    row["polyrelu"]["export_vs_fN"] = float(np.max(np.abs(y - fN)))
    row["polyrelu"]["export_ok"] = row["polyrelu"]["export_vs_fN"] <= EXPORT_TOLERANCE
    row["polyrelu"]["float_error"] = float(np.max(np.abs(y - f)))
    t = time.perf_counter()
    row["polyrelu"]["error_30_digits"] = approximant.sup_error_mp(hp_grid(d, hp_points))
    row["hp_seconds"] = time.perf_counter() - t
    G = float_grid(d, N)
    row["polyrelu"]["error_float_grid"] = float(np.max(np.abs(target.numpy()(*G.T) - approximant.values_float(G))))
    row["polyrelu"]["float_grid_points"] = len(G)
    # the curve's value: grid estimates and the certified lower end are all lower bounds of the sup
    row["polyrelu"]["error"] = max(
        row["polyrelu"]["error_30_digits"],
        row["polyrelu"]["error_float_grid"],
        row["polyrelu"].get("certified", {}).get("lower_float", 0.0),
    )
    row["polyrelu"]["holds"] = bool(
        check.exact
        and row["polyrelu"]["closed_form_matches"]
        and row["polyrelu"]["export_ok"]
        and check.coefficients is not None
        and check.coefficients.holds
        and check.error is not None
        and check.error.upper <= bound.bound
    )
    if relu:
        row["relu"] = relu_twin(target, approximant, max_relu_neurons, X, f, device)
    return row


def relu_twin(target: SobolevTarget, approximant: Approximant, max_neurons: int, X, f, device: str) -> dict:
    N, d, n = approximant.N, target.d, target.n
    m = T3.relu_squaring_depth(approximant)
    bound = T3.relu_error_bound(approximant, m)
    product = T3._yarotsky_product(m)
    h = product.depth - 1
    closed = T3.closed_form_sizes(N, d, n, product.sizes().neurons, 2 * h, product_layers=h)
    out = {"squaring_depth": m, "bound_vs_fN": float(bound), "closed_form": asdict(closed), "built": False}
    out["bound_total"] = float(bound) + float(approximant.certified_bound().bound)
    if closed.neurons > max_neurons:
        out["sizes"] = {"neurons": closed.neurons, "depth": closed.depth}
        return out
    t = time.perf_counter()
    built = T3.build(target, N, "relu", squaring_depth=m)
    out["build_seconds"] = time.perf_counter() - t
    out["sizes"] = built.sizes.as_dict()
    out["built"] = True
    y = evaluate(to_torch(built.network), X, device)
    fN = approximant.values_float(X)
    out["vs_fN"] = float(np.max(np.abs(y - fN)))
    out["error"] = float(np.max(np.abs(y - f)))
    return out


def sweep(
    text: str,
    d: int,
    n: int,
    Ns: list[int],
    *,
    scale: bool = True,
    relu: bool = True,
    max_relu_neurons: int = 60_000,
    cells: int | None = None,
    hp_points: int = 1500,
    float_points: int = 20_000,
    device: str = "cpu",
    seed: int = 0,
    form: str = "per_neuron",
    log=print,
) -> dict:
    """The rate curves' data for one target: one row per N, fitted slopes, the theory slope −n/d."""
    original = SobolevTarget.parse(text, d, n)
    target, scale_factor = scale_into_ball(original) if scale else (original, Fraction(1))
    rows = []
    for N in Ns:
        row = one_grid(
            target,
            N,
            relu=relu,
            max_relu_neurons=max_relu_neurons,
            cells=cells,
            hp_points=hp_points,
            float_points=float_points,
            device=device,
            seed=seed,
            form=form,
        )
        rows.append(row)
        p = row["polyrelu"]
        msg = (
            f"  N={N:>5}  PolyReLU neurons {p['sizes']['neurons']:>8}  sup|f-f_N| {p['error']:.3e}"
            f"  certified [{_e(p, 'lower_float')}, {_e(p, 'upper_float')}] (bound {row['bound']:.3e})"
            f"\n         {_cells(p['cells'])}; export vs f_N {p['export_vs_fN']:.1e}"
            f"{'' if p['export_ok'] else ' > ' + format(EXPORT_TOLERANCE, '.0e') + ' FAIL'}"
        )
        if "relu" in row:
            r = row["relu"]
            err = f"{r['error']:.3e}" if r["built"] else f"<= {r['bound_total']:.3e} (sizes only)"
            msg += f"\n         ReLU m={r['squaring_depth']:>2} neurons {r['sizes']['neurons']:>8}  error {err}"
        log(msg)
    return {
        "target": text,
        "d": d,
        "n": n,
        "scale_factor": str(scale_factor),
        "norm_upper": str(original.norm.upper),
        "norm_lower": original.norm.lower,
        "form": form,
        "theory_slope": -n / d,
        "rows": rows,
        "fits": fits(rows),
    }


def _e(p: dict, key: str) -> str:
    return f"{p['certified'][key]:.3e}" if "certified" in p else "n/a"


def _cells(c: dict) -> str:
    if c["cells_total"] is None:
        return f"cells NOT checked: {c['why']}"
    if c["sampled"]:
        return f"sampled {c['cells_checked']} of {c['cells_total']} cells, {c['differ']} differ (a sample: not a proof)"
    return f"every cell checked exactly: {c['cells_total']} cells, {c['differ']} differ"


def fits(rows: list[dict]) -> dict:
    use = [r for r in rows if r["N"] >= FIT_MIN_N]
    out: dict[str, object] = {}
    for key in ("neurons", "nonzero_parameters"):
        out[f"polyrelu_vs_{key}"] = fit_slope(
            [r["polyrelu"]["sizes"][key] for r in use], [r["polyrelu"]["error"] for r in use]
        )
        built = [r for r in use if "relu" in r and r["relu"]["built"]]
        out[f"relu_vs_{key}"] = fit_slope([r["relu"]["sizes"][key] for r in built], [r["relu"]["error"] for r in built])
    relu_rows = [r for r in use if "relu" in r]
    out["relu_bound_vs_neurons"] = fit_slope(
        [r["relu"]["sizes"]["neurons"] for r in relu_rows], [r["relu"]["bound_total"] for r in relu_rows]
    )
    # the log factor: ReLU/PolyReLU neurons at matched accuracy against ln(1/ε_N) (linear if size ∝ ε^{−d/n}·ln(1/ε))
    ratio = [
        (math.log(1 / r["bound"]), r["relu"]["sizes"]["neurons"] / r["polyrelu"]["sizes"]["neurons"]) for r in relu_rows
    ]
    if len(ratio) >= 2:
        logs, ratios = np.array(ratio).T
        slope, intercept = np.polyfit(logs, ratios, 1)
        out["relu_over_polyrelu_neurons"] = [round(q, 3) for _, q in ratio]
        out["ratio_vs_ln_inv_eps"] = {"slope": float(slope), "intercept": float(intercept)}
    out["polyrelu_bound_vs_neurons"] = fit_slope(
        [r["polyrelu"]["sizes"]["neurons"] for r in use], [r["bound"] for r in use]
    )
    return out


def _draw_beside(ax, beside: list[dict], key: str) -> None:
    """Earlier runs' PolyReLU curves, in grey shades, with their fitted slopes."""
    for i, other in enumerate(beside):
        fit = other["fits"].get(f"polyrelu_vs_{key}")
        ax.loglog(
            [r["polyrelu"]["sizes"][key] for r in other["rows"]],
            [r["polyrelu"]["error"] for r in other["rows"]],
            "D-",
            color=str(0.35 + 0.2 * i),
            ms=4,
            label=f"PolyReLU, f = {other['target']}" + (f" (fit {fit:.2f})" if fit else ""),
        )


def plot(result: dict, path: str, beside: list[dict] | None = None) -> None:
    """Error against neurons and against nonzero weights, PolyReLU-exact vs ReLU-Yarotsky, theory line −n/d;
    ``beside``: earlier runs whose PolyReLU curves are drawn too (grey shades, with their fitted slopes)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from experiments.atomic_io import save_figure

    rows, slope = result["rows"], result["theory_slope"]
    columns = 1 if beside else 2  # the compared targets' long labels need a whole row each
    fig, axes = plt.subplots(1, 2, figsize=(11, 6.4 if beside else 5.2))
    fig.subplots_adjust(bottom=0.42 if beside else 0.3, wspace=0.25)
    for ax, key, label in zip(
        axes, ("neurons", "nonzero_parameters"), ("neurons", "nonzero weights + biases"), strict=True
    ):
        xs = [r["polyrelu"]["sizes"][key] for r in rows]
        es = [r["polyrelu"]["error"] for r in rows]
        fit = result["fits"][f"polyrelu_vs_{key}"]
        ax.loglog(xs, es, "o-", color="C0", label=f"PolyReLU exact: sup|f−f_N| (fit {fit:.2f})" if fit else "PolyReLU")
        ax.loglog(xs, [r["bound"] for r in rows], ":", color="C0", alpha=0.7, label="PolyReLU certified bound")
        _draw_beside(ax, beside or [], key)
        rel = [r for r in rows if "relu" in r]
        built = [r for r in rel if r["relu"]["built"]]
        if built:
            fr = result["fits"][f"relu_vs_{key}"]
            ax.loglog(
                [r["relu"]["sizes"][key] for r in built],
                [r["relu"]["error"] for r in built],
                "s-",
                color="C3",
                label=f"ReLU Yarotsky: measured (fit {fr:.2f})" if fr else "ReLU Yarotsky: measured",
            )
        if key == "neurons" and rel:
            ax.loglog(
                [r["relu"]["sizes"]["neurons"] for r in rel],
                [r["relu"]["bound_total"] for r in rel],
                ":",
                color="C3",
                alpha=0.7,
                label="ReLU certified bound",
            )
            for r in rel:
                ax.annotate(
                    f"m={r['relu']['squaring_depth']}",
                    (r["relu"]["sizes"]["neurons"], r["relu"]["bound_total"]),
                    fontsize=7,
                    color="C3",
                    xytext=(3, 3),
                    textcoords="offset points",
                )
        # the theory line through the first fitted point, across the whole x range (always visible)
        anchor = next(((x, e) for x, e, r in zip(xs, es, rows, strict=True) if r["N"] >= FIT_MIN_N), (xs[0], es[0]))
        if min(xs) < max(xs):
            grid = np.array([min(xs), max(xs)])
            line = anchor[1] * (grid / anchor[0]) ** slope
            ax.loglog(grid, line, "k--", lw=1, label=f"theory slope −n/d = {slope:.2f}")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on a short log axis
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.set_ylabel("sup error on [0,1]^d")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=columns)  # below: never over data
    fig.suptitle(
        f"Theorem 3: f = {result['target']} (scaled ×{float(Fraction(result['scale_factor'])):.4g}), "
        f"d = {result['d']}, n = {result['n']}"
    )
    save_figure(fig, path, dpi=130)
    plt.close(fig)
