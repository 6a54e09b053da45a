"""Rate sweeps: TOML config → jobs (target × activation × size × seed) → resumable ``results.csv``.

Config (see experiments/configs/quick.toml)::

    name = "quick"
    depth = 2                    # hidden layers of every network
    sizes = [100, 300, 1000]     # target parameter counts; the width solver picks each width
    seeds = [0, 1, 2]
    dtype = "float64"            # float64 | float32 | tf32 (CUDA) | bfloat16
    metric = "max_abs"           # error the rate fit uses: max_abs | rmse
    compile = false              # torch.compile the learnable activations (pays off for long sweeps)
    init = "auto"                # auto (kinks for ReLU types) | uniform | kinks | theorem3 | theorem3-relu
    stages = 1                   # residual stages per fit; a size is the total over the stages
    lrs = [1e-3, 1e-2]           # optional: a learning-rate axis (each Adam phase's lr); reports take the best
    targets = [{family = "abs_power", n = 1, d = 1}, {name = "runge"}, {expr = "x0*x1", d = 2}]
    activations = ["relu", {name = "polyrelu", coefficients = "per_neuron"}]
    [data]
    train_points = 1024          # or a table by dimension: {1 = 512, 2 = 2048}
    per_parameter = 0            # at least this many train points per parameter (0: off)
    sampling = "sobol"           # random | sobol | chebyshev
    test_points = 8192           # dense grid size (per target; ~points^{1/d} per axis)
    [[phases]]                   # the optimiser schedule: approx.fitting.train.Phase fields
    optimizer = "adam"
    steps = 1000
    lr = 3e-3
    [[kinks_phases]]             # optional: the schedule of kinks starts (default: [[phases]] if given,
    optimizer = "varpro"         # else KINKS_SCHEDULE: readout, LM, readout; Adam would lose the start)

Every problem in the config is found by :func:`load` before any fit starts. Jobs of one
architecture and input dimension form one stack (all their targets and seeds): approx.fitting.train
chooses stacked or one-at-a-time by timing. After every stack the CSV is rewritten atomically
with the new rows, so a killed run loses at most the stack in flight and ``--resume`` skips every
job already in the file (by its id): no lost and no duplicated rows.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from approx.fitting import metrics, pattern, targets
from approx.fitting.initialisation import INITS, initial_parameters, resolve
from approx.fitting.models import Activation, Architecture, compile_activations, width_for_params
from approx.fitting.targets import Target
from approx.fitting.train import DEFAULT_SCHEDULE, Fit, Phase, default_schedule, fit
from approx.fitting.varpro import solve_readout
from experiments import executors, resources
from experiments.atomic_io import remove_temp_files, write_text
from experiments.constructions import theorem3_start
from experiments.faults import checkpoint, kill_once
from experiments.rates import results_table
from experiments.rates.expressions import expression_target
from experiments.user_errors import UserError, require_choice, require_int, require_number, user_input
from theory.sobolev.target import SobolevTarget

DTYPES = {"float64": torch.float64, "float32": torch.float32, "tf32": torch.float32, "bfloat16": torch.bfloat16}
TOP_KEYS = {
    "name",
    "description",
    "depth",
    "sizes",
    "seeds",
    "dtype",
    "metric",
    "targets",
    "activations",
    "data",
    "phases",
    "explode",
    "varpro",
    "compile",
    "init",
    "stages",
    "lrs",
    "kinks_phases",
}
DATA_KEYS = {"train_points", "sampling", "test_points", "per_parameter"}
CONSTRUCTION_INITS = tuple(theorem3_start.FORMS)


@dataclass(frozen=True)
class Job:
    """One fit: a target, an activation, a size and a seed."""

    target: Target
    activation: Activation
    size: int
    seed: int
    arch: Architecture  # one stage's network (a construction start: the dense network of that size)
    lr: float | None = None  # this job's Adam learning rate, when the config has an ``lrs`` axis

    @property
    def id(self) -> str:
        lr = "" if self.lr is None else f"|lr{self.lr:g}"
        return f"{self.target.name}|{self.activation.label}|P{self.size}|s{self.seed}{lr}"


@dataclass
class Config:
    name: str
    text: str
    depth: int
    sizes: list[int]
    seeds: list[int]
    dtype: str
    metric: str
    targets: list[Target]
    activations: list[Activation]
    train_points: dict[int, int]
    sampling: str
    test_points: int
    phases: list[Phase]
    explode: float
    compile: bool = False
    varpro: bool = False  # replace each trained readout by its least-squares solution (approx/fitting/varpro.py)
    per_parameter: float = 0.0  # train points per parameter at least, over train_points
    phases_given: bool = True  # False: no [[phases]], so each start runs its own default schedule
    kinks_phases: list[Phase] | None = None  # the schedule of kinks starts, if the config gives one
    init: str = "auto"  # starting parameters: auto | uniform | kinks | theorem3 | theorem3-relu (§7)
    stages: int = 1  # residual stages per fit (approx/fitting/stages.py)
    lrs: list[float] | None = None  # the learning-rate axis, if any
    expressions: dict[str, tuple[str, int | None]] = field(default_factory=dict)  # target name -> (text, n)
    jobs: list[Job] = field(default_factory=list)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def _int_list(raw: object, what: str, lo: int, hi: int, max_len: int = 1000) -> list[int]:
    if not isinstance(raw, list) or not raw or any(isinstance(v, bool) or not isinstance(v, int) for v in raw):
        raise UserError(f"{what} must be a non-empty list of integers, got {_short(raw)}")
    if len(raw) > max_len:
        raise UserError(f"{what} has {len(raw)} entries (at most {max_len})")
    if min(raw) < lo or max(raw) > hi or len(set(raw)) != len(raw):
        raise UserError(f"{what} must be distinct integers in {lo}..{hi:.0e}, got {_short(raw)}")
    return list(raw)


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _points(value: object, what: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= resources.MAX_POINTS:
        raise UserError(f"{what} must be an integer in {lo}..{resources.MAX_POINTS:.0e}, got {_short(value)}")
    return value


def parse_target(spec: object) -> Target:
    """``{family=..., **params}``, ``{name=...}``, ``{expr=..., d=..., n=...}`` or a catalogue name."""
    if isinstance(spec, str):
        return targets.get(spec)
    if not isinstance(spec, dict):
        raise UserError(f"a target is a name or a table, got {spec!r}")
    spec = dict(spec)
    if "expr" in spec:
        unknown = set(spec) - {"expr", "d", "n", "name"}
        if unknown:
            raise UserError(f"expression target: unknown key(s) {sorted(unknown)}; valid: expr, d, n, name")
        return expression_target(spec["expr"], spec.get("d", 1), spec.get("n"), spec.get("name"))
    key = spec.pop("family", None) or spec.pop("name", None)
    if key is None:
        raise UserError(f"a target table needs 'family', 'name' or 'expr', got {spec!r}")
    return targets.get(key, **spec)


def load(path: str | Path) -> Config:
    """Parse and validate a sweep config; every job is built (widths solved) before this returns."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(f"cannot read config {str(path)!r}: {err.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}") from None
    with user_input(str(path)):
        return from_dict(raw, text, default_name=path.stem)


def _data_table(raw: dict) -> tuple[dict[int, int], str, int, float]:
    """[data]: train points (one count, or one per dimension), sampling, test points, points per parameter."""
    data = raw.get("data", {})
    if not isinstance(data, dict) or set(data) - DATA_KEYS:
        raise UserError(f"[data] takes {sorted(DATA_KEYS)}, got {data!r}")
    tp = data.get("train_points", 1024)
    if isinstance(tp, dict):
        try:
            train_points = {int(k): v for k, v in tp.items()}
        except ValueError:
            raise UserError(f"train_points table keys must be dimensions, got {_short(sorted(tp))}") from None
    else:
        train_points = {0: tp}
    train_points = {k: _points(v, "train_points", 2) for k, v in train_points.items()}
    sampling = require_choice("sampling", data.get("sampling", "sobol"), targets.SAMPLINGS)
    per_parameter = require_number("per_parameter", data.get("per_parameter", 0), 0, 64)
    return train_points, sampling, _points(data.get("test_points", 8192), "test_points", 16), per_parameter


def _phases(raw: dict, key: str = "phases") -> list[Phase]:
    """[[phases]] (or [[kinks_phases]]), or the default schedule when absent."""
    if key not in raw:
        return list(DEFAULT_SCHEDULE)
    if not isinstance(raw[key], list) or not raw[key]:
        raise UserError(f"{key} must be a non-empty list of [[{key}]] tables (or absent: the default schedule)")
    phases = []
    for i, p in enumerate(raw[key]):
        if not isinstance(p, dict):
            raise UserError(f"{key} {i} must be a table, got {p!r}")
        try:
            phases.append(Phase(**p))
        except TypeError as err:
            raise UserError(f"{key} {i}: {err}") from None
    return phases


def _targets_and_activations(raw: dict, train_points: dict[int, int]) -> tuple[list[Target], list[Activation], dict]:
    if not isinstance(raw["targets"], list) or not raw["targets"]:
        raise UserError("targets must be a non-empty list")
    tgts = [parse_target(t) for t in raw["targets"]]
    expressions = {
        t.name: (spec["expr"], spec.get("n"))
        for t, spec in zip(tgts, raw["targets"], strict=True)
        if isinstance(spec, dict) and "expr" in spec
    }
    if not isinstance(raw["activations"], list) or not raw["activations"]:
        raise UserError("activations must be a non-empty list")
    acts = [Activation.parse(a) for a in raw["activations"]]
    for what, labels in (("target", [t.name for t in tgts]), ("activation", [a.label for a in acts])):
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise UserError(f"duplicate {what}(s) {dup}: give each a distinct name/label")
    for t in tgts:
        if 0 not in train_points and t.d not in train_points:
            raise UserError(f"train_points has no entry for d={t.d} (target {t.name!r})")
    return tgts, acts, expressions


def _jobs(cfg: Config) -> list[Job]:
    """Every (target, activation, size, seed[, lr]), widths solved once per (d, activation, stage size)."""
    jobs, widths = [], {}
    for t in cfg.targets:
        for a in cfg.activations:
            for size in cfg.sizes:
                key = (t.d, a, size)
                if key not in widths:
                    widths[key] = width_for_params(max(2, size // cfg.stages), t.d, cfg.depth, a)
                arch = Architecture(t.d, widths[key], cfg.depth, a)
                jobs += [Job(t, a, size, s, arch, lr) for lr in cfg.lrs or [None] for s in cfg.seeds]
    return jobs


def _lrs(raw: object) -> list[float] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not raw or len(raw) > 16:
        raise UserError(f"lrs must be a list of 1..16 learning rates, got {_short(raw)}")
    lrs = [require_number("lrs entry", v, 0, 10, open_lo=True) for v in raw]
    if len(set(lrs)) != len(lrs):
        raise UserError(f"lrs must be distinct, got {_short(raw)}")
    return lrs


def _check_construction_start(cfg: Config) -> None:
    """``init = "theorem3"``/``"theorem3-relu"``: the activations and targets the construction exists for."""
    form, family = theorem3_start.FORMS[cfg.init]
    wrong = [a.label for a in cfg.activations if a.name != family]
    if wrong:
        raise UserError(f"init = {cfg.init!r} starts {family} networks; remove activation(s) {wrong}")
    if cfg.stages != 1 or cfg.lrs:
        raise UserError(f"init = {cfg.init!r} trains one construction by L-BFGS: no stages, no lrs")
    for t in cfg.targets:
        text, n = cfg.expressions.get(t.name, (None, None))
        if text is None or n is None:
            raise UserError(
                f"init = {cfg.init!r} needs expression targets with a smoothness n ({{expr = ..., d = ..., n = ...}}); "
                f"target {t.name!r} is not one"
            )
        try:
            SobolevTarget.parse(text, t.d, n)
        except ValueError as err:
            raise UserError(f"target {t.name!r}: Theorem 3 does not apply: {err}") from None


def from_dict(raw: dict, text: str = "", default_name: str = "sweep") -> Config:
    """A validated ``Config`` from a parsed TOML table; every job is built before this returns."""
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise UserError(f"unknown config key(s) {sorted(unknown)}; valid: {sorted(TOP_KEYS)}")
    for key in ("sizes", "seeds", "targets", "activations"):
        if key not in raw:
            raise UserError(f"config needs '{key}'")
    depth = require_int("depth", raw.get("depth", 2), 1, 64)
    sizes = _int_list(raw["sizes"], "sizes", 2, resources.MAX_PARAMS, max_len=100)
    seeds = _int_list(raw["seeds"], "seeds", 0, resources.MAX_SEED, max_len=resources.MAX_SEEDS)
    dtype = require_choice("dtype", raw.get("dtype", "float64"), DTYPES)
    metric = require_choice("metric", raw.get("metric", "max_abs"), ("max_abs", "rmse", "rel_max", "rel_rmse"))
    explode = require_number("explode", raw.get("explode", 1e6), 1, open_lo=True)
    train_points, sampling, test_points, per_parameter = _data_table(raw)
    tgts, acts, expressions = _targets_and_activations(raw, train_points)
    phases = _phases(raw)
    init = require_choice("init", raw.get("init", "auto"), INITS + CONSTRUCTION_INITS)
    stages = require_int("stages", raw.get("stages", 1), 1, 8)
    compile_, varpro = raw.get("compile", False), raw.get("varpro", False)
    for key, value in (("compile", compile_), ("varpro", varpro)):
        if not isinstance(value, bool):
            raise UserError(f"{key} must be true or false, got {_short(value)}")
    cfg = Config(
        name=raw.get("name", default_name),
        text=text,
        depth=depth,
        sizes=sizes,
        seeds=seeds,
        dtype=dtype,
        metric=metric,
        targets=tgts,
        activations=acts,
        train_points=train_points,
        sampling=sampling,
        test_points=test_points,
        phases=phases,
        explode=explode,
        compile=compile_,
        varpro=varpro,
        per_parameter=per_parameter,
        phases_given="phases" in raw,
        kinks_phases=_phases(raw, "kinks_phases") if "kinks_phases" in raw else None,
        init=init,
        stages=stages,
        lrs=_lrs(raw.get("lrs")),
        expressions=expressions,
    )
    if init in CONSTRUCTION_INITS:
        _check_construction_start(cfg)
    cfg.jobs = _jobs(cfg)
    return cfg


def points_for(cfg: Config, d: int, params: int = 0) -> int:
    """Training points for a network of ``params`` parameters: train_points, or per_parameter × params."""
    base = cfg.train_points.get(d, cfg.train_points.get(0, 1024))
    return min(resources.MAX_POINTS, max(base, math.ceil(cfg.per_parameter * params)))


def _fmt(v: object) -> object:
    return f"{v:.6e}" if isinstance(v, float) and math.isfinite(v) else v


# --------------------------------------------------------------------------- running


def stacks(jobs: list[Job]) -> list[list[Job]]:
    """Jobs grouped by architecture (same width, depth, activation, d) and learning rate, smallest first."""
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.arch, job.lr), []).append(job)
    return sorted(groups.values(), key=lambda g: (g[0].arch.size, g[0].arch.d_in, g[0].activation.label, g[0].lr or 0))


def run_stack(cfg: Config, group: list[Job], device: str, test_sets: dict[str, tuple]) -> list[dict]:
    """Fit one stack (every stage of it) and return its result rows."""
    if cfg.init in CONSTRUCTION_INITS:
        return [construction_row(cfg, job, test_sets) for job in group]
    arch = group[0].arch
    n_train = points_for(cfg, arch.d_in, arch.size)
    xs = torch.stack([targets.sample(arch.d_in, n_train, cfg.sampling, job.seed) for job in group])
    ys = torch.stack([job.target(x) for job, x in zip(group, xs, strict=True)])
    staged = fit_staged(cfg, group, xs, ys, device)
    rows = []
    for m, job in enumerate(group):
        x_test, y_test = test_sets[job.target.name]
        err = dict.fromkeys(metrics.NAMES, math.nan)
        floor_err = {f"floor_{k}": math.nan for k in ("rmse", "max_abs", "train_rmse")}
        if staged.status[m] == "ok":  # errors in float64 whatever the training dtype
            one = slice(m, m + 1)
            err = metrics.errors_of(staged.predict(x_test, one), y_test, staged.predict(xs[one], one), ys[one])[0]
            best = metrics.errors_of(
                staged.predict(x_test, one, floor=True), y_test, staged.predict(xs[one], one, floor=True), ys[one]
            )[0]
            floor_err = {f"floor_{k}": best[k] for k in ("rmse", "max_abs", "train_rmse")}
        rows.append(_row(cfg, job, staged.count, err, floor_err, staged.fits, m, device))
    return rows


@dataclass(frozen=True)
class Staged:
    """Every stage of a stack: x ↦ Σ_k s_k g_k(x) per model (approx/fitting/stages.py), and the fits."""

    arch: Architecture
    thetas: list[torch.Tensor]  # per stage, (M, P) as trained (or readout-solved, with ``varpro``)
    floors: list[torch.Tensor]  # per stage, the readout solved exactly
    scales: list[torch.Tensor]  # per stage, (M,)
    fits: list[Fit]

    @property
    def status(self) -> list[str]:
        return [_status(self.fits, m) for m in range(len(self.scales[0]))]

    @property
    def count(self) -> dict[str, int]:
        c = self.arch.count()
        k = len(self.fits)
        fields = ("total", "weights", "biases", "coefficients", "neurons")
        return {name: k * getattr(c, name) for name in fields}

    def predict(self, x: torch.Tensor, rows: slice, floor: bool = False) -> torch.Tensor:
        """Σ_k s_k g_k(x) for the models in ``rows`` (x shared (N, d) or per model (M, N, d)); the
        floor uses every stage as trained except the last, whose readout is solved exactly."""
        last = len(self.thetas) - 1
        out = 0
        for k, (theta, scale) in enumerate(zip(self.thetas, self.scales, strict=True)):
            theta = self.floors[k] if floor and k == last else theta
            out = out + scale[rows, None] * metrics.predict(self.arch, theta[rows], x)
        return out


def _status(fits: list[Fit], m: int) -> str:
    """Model m is ok when every stage of it is."""
    return "ok" if all(f.status[m] == "ok" for f in fits) else "diverged"


def fit_staged(cfg: Config, group: list[Job], xs: torch.Tensor, ys: torch.Tensor, device: str) -> Staged:
    """``cfg.stages`` fits of one stack, each on the residual of those before, normalised to max 1."""
    arch, dtype = group[0].arch, DTYPES[cfg.dtype]
    # bfloat16 is mixed precision: parameters, loss and optimiser in float32, the forward pass in bf16
    master = torch.float32 if dtype == torch.bfloat16 else dtype
    phases = with_lr(schedule_for(cfg, arch.activation), group[0].lr)
    residual = ys.double()
    thetas, floors, scales, fits = [], [], [], []
    for k in range(cfg.stages):
        scale = torch.ones(len(group), dtype=torch.float64) if k == 0 else residual.abs().amax(1).clamp_min(1e-300)
        goal = residual / scale[:, None]
        seeds = [job.seed + 10_000 * k for job in group]  # a fresh start per stage
        theta0 = initial_parameters(arch, seeds, cfg.init, master, device)
        result = fit(
            arch,
            theta0,
            xs.to(device, dtype),
            goal.to(device, master),
            phases,
            explode=cfg.explode,
            compute_dtype=dtype if dtype != master else None,
        )
        floor = solve_readout(arch, result.theta.double(), xs, goal)  # the VarPro floor of the trained features
        trained = floor if cfg.varpro else result.theta.double()
        thetas.append(trained)
        floors.append(floor)
        scales.append(scale)
        fits.append(result)
        if k + 1 < cfg.stages:
            with torch.no_grad():
                residual = residual - scale[:, None] * arch.forward(trained, xs.double())
    return Staged(arch, thetas, floors, scales, fits)


def construction_row(cfg: Config, job: Job, test_sets: dict[str, tuple]) -> dict:
    """One construction start (``init = "theorem3"``/``"theorem3-relu"``), trained inside its pattern.

    The readout is solved by least squares, then the L-BFGS and LM phases' summed steps run as
    strong-Wolfe L-BFGS iterations (:func:`approx.fitting.pattern.train`); Adam phases are skipped,
    because their first steps move every weight by about the learning rate and throw the
    construction away (experiments/bench/theory_init.py). A VarPro phase solves the readout again
    at the end.
    """
    text, n = cfg.expressions[job.target.name]
    d = job.target.d
    N = theorem3_start.grid_for_size(text, d, n, job.size, cfg.init)
    begin = theorem3_start.start(text, d, n, N, cfg.init, job.target.scale)
    net = begin.net
    x = targets.sample(d, points_for(cfg, d, job.size), cfg.sampling, job.seed)
    y = job.target(x)
    x_test, y_test = test_sets[job.target.name]

    def errs(module: torch.nn.Module) -> dict:
        with torch.no_grad():
            return metrics.errors_of(module(x_test).reshape(1, -1), y_test, module(x).reshape(1, -1), y[None])[0]

    before = errs(net)["max_abs"]
    schedule = pattern.Schedule(adam=0, lbfgs=sum(p.steps for p in cfg.phases if p.optimizer in ("lbfgs", "lm")))
    varpro = any(p.optimizer == "varpro" for p in cfg.phases)
    pattern.solve_readout(net, x, y)
    seconds = pattern.train(net, x, y, schedule)
    floor = copy.deepcopy(net)
    pattern.solve_readout(floor, x, y)
    if varpro:
        net = floor
    err, best = errs(net), errs(floor)
    finite = all(math.isfinite(v) for k, v in err.items() if k != "gap")
    hidden = [layer.shape[0] for layer in net.linears[:-1]]
    count = {
        "total": net.count,
        "weights": sum(layer.values.numel() for layer in net.linears),
        "biases": sum(layer.bias.numel() for layer in net.linears),
        "coefficients": 0,
        "neurons": sum(hidden),
    }
    # _row reads one Fit record per stage; the pattern training is the one stage here
    done = Fit(
        torch.empty(0),
        ["ok" if finite else "diverged"],
        ["schedule"],
        [schedule.adam + schedule.lbfgs],
        [err["train_rmse"] ** 2],
        seconds,
        1,
    )
    arch = dataclasses.replace(job.arch, width=max(hidden), depth=len(hidden))
    row = _row(
        cfg,
        dataclasses.replace(job, arch=arch),
        count,
        err if finite else dict.fromkeys(metrics.NAMES, math.nan),
        {f"floor_{k}": best[k] for k in ("rmse", "max_abs", "train_rmse")},
        [done],
        0,
        "cpu",
    )
    return {**row, "grid": N, "construction_max_abs": _fmt(before)}


def schedule_for(cfg: Config, activation: Activation) -> list[Phase]:
    """A kinks start runs [[kinks_phases]] (else [[phases]], else KINKS_SCHEDULE); a uniform start [[phases]]."""
    start = resolve(cfg.init, activation)
    if start == "kinks" and cfg.kinks_phases is not None:
        return cfg.kinks_phases
    return cfg.phases if cfg.phases_given else list(default_schedule(start))


def with_lr(phases: list[Phase], lr: float | None) -> list[Phase]:
    """The schedule with every Adam phase at learning rate ``lr`` (unchanged when None)."""
    if lr is None:
        return phases
    return [dataclasses.replace(p, lr=lr) if p.optimizer == "adam" else p for p in phases]


def _row(cfg: Config, job: Job, count: dict, err: dict, floor_err: dict, fits: list, m: int, device: str) -> dict:
    status = _status(fits, m)
    row = {
        "job": job.id,
        "target": job.target.name,
        "d": job.arch.d_in,
        "n": "analytic" if job.target.n is None else job.target.n,
        "activation": job.activation.label,
        "size_target": job.size,
        "params": count["total"],
        "weights": count["weights"],
        "biases": count["biases"],
        "coefficients": count["coefficients"],
        "neurons": count["neurons"],
        "width": job.arch.width,
        "depth": job.arch.depth,
        "seed": job.seed,
        **err,
        "train_mse": fits[0].train_loss[m] if len(fits) == 1 or status != "ok" else err["train_rmse"] ** 2,
        **floor_err,
        "status": status,
        "stop": fits[-1].stop[m],
        "steps": sum(f.steps[m] for f in fits),
        "seconds": sum(f.seconds / len(f.status) for f in fits),
        "stack": fits[0].chunk,
        "threads": fits[0].threads,
        "dtype": cfg.dtype,
        "device": device,
        "lr": "" if job.lr is None else job.lr,
        "stages": len(fits),
        "init": cfg.init,
        "grid": "",
        "construction_max_abs": "",
    }
    return {k: _fmt(v) for k, v in row.items()}


def check_device(device: str, dtype: str) -> None:
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("--device cuda requested but torch sees no CUDA device")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserError(f"unknown device {device!r}; valid: cpu, cuda, cuda:N")
    if dtype == "tf32" and not device.startswith("cuda"):
        raise UserError("dtype tf32 needs a CUDA device")


def stack_task(text: str, name: str, job_ids: list[str], device: str) -> list[dict]:
    """One stack, from the config's text: what a Ray worker runs (the config is parsed where it runs)."""
    cfg, test_sets = _parsed(text, name)
    jobs = {job.id: job for job in cfg.jobs}
    kill_once("task")  # fault injection: a worker that dies mid-task (tests only)
    return run_stack(cfg, [jobs[i] for i in job_ids], device, test_sets)


_CACHE: dict[str, tuple[Config, dict]] = {}  # per worker process: config digest -> (config, test sets)


def _parsed(text: str, name: str) -> tuple[Config, dict]:
    key = hashlib.sha256(f"{name}\n{text}".encode()).hexdigest()
    if key not in _CACHE:
        cfg = from_dict(tomllib.loads(text), text, default_name=name)
        _CACHE[key] = (cfg, held_out_sets(cfg))
    return _CACHE[key]


def held_out_sets(cfg: Config) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each target's dense held-out grid and values (``_test_set``)."""
    return {t.name: _test_set(t, cfg.test_points) for t in cfg.targets}


def run(
    cfg: Config,
    out: Path,
    device: str = "cpu",
    resume: bool = False,
    progress: bool = True,
    on_stack: Callable[[dict], None] | None = None,
    allow_large: bool = False,
    log: Callable[[str], None] = print,
    executor: executors.Local | executors.RayExecutor | None = None,
    threads: int = 1,
) -> dict:
    """Run every job not yet in ``out/results.csv``; returns {"done", "ran", "seconds", "failures", "nodes"}.

    The caller holds ``out`` (``experiments.output_lock.hold``). ``--resume`` verifies what it finds:
    the stored config must exist and equal ``cfg``, every row must be valid and belong to one of
    ``cfg``'s jobs, and a cut-short last row is dropped (its job is refitted). With a Ray ``executor``
    each stack is a task of ``threads`` CPUs; this process alone writes results.csv, as stacks finish.
    """
    executor = executor or executors.Local()
    check_device(device, cfg.dtype)
    resources.check(resources.rates_estimates(cfg), device, allow_large)
    if cfg.dtype == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
    compile_activations(cfg.compile)
    out.mkdir(parents=True, exist_ok=True)
    for stray in remove_temp_files(out):
        log(f"note: removed {stray}, a temp file left by a killed run")
    rows = _resumable_rows(cfg, out, resume, log)
    done = {r["job"] for r in rows}
    todo = [job for job in cfg.jobs if job.id not in done]
    write_text(out / "config.toml", cfg.text)
    from tqdm import tqdm

    start = time.perf_counter()
    ran = 0
    bar = tqdm(
        total=len(cfg.jobs),
        initial=len(cfg.jobs) - len(todo),
        disable=not progress,
        unit="fit",
        desc=cfg.name,
        dynamic_ncols=True,
    )
    groups = stacks(todo)
    tasks = _tasks(cfg, groups, device, executor, threads)
    by_key = dict(zip((t.key for t in tasks), groups, strict=True))

    def finished(task: executors.Task, new: list[dict], node: str) -> None:
        nonlocal ran, rows
        checkpoint("stack")
        rows += new
        results_table.write(out / "results.csv", rows)  # atomic: every finished stack, never half of one
        group = by_key[task.key]
        bar.update(len(group))
        ran += len(group)
        if on_stack:
            on_stack({"done": len(rows), "ran": ran, "seconds": time.perf_counter() - start})

    def per_node(outcome: executors.Outcome) -> None:
        if executor.name != "local":
            bar.set_postfix_str(", ".join(f"{n}: {k}" for n, k in outcome.per_node().items()), refresh=False)

    outcome = executor.run(tasks, finished, per_node)
    bar.close()
    nodes = {job.id: outcome.nodes[t] for t, g in by_key.items() if t in outcome.nodes for job in g}
    return {
        "done": len(rows),
        "ran": ran,
        "seconds": time.perf_counter() - start,
        "failures": outcome.failures,
        "nodes": nodes,
    }


def _tasks(cfg: Config, groups: list[list[Job]], device: str, executor, threads: int) -> list[executors.Task]:
    """One task a stack: in this process with the held-out sets built once, or by job ids for a Ray worker."""
    if executor.name == "local":
        test_sets = held_out_sets(cfg)
        return [executors.Task(_stack_key(g), run_stack, (cfg, g, device, test_sets)) for g in groups]
    gpus = 1.0 if device.startswith("cuda") else 0.0
    args = [(cfg.text, cfg.name, [j.id for j in g], device) for g in groups]
    return [
        executors.Task(_stack_key(g), stack_task, a, cpus=threads, gpus=gpus) for g, a in zip(groups, args, strict=True)
    ]


def _stack_key(group: list[Job]) -> str:
    a = group[0].arch
    return f"{group[0].activation.label} width={a.width} depth={a.depth} d={a.d_in} ({len(group)} fits)"


def _resumable_rows(cfg: Config, out: Path, resume: bool, log: Callable[[str], None]) -> list[dict]:
    results, stored = out / "results.csv", out / "config.toml"
    if results.exists() and not resume:
        raise UserError(f"{out} already holds results.csv: pass --resume to continue it, or choose another --out")
    if not results.exists():
        return []
    if not stored.exists():
        raise UserError(
            f"{results} has no config.toml beside it, so its rows cannot be matched to a config; "
            "restore it or choose another --out"
        )
    if stored.read_text() != cfg.text:
        raise UserError(f"{stored} differs from the config given: --resume needs the same config")
    table = results_table.read(results, drop_cut_line=True)
    if table.dropped_line is not None:
        log(f"note: {results}:{table.dropped_line} was cut short; dropped, and its fit runs again")
    ids = {job.id for job in cfg.jobs}
    for row in table.rows:
        if row["job"] not in ids:
            raise results_table.CorruptResults(f"{results}: job {row['job']!r} is not a job of {stored}")
    return table.rows


def _test_set(target: Target, points: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The dense held-out grid and the target's values on it; a non-finite value is refused by point."""
    x = targets.dense_grid(target.d, points)
    y = target(x)
    bad = (~torch.isfinite(y)).nonzero()
    if len(bad):
        point = ", ".join(f"{v:.4g}" for v in x[bad[0, 0]].tolist())
        raise UserError(f"target {target.name!r} is not finite at x = ({point}) of the test grid")
    return x, y
