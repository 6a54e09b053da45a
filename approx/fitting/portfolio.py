"""A portfolio of starts inside one fit, the winner chosen on a validation split (docs/theory.md §7).

No single start serves every architecture: the kinks start (knots on a grid, PolyReLU at ReLU^r) is
excellent for shallow ReLU-type networks and poor for deep ones, the uniform start the other way
round. So ``init = "auto"`` trains several candidates of the same architecture on the same points,
each through the schedule that suits it, and keeps, per model, the one with the smallest sup error on
a validation split, points held back from training (never the test grid):

- ``uniform``: U(±1/√fan_in), then Adam → Levenberg–Marquardt → the exact readout;
- ``kinks`` (one hidden layer, activations with breakpoints or knees): the kinks start, then
  readout → LM → readout. A GELU or tanh unit gets its knee or step on the grid, as sharp as the grid
  is fine; started uniform, every such unit is a wide smooth function and the readout's floor stops
  falling with width (docs/theory.md §7). Composed in deeper layers, ReLU^r units make steep, spiky
  functions; deeper networks inherit the start through growth instead;
- ``grown`` (depth ≥ 2, activations with an identity layer): the one-hidden-layer network of the same
  width, itself chosen this way, deepened by L − 1 layers that are the identity on the data
  (approx/fitting/growth.py), then LM. Its training loss starts where the shallow fit ended and LM
  only lowers it, so depth never costs training error against that shallow network.
- ``widened`` (given a smaller fit of the same depth, e.g. the next smaller size of a rates study):
  that fit with zero-output units added (approx/fitting/growth.py, ``widen``), then LM. It starts
  as the smaller network, everywhere (PolyNorm: to a relative ~ε/mean(h^{2i})), so its training
  loss starts at the smaller fit's on these points and only falls (continuation in size).

A candidate's score is the larger of two lower bounds on its sup error (the second wherever L bounds
f's slope), each from that candidate and the data alone: its sup error on the validation points,
and its excess beyond the data's band on an unlabelled probe grid of the cube (corners included).
The band allows a value within L·dist of the nearest training value, L twice the steepest slope
between neighbouring training points (``Band``): the probe sees a spike between points that a few
validation points miss, and a target whose own extremes lie between the sampled points costs a good
fit nothing. Since no candidate's score depends on another's, adding a candidate (``widened``, say)
can only win or lose, never re-rank the others.

Candidates train on the first 7/8 of each model's points; the chosen network is then polished on all
of them (L-BFGS, LM, the exact readout: each step only lowers its training loss). Every candidate's
validation error is kept, so each fit records its start and why.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from approx.fitting import metrics, targets
from approx.fitting.growth import can_deepen, can_widen, deepen, widen
from approx.fitting.initialisation import initial_parameters, resolve
from approx.fitting.models import Architecture
from approx.fitting.schedule import (
    GROWN_SCHEDULE,
    KINKS_SCHEDULE,
    POLISH_SCHEDULE,
    UNIFORM_SCHEDULE,
    Phase,
)
from approx.fitting.train import Fit, train

#: the share of each model's points held back for the choice (at least VALIDATION_MIN points)
VALIDATION_SHARE, VALIDATION_MIN = 1 / 8, 8


@dataclass(frozen=True)
class Smaller:
    """A smaller fit to continue from: its architecture and its rows (M, P), one per model of the stack."""

    arch: Architecture
    theta: Tensor


@dataclass(frozen=True)
class Start:
    """One candidate: its name, how it starts (``uniform``, ``kinks``, ``grown`` or ``widened``) and its
    schedule; a ``widened`` start names the smaller fit it grows from."""

    name: str
    init: str
    phases: tuple[Phase, ...]
    smaller: Smaller | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Engine:
    """How every candidate trains: dtypes, device, divergence limit, progress callback."""

    master: torch.dtype = torch.float64  # parameters, loss and optimiser
    compute: torch.dtype | None = None  # a lower precision for the forward pass, if any
    device: str = "cpu"
    explode: float = 1e6
    progress: Callable | None = None
    chunk: int | None = None  # models per chunk of every training; None: by timing (approx/fitting/plans.py)


@dataclass(frozen=True)
class Chosen:
    """Per model, the winning candidate's parameters, its training record and every candidate's score."""

    theta: Tensor  # (M, P)
    fit: Fit  # the winners' rows; seconds: the whole portfolio's
    start: tuple[str, ...]
    validation: tuple[dict[str, float], ...]  # per model: start -> validation sup error


def starts(
    arch: Architecture,
    init: str = "auto",
    phases: tuple[Phase, ...] | None = None,
    kinks_phases: tuple[Phase, ...] | None = None,
    smaller: Smaller | None = None,
) -> tuple[Start, ...]:
    """The candidates for ``arch``: the portfolio for ``"auto"`` (with ``widened`` when a ``smaller``
    fit is given), else the one start named."""
    uniform = Start("uniform", "uniform", phases or UNIFORM_SCHEDULE)
    kinks = Start("kinks", "kinks", kinks_phases or (phases if init == "kinks" and phases else KINKS_SCHEDULE))
    if init != "auto":
        return (kinks if resolve(init, arch.activation) == "kinks" else uniform,)
    out = [uniform]
    family = arch.activation.family
    if (family.kinked or family.knee) and arch.depth == 1:  # deeper networks inherit it by growth
        out.append(kinks)
    if arch.depth > 1 and can_deepen(arch):
        out.append(Start("grown", "grown", GROWN_SCHEDULE))
    if smaller is not None:
        check_smaller(arch, smaller)
        out.append(Start("widened", "widened", GROWN_SCHEDULE, smaller))
    return tuple(out)


def check_smaller(arch: Architecture, smaller: Smaller) -> None:
    """A fit ``arch`` can continue from: same input, depth and activation, no more units."""
    a = smaller.arch
    if (a.d_in, a.depth, a.activation) != (arch.d_in, arch.depth, arch.activation) or a.width > arch.width:
        raise ValueError(
            f"cannot continue a width-{arch.width} fit from a width-{a.width} one of depth {a.depth}, "
            f"d = {a.d_in}, {a.activation.label}: widening keeps d, depth and activation, and never narrows"
        )
    if not can_widen(arch):
        raise ValueError(f"{arch.activation.label}: a fit of it cannot be widened")
    if smaller.theta.shape[-1] != a.size:
        raise ValueError(f"the smaller fit's rows have {smaller.theta.shape[-1]} parameters, its network {a.size}")


def split(x: Tensor, y: Tensor) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """(training, validation) parts of each model's points: the last VALIDATION_SHARE are held back."""
    n = x.shape[-2]
    held = max(VALIDATION_MIN, math.ceil(VALIDATION_SHARE * n))
    if n - held < VALIDATION_MIN:
        raise ValueError(f"{n} training points are too few to hold {held} back for choosing a start")
    return (x[:, :-held], y[:, :-held]), (x[:, -held:], y[:, -held:])


def fit(
    arch: Architecture, seeds: list[int], x: Tensor, y: Tensor, candidates: tuple[Start, ...], engine: Engine
) -> Chosen:
    """Train the candidates on x (M, N, d), y (M, N) and keep, per model, the best on validation.

    With one candidate there is nothing to choose: it trains on every point.
    """
    if len(candidates) == 1:
        start = time.perf_counter()
        result = _train(
            arch,
            initial_parameters(arch, seeds, candidates[0].name, engine.master, engine.device),
            x,
            y,
            candidates[0],
            engine,
        )
        result = dataclasses.replace(result, seconds=time.perf_counter() - start)
        return Chosen(result.theta, result, (candidates[0].name,) * len(seeds), tuple({} for _ in seeds))
    train_part, val_part = split(x, y)
    chosen = choose(arch, seeds, train_part, val_part, candidates, engine)
    start = time.perf_counter()
    polished = _train(arch, chosen.theta.to(engine.master), x, y, Start("polish", "", POLISH_SCHEDULE), engine)
    fit = dataclasses.replace(
        chosen.fit,
        theta=polished.theta,
        status=[a if a != "ok" else b for a, b in zip(chosen.fit.status, polished.status, strict=True)],
        steps=[a + b for a, b in zip(chosen.fit.steps, polished.steps, strict=True)],
        train_loss=polished.train_loss,
        seconds=chosen.fit.seconds + time.perf_counter() - start,
        history=[a + b for a, b in zip(chosen.fit.history or [], polished.history or [], strict=True)],
    )
    return dataclasses.replace(chosen, theta=polished.theta, fit=fit)


def choose(
    arch: Architecture,
    seeds: list[int],
    train_part: tuple[Tensor, Tensor],
    val_part: tuple[Tensor, Tensor],
    candidates: tuple[Start, ...],
    engine: Engine,
    where: Band | None = None,
) -> Chosen:
    """Every candidate trained on ``train_part``; per model the smallest score on ``val_part``.
    ``where``: the band of ``train_part``, if already computed (it depends on the points alone)."""
    start = time.perf_counter()
    where = where or band(train_part, probe_points(arch.d_in))
    runs = train_candidates(arch, seeds, train_part, val_part, candidates, engine, where)
    table = scores(arch, runs, train_part, val_part, where)
    names = list(runs)
    best = torch.stack([table[n] for n in names]).argmin(0).tolist()  # ties: the first in the portfolio's order
    rows = [runs[names[k]] for k in best]
    theta = torch.stack([run.theta[m] for m, run in enumerate(rows)])
    fit = Fit(
        theta,
        [run.status[m] for m, run in enumerate(rows)],
        [run.stop[m] for m, run in enumerate(rows)],
        [run.steps[m] for m, run in enumerate(rows)],
        [run.train_loss[m] for m, run in enumerate(rows)],
        time.perf_counter() - start,
        rows[0].chunk,
        rows[0].threads,
        [run.history[m] if run.history else [] for m, run in enumerate(rows)],
    )
    validation = tuple({n: float(table[n][m]) for n in names} for m in range(len(seeds)))
    return Chosen(theta, fit, tuple(names[k] for k in best), validation)


def train_candidates(
    arch: Architecture,
    seeds: list[int],
    train_part: tuple[Tensor, Tensor],
    val_part: tuple[Tensor, Tensor],
    candidates: tuple[Start, ...],
    engine: Engine,
    where: Band | None = None,
) -> dict[str, Fit]:
    """Each candidate trained on ``train_part`` (a grown one's shallow fit is chosen on ``val_part``)."""
    runs: dict[str, Fit] = {}
    for cand in candidates:
        if cand.init == "grown":
            runs[cand.name] = _grown(arch, seeds, train_part, val_part, cand, engine, where)
        elif cand.smaller is not None:
            small = cand.smaller
            _, theta0 = widen(small.arch, small.theta.to(engine.device, engine.master), arch.width, seeds)
            runs[cand.name] = _train(arch, theta0, *train_part, cand, engine)
        else:
            theta0 = initial_parameters(arch, seeds, cand.init, engine.master, engine.device)
            runs[cand.name] = _train(arch, theta0, *train_part, cand, engine)
    return runs


def _train(arch: Architecture, theta0: Tensor, x: Tensor, y: Tensor, cand: Start, engine: Engine) -> Fit:
    return train(
        arch,
        theta0,
        x.to(engine.device, engine.compute or engine.master),
        y.to(engine.device, engine.master),
        list(cand.phases),
        explode=engine.explode,
        chunk=engine.chunk,
        compute_dtype=engine.compute,
        progress=engine.progress,
    )


def _grown(
    arch: Architecture,
    seeds: list[int],
    train_part: tuple[Tensor, Tensor],
    val_part: tuple[Tensor, Tensor],
    cand: Start,
    engine: Engine,
    where: Band | None = None,
) -> Fit:
    """The one-hidden-layer network of the same width, chosen on the same split, deepened, then trained."""
    shallow = dataclasses.replace(arch, depth=1)
    inner = choose(shallow, seeds, train_part, val_part, starts(shallow), engine, where)
    x = train_part[0]
    # the identity must hold where the network will be asked: the points and a grid of the whole cube
    grid = targets.dense_grid(arch.d_in, 1024 if arch.d_in == 1 else 4096).to(x)
    asked = torch.cat([x, val_part[0].to(x), grid.expand(x.shape[0], -1, -1)], 1).to(engine.device, engine.master)
    net, theta0 = shallow, inner.theta.to(engine.master)
    while net.depth < arch.depth:
        net, theta0 = deepen(net, theta0, asked)
    return _train(arch, theta0, *train_part, cand, engine)


def probe_points(d: int) -> Tensor:
    """Unlabelled points where a network must stay near the data: a grid of the cube and its corners."""
    grid = targets.dense_grid(d, 1024 if d == 1 else 4096)
    return torch.cat([targets.boundary(d, min(2**d, 64)), grid]) if d <= 6 else grid


@dataclass(frozen=True)
class Band:
    """Where the training data lets a network's values lie on the probe points (docs/theory.md §7): at a
    probe point p, within ``slack`` = L·|p − x_k| of ``centre`` = y_k, x_k the training point nearest p
    and L twice the steepest slope between nearest-neighbour training points. Wherever L bounds f's
    slope, a network's excess beyond the band is a lower bound on its sup error, as its validation
    error is, and no candidate moves another's."""

    points: Tensor  # (Q, d), the probe
    centre: Tensor  # (M, Q)
    slack: Tensor  # (M, Q)

    def excess(self, arch: Architecture, theta: Tensor) -> Tensor:
        """(M,) how far the networks ``theta`` (M, P) leave the band on the probe points."""
        values = metrics.predict(arch, theta, self.points)
        return ((values - self.centre).abs() - self.slack).clamp(min=0).amax(1)


def band(train_part: tuple[Tensor, Tensor], probe: Tensor) -> Band:
    """The band of each model's training points (M, N, d), (M, N) on the probe points (Q, d)."""
    centre, slack = [], []
    for x, y in zip(train_part[0].double().cpu(), train_part[1].double().cpu(), strict=True):
        gap, j = _nearest(x, x, itself=True)
        apart = gap > 0  # a repeated point says nothing of the slope; all repeated: no band at all
        steepest = 2 * ((y - y[j])[apart].abs() / gap[apart]).amax() if apart.any() else torch.tensor(torch.inf)
        dist, k = _nearest(probe.double(), x)
        centre.append(y[k])
        slack.append(torch.where(dist > 0, steepest * dist, 0.0))
    return Band(probe.double(), torch.stack(centre), torch.stack(slack))


def _nearest(a: Tensor, b: Tensor, itself: bool = False, rows: int = 1024) -> tuple[Tensor, Tensor]:
    """Per row of ``a``, the distance to its nearest row of ``b`` and that row's index (itself left out
    when ``a`` is ``b``), ``rows`` at a time so memory stays O(rows · len(b))."""
    dist, index = [], []
    for i in range(0, a.shape[0], rows):
        gaps = torch.cdist(a[i : i + rows], b, compute_mode="donot_use_mm_for_euclid_dist")  # same in any rows
        if itself:
            gaps.diagonal(i).fill_(torch.inf)
        d, k = gaps.min(1)
        dist.append(d)
        index.append(k)
    return torch.cat(dist), torch.cat(index)


def scores(
    arch: Architecture,
    runs: dict[str, Fit],
    train_part: tuple[Tensor, Tensor],
    val_part: tuple[Tensor, Tensor],
    where: Band | None = None,
) -> dict[str, Tensor]:
    """Per candidate, (M,) max(sup |f − net| on the validation points, its excess beyond the data's
    band on the probe points); +inf for a diverged or non-finite model. Both are lower bounds on the
    candidate's sup error, each computed from that candidate and the data alone."""
    where = where or band(train_part, probe_points(arch.d_in))
    parts = {name: validation_errors(arch, run, val_part, where) for name, run in runs.items()}
    return {name: torch.maximum(err, excess) for name, (err, excess) in parts.items()}


def validation_errors(
    arch: Architecture, run: Fit, val_part: tuple[Tensor, Tensor], where: Band
) -> tuple[Tensor, Tensor]:
    """(M,) sup |f − net| on the validation points and (M,) excess of the probe values beyond the
    band, both +inf for a diverged or non-finite model."""
    theta = run.theta.double().cpu()
    x, y = val_part
    err = (metrics.predict(arch, theta, x.double().cpu()) - y.double().cpu()).abs().amax(1)
    excess = where.excess(arch, theta)
    ok = torch.tensor([s == "ok" for s in run.status]) & err.isfinite() & excess.isfinite()
    return torch.where(ok, err, torch.inf), torch.where(ok, excess, torch.inf)
