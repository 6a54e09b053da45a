"""From ``results.csv`` to ``summary.json``, figures and ``report.md`` (docs/theory.md §5, §7).

The numbers come from experiments/rates/summary.py and the figures from experiments/rates/figures.py;
report.md adds the slope table, the floors, the rising steps, Chebyshev's ratios, the certified ends,
the starts the portfolio chose, and the run's command, wall time and provenance.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from approx.activations import is_pointwise
from experiments.atomic_io import write_json, write_text
from experiments.inputs import read_json
from experiments.rates import results_table
from experiments.rates.figures import figures
from experiments.rates.summary import (
    against_chebyshev,
    chebyshev_reference,
    expressivity_floors,
    load_rows,
    series,
    summarize,
)
from experiments.user_errors import UserError


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
    """report.md: the run, the slope table, then the certified ends, the rising steps and Chebyshev."""
    lines = _header(summary) + _slope_table(summary) + _certified_table(summary)
    lines += _rising(summary) + _chebyshev(summary) + ["", "## Figures", ""]
    for p in figs:
        rel = p.relative_to(out)
        lines += [f"![{rel.stem}]({rel.as_posix()})", ""]
    return "\n".join(lines) + "\n"


def headline(summary: dict) -> str:
    """One line for the terminal: the rate fits, and the rising steps that report.md lists."""
    rising = sum(len(f.get("rising") or []) for f in summary["fits"])
    return f"{summary['rows']} fits, {len(summary['fits'])} rate fits, rising steps (> 10%): {rising}"


def _header(summary: dict) -> list[str]:
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
    return lines + _starts(summary) + _bounded(summary)


def _slope_table(summary: dict) -> list[str]:
    lines = [
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
    return lines


def _certified_table(summary: dict) -> list[str]:
    proved = [f for f in summary["fits"] if f.get("certified")]
    if not proved:
        return []
    lines = [
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
    return lines


def _rising(summary: dict) -> list[str]:
    rising = [(f, step) for f in summary["fits"] for step in f.get("rising") or []]
    lines = [
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
    return lines


def _chebyshev(summary: dict) -> list[str]:
    lines: list[str] = []
    if summary.get("chebyshev"):
        lines += ["", "Chebyshev interpolation (1-D reference, k coefficients):", ""]
        for name, ref in summary["chebyshev"].items():
            pts = ", ".join(f"k={c['params']}: {c['max_abs']:.1e}" for c in ref[:: max(1, len(ref) // 6)])
            lines.append(f"- {name}: {pts}")
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
    return lines


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
