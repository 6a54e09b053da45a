"""From ``results.csv`` to ``summary.json``, figures and ``report.md`` (docs/theory.md §5, §7).

- summary: per (target, activation) the fit error ≈ C·P^{slope} with a seed-bootstrap CI
  (approx.fitting.rates), beside the theory slope −n/d and the piecewise-linear ReLU slope −min(n,2)/d;
- figures: error against parameters per activation (one panel per target, every seed as a dot,
  the median as a line), the theory slope, Chebyshev interpolation in 1-D (the classical reference,
  docs/theory.md §7), and the constructive Theorem 3 size curve when theory/ provides one;
- report.md: the slope table, the figures, divergences, the run's command and wall time.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from approx.activations import is_pointwise
from approx.fitting import chebyshev, rates
from approx.fitting.targets import dense_grid
from experiments.atomic_io import save_figure, write_json, write_text
from experiments.inputs import read_json
from experiments.output_paths import slug
from experiments.rates import results_table
from experiments.user_errors import UserError


def _float(v: str) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def load_rows(out: Path) -> list[dict[str, str]]:
    """The validated rows of ``out/results.csv`` (experiments/rates/results_table.py); a cut-short row is refused."""
    path = out / "results.csv"
    if not path.exists():
        raise UserError(f"{out} has no results.csv: run `polylab rates CONFIG --out {out}` first")
    return results_table.read(path, drop_cut_line=False).rows


def _smoothness(n: str) -> int | None:
    return None if n in ("analytic", "", None) else int(n)


def summarize(
    rows: list[dict[str, str]],
    metric: str = "max_abs",
    boot: int = 1000,
    order=None,
    piecewise_linear: frozenset[str] = frozenset(),
    expressivity: dict[tuple[str, str], float] | None = None,
    widenable: frozenset[str] = frozenset(),
) -> list[dict]:
    """One rate fit per (target, activation); ``order`` = (targets, activations) names to sort by;
    ``piecewise_linear``: the activation labels whose networks are piecewise linear (ReLU's slope applies);
    ``expressivity``: (target, activation) -> the lowest error any size of it can reach (polynomial
    networks); ``widenable``: the labels whose continuation envelope is made of real networks."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["target"], r["activation"])].append(r)
    if order is not None:
        rank_t, rank_a = ({name: i for i, name in enumerate(names)} for names in order)
        groups = dict(sorted(groups.items(), key=lambda kv: (rank_t.get(kv[0][0], 1e9), rank_a.get(kv[0][1], 1e9))))
    fits = []
    for (target, act), rs in groups.items():
        d, n = int(rs[0]["d"]), _smoothness(rs[0]["n"])
        ok = [r for r in rs if r["status"] == "ok"]
        entry = {
            "target": target,
            "d": d,
            "n": rs[0]["n"],
            "activation": act,
            "metric": metric,
            "fits": len(rs),
            "diverged": sum(r["status"] == "diverged" for r in rs),
            "theory_slope": rates.theory_slope(n, d),
            "relu_pl_slope": rates.theory_slope(n, d, relu=True) if act in piecewise_linear else None,
            "best_error": min((_float(r[metric]) for r in ok), default=math.nan),
        }
        try:
            fit, floors = rates.fit_above_floor(
                [_float(r["params"]) for r in ok],
                [_float(r[metric]) for r in ok],
                [int(r["seed"]) for r in ok],
                [_float(r["rmse"]) for r in ok],
                [_float(r["train_rmse"]) for r in ok],
                boot=boot,
                expressivity=(expressivity or {}).get((target, act)),
            )
        except ValueError as err:
            fit, floors, entry["note"] = None, {}, str(err)
        sizes = sorted({_float(r["params"]) for r in ok})
        entry["floors"] = {str(int(p)): why for p, why in floors.items()}
        entry["expressivity_floor"] = (expressivity or {}).get((target, act))
        entry["envelope"] = (
            [[int(p), e] for p, e in rates.envelope([_float(r["params"]) for r in ok], [_float(r[metric]) for r in ok])]
            if act in widenable
            else None
        )
        entry["sizes_used"] = [int(p) for p in sizes if p not in floors]
        entry["rising"] = [
            {"from": int(p0), "to": int(p1), "before": e0, "after": e1}
            for p0, p1, e0, e1 in rates.rising_steps(
                [_float(r["params"]) for r in ok], [_float(r[metric]) for r in ok], floors
            )
        ]
        entry["certified"] = _certified(ok, metric, boot, (expressivity or {}).get((target, act)))
        if fit is not None:
            entry |= {"slope": fit.slope, "ci": [fit.ci_low, fit.ci_high], "log_c": fit.log_c, "r2": fit.r2}
        else:
            entry |= {"slope": None, "ci": None, "log_c": None, "r2": None}
            entry.setdefault("note", "fewer than two sizes above the floors")
        fits.append(entry)
    return fits


def _certified(ok: list[dict], metric: str, boot: int, expressivity: float | None) -> dict | None:
    """The certified sup errors of a series (docs/theory.md §8), if its fits have them: how many, the
    slope of the certified upper ends, and the most the grid's estimate fell below a certified lower end."""
    rs = [r for r in ok if r.get("certified_upper")]
    if not rs or metric != "max_abs":
        return None
    below = max(max(0.0, 1 - _float(r["max_abs"]) / _float(r["certified_lower"])) for r in rs)
    out = {"fits": len(rs), "slope": None, "grid_below": below}
    try:
        fit, _ = rates.fit_above_floor(
            [_float(r["params"]) for r in rs],
            [_float(r["certified_upper"]) for r in rs],
            [int(r["seed"]) for r in rs],
            [_float(r["rmse"]) for r in rs],
            [_float(r["train_rmse"]) for r in rs],
            boot=boot,
            expressivity=expressivity,
        )
        out["slope"] = None if fit is None else fit.slope
    except ValueError:
        pass
    return out


def series(cfg, label: str, depth: int) -> str:
    """The name of a rate curve: the activation's label, and its depth when the config has several."""
    return label if len(cfg.depths) == 1 else f"{label} L{depth}"


def expressivity_floors(cfg) -> dict[tuple[str, str], float]:
    """(target, series) -> the best polynomial error of the network's degree, for polynomial activations."""
    out = {}
    for depth in cfg.depths:
        for act in cfg.activations:
            degree = act.network_degree(depth)
            for t in cfg.targets if degree is not None else []:
                floor = chebyshev.best_polynomial_error(t, degree)
                if floor is not None:
                    out[(t.name, series(cfg, act.label, depth))] = floor
    return out


def chebyshev_reference(targets: dict, rows: list[dict[str, str]], test_points: int = 8192) -> dict:
    out = {}
    for name, t in targets.items():
        if t.d != 1:
            continue
        params = sorted({int(r["params"]) for r in rows if r["target"] == name})
        if not params:
            continue
        ks = sorted({int(k) for k in np.geomspace(4, max(8, 2 * params[-1]), 24)})
        out[name] = chebyshev.interpolation_errors(t, ks, dense_grid(1, test_points))
    return out


def against_chebyshev(targets: dict, rows: list[dict[str, str]], metric: str, test_points: int = 8192) -> dict:
    """Per 1-D target and size: the best network of any series beside Chebyshev interpolation with as
    many coefficients as it has parameters (docs/theory.md §7), and their ratio; {} for a metric the
    reference does not have."""
    if metric not in ("max_abs", "rmse"):
        return {}
    out = {}
    for name, t in targets.items():
        best: dict[int, dict[str, str]] = {}
        for r in rows:
            if r["target"] == name and r["status"] == "ok" and t.d == 1:
                size = int(r["size_target"])
                if size not in best or _float(r[metric]) < _float(best[size][metric]):
                    best[size] = r
        if not best:
            continue
        params = [int(best[size]["params"]) for size in sorted(best)]
        reference = chebyshev.interpolation_errors(t, params, dense_grid(1, test_points))
        out[name] = [
            {
                "size": size,
                "params": int(best[size]["params"]),
                "series": best[size]["activation"],
                "network": _float(best[size][metric]),
                "chebyshev": ref[metric],
                "ratio": _float(best[size][metric]) / ref[metric],
            }
            for size, ref in zip(sorted(best), reference, strict=True)
        ]
    return out


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
    d, n = int(rs[0]["d"]), _smoothness(rs[0]["n"])
    all_p, first_medians = [], []
    certified_drawn = False
    for act in acts:
        ok = [r for r in rs if r["activation"] == act and r["status"] == "ok"]
        if not ok:
            continue
        p = np.array([_float(r["params"]) for r in ok])
        e = np.array([_float(r[metric]) for r in ok])
        ax.scatter(p, e, s=9, color=colors[act], alpha=0.35)
        sizes = np.unique(p)
        med = np.array([np.min(e[p == s]) for s in sizes])  # the protocol's point: best of the grid
        f = fit_of.get((target, act), {})
        label = act + (f" ({f['slope']:+.2f})" if f.get("slope") is not None else "")
        ax.plot(sizes, med, "-o", ms=3, color=colors[act], label=label)
        proved = [r for r in ok if r.get("certified_upper")]
        if proved and metric == "max_abs":  # the certified upper end of each size's best fit: a proof, not a sample
            pc = np.array([_float(r["params"]) for r in proved])
            upper = np.array([_float(r["certified_upper"]) for r in proved])
            grid = np.array([_float(r[metric]) for r in proved])
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


def _sizes(sizes) -> str:
    if not sizes:
        return "—"
    return ", ".join(map(str, sizes)) if len(sizes) <= 3 else f"{sizes[0]}…{sizes[-1]} ({len(sizes)})"


def _floors(floors) -> str:
    return "none" if not floors else ", ".join(f"{p}: {why}" for p, why in floors.items())


def _starts(summary: dict) -> list[str]:
    """The report's line on the starts the portfolio chose, if the rows record them."""
    if not summary.get("starts"):
        return []
    chosen = ", ".join(f"{name} {count}" for name, count in sorted(summary["starts"].items()))
    also = "; continuation in size: each size also tried the smaller fit, widened" if summary["continuation"] else ""
    return [f"- starts chosen on the validation split: {chosen}{also}"]


def _bounded(summary: dict) -> list[str]:
    """The report's line on the series whose networks cannot improve with width (PolyNorm)."""
    names = summary.get("bounded_in_width")
    if not names:
        return []
    return [
        f"- {', '.join(names)}: at a fixed depth these networks form a family of bounded dimension whatever "
        "their width (docs/theory.md §7), so the curve flattens by construction and its slope measures "
        "optimisation, not a rate"
    ]


def report(out: Path, summary: dict, figs: list[Path]) -> str:
    lines = [f"# Rates report: {summary['config']}", ""]
    run = summary.get("run") or {}
    if run:
        last = run["runs"][-1]
        lines += [
            f"- command: `{last['command']}`" + (f" (resumed {len(run['runs']) - 1}×)" if len(run["runs"]) > 1 else ""),
            f"- wall time: {run['total_wall_seconds']:.0f} s ({run['total_wall_seconds'] / 60:.1f} min)",
            f"- device: {last['device']}; git {last['git_commit']}; torch {last['versions']['torch']}",
        ]
    lines += [
        f"- fits: {summary['rows']} ({summary['diverged']} diverged); error metric for slopes: `{summary['metric']}`"
        " on the dense held-out grid",
    ]
    lines += _starts(summary) + _bounded(summary)
    lines += [
        "",
        "Slopes are least-squares fits of log error on log P, one point per size: its best fit over the "
        "learning-rate × seed grid (the protocol of docs/theory.md §7); the 95% interval is a bootstrap over "
        "seeds. "
        "Theory: −n/d is the constructive rate (Yarotsky; Theorem 3 for PolyReLU). A fixed-depth ReLU net "
        "is piecewise linear, and piecewise-linear fits of a function with curvature reach −2/d at best "
        "(PL, shown for ReLU where it differs from −n/d). Trained networks are known to fall short of "
        "the constructions (docs/theory.md §7, Adcock & Dexter): the table measures that gap.",
        "",
        "Sizes at a floor are left out of the fit, judged on the best fit of the size: `float64` (error ≤ 1e-12, "
        "rounding level), `data` (test RMSE > 10× train RMSE: the training points limit the error) or "
        "`expressivity` (within 2× of the best polynomial of the network's degree r^L, for polynomial "
        "activations: no size of that depth can go lower). *Sizes used* lists the rest. In the figures, the "
        "wide pale step is each pointwise activation's *continuation envelope*: at every size, the best "
        "network of that size or a smaller one, widened with zero-output units (approx/fitting/growth.py) "
        "into a network of this size; it only falls.",
        "",
        "| target | d | n | activation | slope | 95% CI | theory −n/d | R² | best error | sizes used | floors "
        "| diverged |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in summary["fits"]:
        slope = f"{f['slope']:+.2f}" if f.get("slope") is not None else "—"
        ci = f"[{f['ci'][0]:+.2f}, {f['ci'][1]:+.2f}]" if f.get("ci") and not math.isnan(f["ci"][0]) else "—"
        th = f"{f['theory_slope']:+.2f}" if f["theory_slope"] is not None else "analytic"
        if f.get("relu_pl_slope") is not None and f["relu_pl_slope"] != f["theory_slope"]:
            th += f" (PL {f['relu_pl_slope']:+.2f})"
        r2 = f"{f['r2']:.2f}" if f.get("r2") is not None else "—"
        lines.append(
            f"| {f['target']} | {f['d']} | {f['n']} | {f['activation']} | {slope} | {ci} | {th} | {r2} | "
            f"{f['best_error']:.2e} | {_sizes(f.get('sizes_used'))} | {_floors(f.get('floors'))} | "
            f"{f['diverged']}/{f['fits']} |"
        )
    proved = [f for f in summary["fits"] if f.get("certified")]
    if proved:
        lines += [
            "",
            "Certified sup errors (docs/theory.md §8): for these fits the whole of sup |f − f̂| over [0, 1] "
            "is enclosed in [lower, upper] with upper ≤ 1.01·lower, a proof rather than a grid sample. The "
            "figures draw each size's certified upper end (dashed, open triangles) beside the grid's curve.",
            "",
            "| target | activation | fits certified | slope of the certified upper ends | grid slope "
            "| most the grid fell below the sup |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for f in proved:
            c = f["certified"]
            cs = f"{c['slope']:+.2f}" if c.get("slope") is not None else "—"
            gs = f"{f['slope']:+.2f}" if f.get("slope") is not None else "—"
            lines.append(
                f"| {f['target']} | {f['activation']} | {c['fits']} | {cs} | {gs} | {100 * c['grid_below']:.2g}% |"
            )
    if summary.get("chebyshev"):
        lines += ["", "Chebyshev interpolation (1-D reference, k coefficients):", ""]
        for name, ref in summary["chebyshev"].items():
            pts = ", ".join(f"k={c['params']}: {c['max_abs']:.1e}" for c in ref[:: max(1, len(ref) // 6)])
            lines.append(f"- {name}: {pts}")
    rising = [(f, step) for f in summary["fits"] for step in f.get("rising") or []]
    lines += [
        "",
        "Rising steps: a network contains every narrower one of its depth (docs/theory.md §7), so its best error "
        "should not rise with size. Steps between consecutive sizes off the floors where the best error rose by "
        f"more than 10%: {len(rising) or 'none'}.",
    ]
    if rising:
        lines += [""] + [
            f"- {f['target']}, {f['activation']}: {step['from']} → {step['to']} parameters, "
            f"{step['before']:.2e} → {step['after']:.2e} (×{step['after'] / step['before']:.2f})"
            for f, step in rising
        ]
    if summary.get("against_chebyshev"):
        lines += [
            "",
            "Best network of any activation / Chebyshev interpolation with as many coefficients as the network "
            f"has parameters (1-D, `{summary['metric']}`; below 1: the network is closer):",
            "",
        ]
        for name, sizes in summary["against_chebyshev"].items():
            pts = ", ".join(f"{c['params']}: {c['ratio']:.2g}× ({c['series']})" for c in sizes)
            lines.append(f"- {name}: {pts}")
    lines += ["", "## Figures", ""]
    for p in figs:
        rel = p.relative_to(out)
        lines += [f"![{rel.stem}]({rel.as_posix()})", ""]
    return "\n".join(lines) + "\n"


def write_all(out: str | Path, cfg=None, boot: int = 1000) -> dict:
    """Write summary.json, figures/ and report.md for the run in ``out``; returns the summary."""
    out = Path(out)
    rows = load_rows(out)
    if not rows:
        raise UserError(f"{out / 'results.csv'} has no rows yet")
    if cfg is None:
        if not (out / "config.toml").exists():
            raise UserError(f"{out} has results.csv but no config.toml: its rows cannot be read without it")
        from experiments.rates import config as rates_config

        cfg = rates_config.load(out / "config.toml")
    ids = {job.id for job in cfg.jobs}
    foreign = [r["job"] for r in rows if r["job"] not in ids]
    if foreign:
        raise results_table.CorruptResults(f"{out / 'results.csv'}: job {foreign[0]!r} is not a job of its config.toml")
    metric = cfg.metric
    targets = {t.name: t for t in cfg.targets}
    rows = [r | {"activation": series(cfg, r["activation"], int(r["depth"]))} for r in rows]
    each = [(a, depth, series(cfg, a.label, depth)) for depth in cfg.depths for a in cfg.activations]
    acts = [name for _, _, name in each]
    linear = frozenset(name for a, _, name in each if a.family.piecewise_linear)
    widenable = frozenset(name for a, _, name in each if is_pointwise(a.module(4)))
    floors = expressivity_floors(cfg)
    fits = summarize(rows, metric, boot, (list(targets), acts), linear, floors, widenable)
    cheb = chebyshev_reference(targets, rows)
    run_file = out / "run.json"
    summary = {
        "config": cfg.name,
        "metric": metric,
        "rows": len(rows),
        "diverged": sum(r["status"] == "diverged" for r in rows),
        "continuation": cfg.continuation,
        "starts": dict(Counter(r["start"] for r in rows if r.get("start"))),
        "bounded_in_width": [name for a, _, name in each if a.family.layer_normalised],
        "fits": fits,
        "chebyshev": cheb,
        "against_chebyshev": against_chebyshev(targets, rows, metric),
        "run": _run_record(run_file),
    }
    write_json(out / "summary.json", summary)
    figs = figures(out, rows, fits, cheb, metric)
    write_text(out / "report.md", report(out, summary, figs))
    return summary


def _run_record(path: Path) -> dict | None:
    """run.json if it is a well-formed record of the run's sessions; a malformed one is refused."""
    if not path.exists():
        return None
    record = read_json(path)
    runs = record.get("runs") if isinstance(record, dict) else None
    needed = ("command", "device", "git_commit", "versions")
    complete = isinstance(runs, list) and runs and all(isinstance(r, dict) and set(needed) <= set(r) for r in runs)
    if not complete or not isinstance(record.get("total_wall_seconds"), int | float):
        raise UserError(f"{path}: not a record of rates sessions (needs runs with {', '.join(needed)})")
    return record
