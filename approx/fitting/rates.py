"""Rate fits: error ≈ C · P^{−α}, with bootstrap confidence intervals over seeds (docs/theory.md §5, §7).

``fit_rate`` is least squares of log err on log P over every (size, seed) point. The rate protocol
(``fit_above_floor``) fits the *best* error per size instead, the best over the learning-rate × seed
grid: a slope then measures what the architecture can reach, not the average luck of a start.
Either bootstrap resamples *seeds* with replacement (all sizes of a drawn seed come along), refits,
and reports the percentile interval of the slope: seeds are the independent unit, sizes of one seed
are not.

Theory slopes to set beside the fit (P = parameter count, d = input dimension):

- smoothness n, constructive rate (Yarotsky; PolyReLU Theorem 3): error ~ P^{−n/d}, slope −n/d;
- a shallow / piecewise-linear ReLU fit: error ~ P^{−2/d} at best (interpolation of a C² function by
  ~P linear pieces), so ReLU's slope is −min(n, 2)/d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

import numpy as np


@dataclass(frozen=True)
class RateFit:
    """error ≈ C · P^{slope} (slope = −α), with a bootstrap percentile interval for the slope."""

    slope: float
    log_c: float
    ci_low: float
    ci_high: float
    points: int
    seeds: int
    r2: float

    def predict(self, params: np.ndarray) -> np.ndarray:
        return np.exp(self.log_c) * np.asarray(params, dtype=float) ** self.slope


def _lstsq(logp: np.ndarray, loge: np.ndarray) -> tuple[float, float]:
    A = np.stack([logp, np.ones_like(logp)], axis=1)
    (slope, intercept), *_ = np.linalg.lstsq(A, loge, rcond=None)
    return float(slope), float(intercept)


def fit_rate(
    params: np.ndarray,
    error: np.ndarray,
    seeds: np.ndarray,
    boot: int = 1000,
    level: float = 0.95,
    rng_seed: int = 0,
) -> RateFit:
    """Fit log error = log C + slope · log P; CI from ``boot`` seed-bootstrap refits.

    Non-finite or non-positive errors (diverged fits) are dropped. Needs ≥ 2 distinct sizes.
    """
    params, error, seeds = (np.asarray(a) for a in (params, error, seeds))
    keep = np.isfinite(error) & (error > 0) & (params > 0)
    params, error, seeds = params[keep].astype(float), error[keep].astype(float), seeds[keep]
    if len(np.unique(params)) < 2:
        raise ValueError("a rate fit needs at least two distinct sizes with finite errors")
    logp, loge = np.log(params), np.log(error)
    slope, log_c = _lstsq(logp, loge)
    resid = loge - (slope * logp + log_c)
    ss_tot = float(((loge - loge.mean()) ** 2).sum())
    r2 = 1 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else 1.0
    unique = np.unique(seeds)
    rng = np.random.default_rng(rng_seed)
    slopes = []
    by_seed = {s: np.flatnonzero(seeds == s) for s in unique}
    for _ in range(boot if len(unique) > 1 else 0):
        idx = np.concatenate([by_seed[s] for s in rng.choice(unique, size=len(unique), replace=True)])
        if len(np.unique(logp[idx])) >= 2:
            slopes.append(_lstsq(logp[idx], loge[idx])[0])
    if slopes:
        lo, hi = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2])
    else:
        lo = hi = math.nan
    return RateFit(slope, log_c, float(lo), float(hi), int(len(params)), int(len(unique)), r2)


#: sup error below which float64 rounding, not the network, sets the level (the targets have sup|f| = 1)
FLOAT64_FLOOR = 1e-12
#: a size whose error is within this factor of the architecture's best possible error is at that floor
EXPRESSIVITY_FACTOR = 2.0
#: test RMSE over train RMSE above which the training points, not the network, limit the error
DATA_GAP = 10.0


def floor_reason(error: float, test_rmse: float, train_rmse: float) -> str | None:
    """Why a size's (median) error is at a floor rather than on the network's rate, or None.

    ``float64``: the error is at rounding level. ``data``: the network interpolates its training points
    but misses the function between them (test ≫ train), so more parameters cannot help without more
    data. Slopes are fitted only on sizes with no floor (``fit_above_floor``).
    """
    if math.isfinite(error) and error <= FLOAT64_FLOOR:
        return "float64"
    if train_rmse > 0 and math.isfinite(test_rmse) and test_rmse / train_rmse > DATA_GAP:
        return "data"
    return None


def fit_best(params, error, seeds, boot: int = 1000, level: float = 0.95, rng_seed: int = 0) -> RateFit:
    """The rate of the best error per size: log min_grid err(P) = log C + slope · log P.

    Each size's point is the best over all its rows (the learning-rate × seed grid of that size). The
    interval resamples *seeds* with replacement, takes each size's best over the rows of the drawn
    seeds (every learning rate of a drawn seed comes along), and refits.
    """
    params, error, seeds = (np.asarray(a) for a in (params, error, seeds))
    keep = np.isfinite(error) & (error > 0) & (params > 0)
    params, error, seeds = params[keep].astype(float), error[keep].astype(float), seeds[keep]
    sizes = np.unique(params)
    if len(sizes) < 2:
        raise ValueError("a rate fit needs at least two distinct sizes with finite errors")

    def best(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        at = [s for s in sizes if np.any(params[rows] == s)]
        return np.log(at), np.log([error[rows][params[rows] == s].min() for s in at])

    logp, loge = best(np.arange(len(params)))
    fit = fit_rate(np.exp(logp), np.exp(loge), np.zeros(len(logp), dtype=int), boot=0)
    unique = np.unique(seeds)
    rng = np.random.default_rng(rng_seed)
    slopes = []
    for _ in range(boot if len(unique) > 1 else 0):
        drawn = rng.choice(unique, size=len(unique), replace=True)
        lp, le = best(np.flatnonzero(np.isin(seeds, drawn)))
        if len(lp) >= 2:
            slopes.append(_lstsq(lp, le)[0])
    lo, hi = np.quantile(slopes, [(1 - level) / 2, (1 + level) / 2]) if slopes else (math.nan, math.nan)
    return RateFit(fit.slope, fit.log_c, float(lo), float(hi), len(logp), len(unique), fit.r2)


def fit_above_floor(
    params, error, seeds, test_rmse, train_rmse, boot: int = 1000, expressivity: float | None = None
) -> tuple[RateFit | None, dict]:
    """``fit_best`` on the sizes whose best row is at no floor; returns (fit or None, floors by size).

    A size's floor is judged on its best row (lowest ``error``), the one the fit uses. ``expressivity``:
    the lowest error the architecture can reach at any size (a polynomial network's degree); a size
    within :data:`EXPRESSIVITY_FACTOR` of it is at the ``expressivity`` floor.
    """
    params, error, seeds = (np.asarray(a, dtype=float) for a in (params, error, seeds))
    test_rmse, train_rmse = np.asarray(test_rmse, dtype=float), np.asarray(train_rmse, dtype=float)
    floors = {}
    for size in np.unique(params):
        at = np.flatnonzero((params == size) & np.isfinite(error))
        if not len(at):
            continue
        i = at[np.argmin(error[at])]
        reason = floor_reason(float(error[i]), float(test_rmse[i]), float(train_rmse[i]))
        if expressivity is not None and error[i] <= EXPRESSIVITY_FACTOR * expressivity:
            reason = "expressivity"
        if reason:
            floors[float(size)] = reason
    keep = ~np.isin(params, list(floors))
    if len(np.unique(params[keep])) < 2:
        return None, floors
    return fit_best(params[keep], error[keep], seeds[keep].astype(int), boot=boot), floors


def envelope(params, error) -> list[tuple[float, float]]:
    """(size, best error at this size or any smaller one), sizes ascending: the continuation envelope.

    A wider network contains a narrower one exactly (approx/fitting/growth.py, ``widen``: new units with
    zero outgoing weights), so the error at size P_k is never more than the best at any P_j ≤ P_k; the
    envelope is that bound, made of networks that exist.
    """
    params, error = np.asarray(params, dtype=float), np.asarray(error, dtype=float)
    out, best = [], math.inf
    for size in np.unique(params):
        here = error[(params == size) & np.isfinite(error)]
        best = min(best, float(here.min())) if len(here) else best
        out.append((float(size), best))
    return out


def rising_steps(params, error, floors=(), tolerance: float = 0.1) -> list[tuple[float, float, float, float]]:
    """(P_j, P_k, e_j, e_k) for each step between consecutive sizes off the floors (``floors``: sizes)
    where the best error rises by more than ``tolerance``: e_k > (1 + tolerance)·e_j.

    The network of size P_k contains the one of size P_j (docs/theory.md §7, growth), so such a step is
    the optimiser's failure, not the architecture's; the envelope hides it, this lists it.
    """
    params, error = np.asarray(params, dtype=float), np.asarray(error, dtype=float)
    skip = set(map(float, floors))
    best = []
    for size in np.unique(params):
        here = error[(params == size) & np.isfinite(error)]
        if len(here) and float(size) not in skip:
            best.append((float(size), float(here.min())))
    return [(p0, p1, e0, e1) for (p0, e0), (p1, e1) in pairwise(best) if e1 > (1 + tolerance) * e0]


def theory_slope(n: int | None, d: int, relu: bool = False) -> float | None:
    """The constructive slope −n/d (ReLU piecewise-linear: −min(n, 2)/d); None for analytic targets."""
    if n is None:
        return -2.0 / d if relu else None
    return -(min(n, 2) if relu else n) / d
