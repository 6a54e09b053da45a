"""A rates config: TOML → a validated :class:`Config` with every job built (widths solved).

Config (see experiments/configs/quick.toml)::

    name = "quick"
    depth = 2                    # hidden layers of every network (or a list: [1, 2, 3], one series each)
    sizes = [100, 300, 1000]     # target parameter counts; the width solver picks each width
    seeds = [0, 1, 2]
    dtype = "float64"            # float64 | float32 | tf32 (CUDA) | bfloat16
    metric = "max_abs"           # error the rate fit uses: max_abs | rmse
    compile = false              # torch.compile the learnable activations (pays off for long sweeps)
    certify = false              # add each fit's certified sup error where it exists (1-D, docs/theory.md §8)
    init = "auto"                # auto (kinks for ReLU types) | uniform | kinks | theorem3 | theorem3-relu
    stages = 1                   # residual stages per fit; a size is the total over the stages
    continuation = false         # each size also starts from the next smaller size's fit, widened
    chunk = 1                    # optional: models per chunk of a stack (1: each fit alone, so no fit
                                 # depends on the timing that otherwise chooses it: docs/engine.md)
    lrs = [1e-3, 1e-2]           # optional: a learning-rate axis (each Adam phase's lr); reports take the best
    targets = [{family = "abs_power", n = 1, d = 1}, {name = "runge"}, {expr = "x0*x1", d = 2}]
    activations = ["relu", {name = "polyrelu", coefficients = "per_neuron"}]
    [data]
    train_points = 1024          # or a table by dimension: {1 = 512, 2 = 2048}
    per_parameter = 0            # at least this many train points per parameter (0: off)
    sampling = "auto"            # auto (default) | boundary | arcsine | sobol | random | chebyshev
    test_points = 8192           # dense grid size (per target; ~points^{1/d} per axis)
    [[phases]]                   # optional: the uniform start's schedule (approx.fitting.schedule.Phase
    optimizer = "adam"           # fields; default UNIFORM_SCHEDULE: Adam, LM, readout)
    steps = 1000
    lr = 3e-3
    [[kinks_phases]]             # optional: the kinks start's schedule (default KINKS_SCHEDULE:
    optimizer = "varpro"         # readout, LM, readout; Adam would lose the start)

``init = "auto"`` (the default) trains the portfolio of starts and keeps each fit's best on a
validation split (approx/fitting/portfolio.py); ``uniform`` or ``kinks`` trains that start alone.

Every problem in the config is found by :func:`load` before any fit starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from approx.fitting import stack, targets
from approx.fitting.initialisation import INITS
from approx.fitting.models import Activation, Architecture, width_for_params
from approx.fitting.schedule import UNIFORM_SCHEDULE, Phase
from approx.fitting.targets import Target
from experiments import inputs, resources
from experiments import targets as targets_check
from experiments.constructions import theorem3_start
from experiments.user_errors import UserError, require_choice, require_int, require_number, user_input

DTYPES = tuple(stack.DTYPES)
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
    "certify",
    "init",
    "stages",
    "lrs",
    "kinks_phases",
    "continuation",
    "chunk",
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
    depth_in_id: bool = False  # the config lists several depths

    @property
    def id(self) -> str:
        lr = "" if self.lr is None else f"|lr{self.lr:g}"
        depth = f"|L{self.arch.depth}" if self.depth_in_id else ""
        return f"{self.target.name}|{self.activation.label}|P{self.size}|s{self.seed}{lr}{depth}"


@dataclass
class Config:
    name: str
    text: str
    depths: list[int]
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
    certify: bool = False  # certified_lower/upper columns for the fits experiments.certify_fit covers
    per_parameter: float = 0.0  # train points per parameter at least, over train_points
    phases_given: bool = True  # False: no [[phases]], so each start runs its own default schedule
    kinks_phases: list[Phase] | None = None  # the schedule of kinks starts, if the config gives one
    init: str = "auto"  # starting parameters: auto | uniform | kinks | theorem3 | theorem3-relu (§7)
    stages: int = 1  # residual stages per fit (approx/fitting/stages.py)
    lrs: list[float] | None = None  # the learning-rate axis, if any
    continuation: bool = False  # each size also tries the next smaller size's fit, widened (portfolio.py)
    chunk: int | None = None  # models per chunk of a stack; None: chosen by timing (approx/fitting/plans.py)
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
        return targets_check.expression(spec["expr"], spec.get("d", 1), spec.get("n"), spec.get("name"))
    key = spec.pop("family", None) or spec.pop("name", None)
    if key is None:
        raise UserError(f"a target table needs 'family', 'name' or 'expr', got {spec!r}")
    return targets.get(key, **spec)


def load(path: str | Path, compile: bool = False) -> Config:
    """Parse and validate a sweep config; every job is built (widths solved) before this returns.

    ``compile``: run the activations through ``torch.compile`` whatever the config says.
    """
    path = Path(path)
    raw, text = inputs.read_toml(path)
    with user_input(str(path)):
        return from_dict(raw, text, default_name=path.stem, compile=compile)


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
    sampling = require_choice("sampling", data.get("sampling", targets.DEFAULT_SAMPLING), targets.SAMPLINGS)
    per_parameter = require_number("per_parameter", data.get("per_parameter", 0), 0, 64)
    return train_points, sampling, _points(data.get("test_points", 8192), "test_points", 16), per_parameter


def _phases(raw: dict, key: str = "phases") -> list[Phase]:
    """[[phases]] (or [[kinks_phases]]), or the uniform start's default schedule when absent."""
    if key not in raw:
        return list(UNIFORM_SCHEDULE)
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
    many = len(cfg.depths) > 1
    lrs: list[float | None] = list(cfg.lrs) if cfg.lrs else [None]
    for depth in cfg.depths:
        for t in cfg.targets:
            for a in cfg.activations:
                for size in cfg.sizes:
                    key = (t.d, a, size, depth)
                    if key not in widths:
                        widths[key] = width_for_params(max(2, size // cfg.stages), t.d, depth, a)
                    arch = Architecture(t.d, widths[key], depth, a)
                    jobs += [Job(t, a, size, s, arch, lr, many) for lr in lrs for s in cfg.seeds]
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
    if cfg.stages != 1 or cfg.lrs or cfg.certify:
        raise UserError(f"init = {cfg.init!r} trains one construction by L-BFGS: no stages, no lrs, no certify")
    for t in cfg.targets:
        text, n = cfg.expressions.get(t.name, (None, None))
        if text is None or not n:  # a stated n >= 1 was certified when the target was read
            raise UserError(
                f"init = {cfg.init!r} needs expression targets with a smoothness n >= 1 "
                f"({{expr = ..., d = ..., n = ...}}); target {t.name!r} is not one"
            )


def from_dict(raw: dict, text: str = "", default_name: str = "sweep", compile: bool = False) -> Config:
    """A validated ``Config`` from a parsed TOML table; every job is built before this returns."""
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise UserError(f"unknown config key(s) {sorted(unknown)}; valid: {sorted(TOP_KEYS)}")
    for key in ("sizes", "seeds", "targets", "activations"):
        if key not in raw:
            raise UserError(f"config needs '{key}'")
    depth = raw.get("depth", 2)
    depths = _int_list(depth if isinstance(depth, list) else [depth], "depth", 1, 64, max_len=8)
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
    compile_, varpro, certify = raw.get("compile", False), raw.get("varpro", False), raw.get("certify", False)
    continuation = raw.get("continuation", False)
    for key, value in (("compile", compile_), ("varpro", varpro), ("certify", certify), ("continuation", continuation)):
        if not isinstance(value, bool):
            raise UserError(f"{key} must be true or false, got {_short(value)}")
    compile_ = compile_ or compile
    if compile_:  # the activations' stacked forms through torch.compile (approx/activations/table.py)
        acts = [dataclasses.replace(a, impl="compile") for a in acts]
    cfg = Config(
        name=raw.get("name", default_name),
        text=text,
        depths=depths,
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
        certify=certify,
        per_parameter=per_parameter,
        phases_given="phases" in raw,
        kinks_phases=_phases(raw, "kinks_phases") if "kinks_phases" in raw else None,
        init=init,
        stages=stages,
        lrs=_lrs(raw.get("lrs")),
        expressions=expressions,
        continuation=continuation,
        chunk=None if "chunk" not in raw else require_int("chunk", raw["chunk"], 1, resources.MAX_SEEDS),
    )
    if continuation and (init != "auto" or stages != 1):
        raise UserError(f"continuation = true needs init = 'auto' and stages = 1, not {init!r} and {stages}")
    if init in CONSTRUCTION_INITS:
        _check_construction_start(cfg)
    cfg.jobs = _jobs(cfg)
    return cfg


def points_for(cfg: Config, d: int, params: int = 0) -> int:
    """Training points for a network of ``params`` parameters: train_points, or per_parameter × params."""
    base = cfg.train_points.get(d, cfg.train_points.get(0, 1024))
    return min(resources.MAX_POINTS, stack.training_points(d, params, base, cfg.per_parameter))


def chain_key(job: Job) -> tuple:
    """What the sizes of one continuation chain share: activation, depth, input dimension, learning rate."""
    return job.activation.label, job.arch.depth, job.arch.d_in, job.lr


def stacks(jobs: list[Job]) -> list[list[Job]]:
    """Jobs grouped by architecture (same width, depth, activation, d) and learning rate, smallest first."""
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault((job.arch, job.lr), []).append(job)
    return sorted(groups.values(), key=lambda g: (g[0].arch.size, g[0].arch.d_in, g[0].activation.label, g[0].lr or 0))
