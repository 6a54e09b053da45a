"""A rates run's figures: error against parameters, one panel per target (docs/theory.md §5, §7).

Every seed as a dot, each size's best as a line with the series' slope in the legend, the theory
slope, the continuation envelope, the expressivity floor, the certified upper ends, Chebyshev
interpolation in 1-D and the constructive Theorem 3 size curve when theory/ provides one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from experiments.atomic_io import save_figure
from experiments.output_paths import slug
from experiments.rates.summary import as_float, smoothness


def theorem3_curve(n: int | None, d: int, max_size: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(neurons, sup-error bound) of the constructive Theorem 3 network for N = 1, 2, …, if theory/ has it.

    The bound 2^d d^n/n! · N^{−n} is for f in the unit ball F_{n,d} (docs/theory.md §5); the size is the
    construction's exact neuron count (``theory.theorem3.closed_form_sizes``, per-neuron PolyReLU).
    Neurons, not dense parameters: the x-axis measure differs and the legend says so. Optional import:
    theory/theorem3.py comes from another issue.
    """
    if n is None:
        return None
    try:
        from theory.theorem3 import closed_form_sizes
    except ImportError:
        return None
    sizes, bounds = [], []
    for N in range(1, 10_000):
        neurons = closed_form_sizes(N, d, n).neurons
        if neurons > 4 * max_size:
            break
        sizes.append(neurons)
        bounds.append(2**d * d**n / math.factorial(n) * float(N) ** (-n))
    return (np.array(sizes), np.array(bounds)) if len(sizes) >= 2 else None


def figures(out: Path, rows: list[dict[str, str]], fits: list[dict], cheb: dict, metric: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(f["target"] for f in fits))
    acts = list(dict.fromkeys(f["activation"] for f in fits))
    colors = {a: plt.cm.tab10(i % 10) for i, a in enumerate(acts)}
    fit_of = {(f["target"], f["activation"]): f for f in fits}
    cols = min(3, len(targets))
    nrows = math.ceil(len(targets) / cols)
    grid, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 6.0 * nrows), squeeze=False)
    paths = []
    for i, target in enumerate(targets):
        single, ax_single = plt.subplots(figsize=(6.4, 6.4), layout="tight")
        for ax in (axes[i // cols][i % cols], ax_single):
            _panel(ax, target, rows, acts, colors, fit_of, cheb.get(target), metric)
        paths.append(save_figure(single, out / "figures" / f"{slug(target)}.png", dpi=130))
        plt.close(single)
    for j in range(len(targets), nrows * cols):
        axes[j // cols][j % cols].axis("off")
    grid.tight_layout()
    paths.insert(0, save_figure(grid, out / "figures" / "rates.png", dpi=110))
    plt.close(grid)
    return paths


#: what a rate plot's y axis shows, per metric (targets are normalised to sup |f| ≈ 1)
METRIC_LABELS = {
    "max_abs": "sup |f − f̂| on the test grid",
    "rmse": "RMS of f − f̂ on the test grid",
    "rel_max": "sup |f − f̂| / sup |f| on the test grid",
    "rel_rmse": "RMS of f − f̂ / RMS of f on the test grid",
}


def _panel(ax, target, rows, acts, colors, fit_of, cheb, metric) -> None:
    rs = [r for r in rows if r["target"] == target]
    d, n = int(rs[0]["d"]), smoothness(rs[0]["n"])
    all_p, first_medians = [], []
    certified_drawn = False
    for act in acts:
        ok = [r for r in rs if r["activation"] == act and r["status"] == "ok"]
        if not ok:
            continue
        p = np.array([as_float(r["params"]) for r in ok])
        e = np.array([as_float(r[metric]) for r in ok])
        ax.scatter(p, e, s=9, color=colors[act], alpha=0.35)
        sizes = np.unique(p)
        med = np.array([np.min(e[p == s]) for s in sizes])  # the protocol's point: best of the grid
        f = fit_of.get((target, act), {})
        label = act + (f" ({f['slope']:+.2f})" if f.get("slope") is not None else "")
        ax.plot(sizes, med, "-o", ms=3, color=colors[act], label=label)
        proved = [r for r in ok if r.get("certified_upper")]
        if proved and metric == "max_abs":  # the certified upper end of each size's best fit: a proof, not a sample
            pc = np.array([as_float(r["params"]) for r in proved])
            upper = np.array([as_float(r["certified_upper"]) for r in proved])
            grid = np.array([as_float(r[metric]) for r in proved])
            at = np.unique(pc)
            best = [upper[pc == s][np.argmin(grid[pc == s])] for s in at]
            ax.plot(at, best, "--^", ms=5, mfc="none", lw=0.9, color=colors[act])
            certified_drawn = True
        if f.get("envelope"):  # the best smaller network, widened: a curve that only falls
            ax.step(*zip(*f["envelope"], strict=True), where="post", lw=2.4, alpha=0.25, color=colors[act])
        if f.get("expressivity_floor"):
            ax.axhline(f["expressivity_floor"], color=colors[act], lw=0.8, ls="-.", alpha=0.8)
        all_p += list(sizes)
        first_medians.append(med[0])
    if certified_drawn:
        ax.plot([], [], "--^", mfc="none", color="0.3", lw=0.9, label="certified upper end of sup |f − f̂| (§8)")
    if all_p and n is not None:
        p0, p1 = min(all_p), max(all_p)
        e0 = float(np.exp(np.mean(np.log(first_medians))))
        xs = np.array([p0, p1])
        ax.plot(xs, e0 * (xs / p0) ** (-n / d), "k:", lw=1.2, label=f"theory P^(-n/d) = P^({-n / d:.2g})")
        curve = theorem3_curve(n, d, p1)
        if curve is not None:
            ax.plot(*curve, "-.", color="0.45", lw=1, label="Theorem 3 bound, unit ball (x = neurons)")
    if cheb:
        ax.plot(
            [c["params"] for c in cheb],
            [c[metric] if metric in c else c["max_abs"] for c in cheb],
            "k--",
            lw=1,
            label="Chebyshev interpolation",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="parameters P",
        ylabel=METRIC_LABELS.get(metric, metric),
        title=f"{target}  (d={d}, n={rs[0]['n']})",
    )
    ax.legend(fontsize=6.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # below: never over data
    if all_p:
        ax.set_xlim(min(all_p) / 1.5, max(all_p) * 1.5)
    from matplotlib.ticker import NullFormatter

    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3, which="both")
