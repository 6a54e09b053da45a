"""A rates run's numbers, from the rows of ``results.csv`` (docs/theory.md §5, §7).

Per (target, activation) series: the rate fit error ≈ C·P^{slope} with a seed-bootstrap CI
(approx.fitting.rates) beside the theory slope −n/d and the piecewise-linear ReLU slope −min(n,2)/d;
the sizes at a floor; the continuation envelope; the steps where the best error rose with size; the
certified ends where the rows have them. In 1-D, Chebyshev interpolation is the classical reference.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import numpy as np

from approx.fitting import chebyshev, rates
from approx.fitting.targets import dense_grid
from experiments.rates import results_table
from experiments.user_errors import UserError


def as_float(v: str) -> float:
    """A cell of results.csv as a number; NaN for a blank (a diverged fit's error, a fit never certified)."""
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


def smoothness(n: str) -> int | None:
    """A target's smoothness n from its row; None for an analytic target."""
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
        d, n = int(rs[0]["d"]), smoothness(rs[0]["n"])
        ok = [r for r in rs if r["status"] == "ok"]
        params, errors = [as_float(r["params"]) for r in ok], [as_float(r[metric]) for r in ok]
        floor = (expressivity or {}).get((target, act))
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
            "best_error": min(errors, default=math.nan),
        }
        try:
            fit, floors = rates.fit_above_floor(
                params,
                errors,
                [int(r["seed"]) for r in ok],
                [as_float(r["rmse"]) for r in ok],
                [as_float(r["train_rmse"]) for r in ok],
                boot=boot,
                expressivity=floor,
            )
        except ValueError as err:
            fit, floors, entry["note"] = None, {}, str(err)
        entry["floors"] = {str(int(p)): why for p, why in floors.items()}
        entry["expressivity_floor"] = floor
        entry["envelope"] = [[int(p), e] for p, e in rates.envelope(params, errors)] if act in widenable else None
        entry["sizes_used"] = [int(p) for p in sorted(set(params)) if p not in floors]
        entry["rising"] = [
            {"from": int(p0), "to": int(p1), "before": e0, "after": e1}
            for p0, p1, e0, e1 in rates.rising_steps(params, errors, floors)
        ]
        entry["certified"] = _certified(ok, metric, boot, floor)
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
    below = max(max(0.0, 1 - as_float(r["max_abs"]) / as_float(r["certified_lower"])) for r in rs)
    out = {"fits": len(rs), "slope": None, "grid_below": below}
    try:
        fit, _ = rates.fit_above_floor(
            [as_float(r["params"]) for r in rs],
            [as_float(r["certified_upper"]) for r in rs],
            [int(r["seed"]) for r in rs],
            [as_float(r["rmse"]) for r in rs],
            [as_float(r["train_rmse"]) for r in rs],
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
    for name, t in ((name, t) for name, t in targets.items() if t.d == 1):
        best: dict[int, dict[str, str]] = {}  # size -> its best row over every series and seed
        for r in rows:
            if r["target"] == name and r["status"] == "ok":
                size = int(r["size_target"])
                if size not in best or as_float(r[metric]) < as_float(best[size][metric]):
                    best[size] = r
        chosen = [best[size] for size in sorted(best)]
        if not chosen:
            continue
        reference = chebyshev.interpolation_errors(t, [int(r["params"]) for r in chosen], dense_grid(1, test_points))
        out[name] = [
            {
                "size": int(r["size_target"]),
                "params": int(r["params"]),
                "series": r["activation"],
                "network": as_float(r[metric]),
                "chebyshev": ref[metric],
                "ratio": as_float(r[metric]) / ref[metric],
            }
            for r, ref in zip(chosen, reference, strict=True)
        ]
    return out
