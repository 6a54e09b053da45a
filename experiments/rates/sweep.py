"""Rate sweeps: TOML config → jobs (target × activation × size × seed) → resumable ``results.csv``.

Config (see experiments/configs/quick.toml)::

    name = "quick"
    depth = 2                    # hidden layers of every network
    sizes = [100, 300, 1000]     # target parameter counts; the width solver picks each width
    seeds = [0, 1, 2]
    dtype = "float64"            # float64 | float32 | tf32 (CUDA) | bfloat16
    metric = "max_abs"           # error the rate fit uses: max_abs | rmse
    compile = false              # torch.compile the learnable activations (pays off for long sweeps)
    targets = [{family = "abs_power", n = 1, d = 1}, {name = "runge"}, {expr = "x0*x1", d = 2}]
    activations = ["relu", {name = "polyrelu", coefficients = "per_neuron"}]
    [data]
    train_points = 1024          # or a table by dimension: {1 = 512, 2 = 2048}
    sampling = "sobol"           # random | sobol | chebyshev
    test_points = 8192           # dense grid size (per target; ~points^{1/d} per axis)
    [[phases]]                   # the optimiser schedule: approx.fitting.train.Phase fields
    optimizer = "adam"
    steps = 1000
    lr = 3e-3

Every problem in the config is found by :func:`load` before any fit starts. Jobs of one
architecture and input dimension form one stack (all their targets and seeds): approx.fitting.train
chooses stacked or one-at-a-time by timing. After every stack the CSV is rewritten atomically
with the new rows, so a killed run loses at most the stack in flight and ``--resume`` skips every
job already in the file (by its id): no lost and no duplicated rows.
"""

from __future__ import annotations

import hashlib
import math
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from approx.fitting import metrics, targets
from approx.fitting.initialisation import INITS, initial_parameters
from approx.fitting.models import Activation, Architecture, compile_activations, width_for_params
from approx.fitting.targets import Target
from approx.fitting.train import DEFAULT_SCHEDULE, Phase, fit
from approx.fitting.varpro import solve_readout
from experiments import executors, resources
from experiments.atomic_io import remove_temp_files, write_text
from experiments.faults import checkpoint, kill_once
from experiments.rates import results_table
from experiments.rates.expressions import expression_target
from experiments.user_errors import UserError, require_choice, require_int, require_number, user_input

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
}
DATA_KEYS = {"train_points", "sampling", "test_points"}


@dataclass(frozen=True)
class Job:
    """One fit: a target, an activation, a size and a seed."""

    target: Target
    activation: Activation
    size: int
    seed: int
    arch: Architecture

    @property
    def id(self) -> str:
        return f"{self.target.name}|{self.activation.label}|P{self.size}|s{self.seed}"


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
    init: str = "uniform"  # starting parameters: uniform | kinks (approx/fitting/initialisation.py)
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


def _data_table(raw: dict) -> tuple[dict[int, int], str, int]:
    """[data]: train points (one count, or one per dimension), sampling, test points."""
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
    return train_points, sampling, _points(data.get("test_points", 8192), "test_points", 16)


def _phases(raw: dict) -> list[Phase]:
    """[[phases]], or the default schedule when absent."""
    if "phases" not in raw:
        return list(DEFAULT_SCHEDULE)
    if not isinstance(raw["phases"], list) or not raw["phases"]:
        raise UserError("phases must be a non-empty list of [[phases]] tables (or absent: the default schedule)")
    phases = []
    for i, p in enumerate(raw["phases"]):
        if not isinstance(p, dict):
            raise UserError(f"phase {i} must be a table, got {p!r}")
        try:
            phases.append(Phase(**p))
        except TypeError as err:
            raise UserError(f"phase {i}: {err}") from None
    return phases


def _targets_and_activations(raw: dict, train_points: dict[int, int]) -> tuple[list[Target], list[Activation]]:
    if not isinstance(raw["targets"], list) or not raw["targets"]:
        raise UserError("targets must be a non-empty list")
    tgts = [parse_target(t) for t in raw["targets"]]
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
    return tgts, acts


def _jobs(cfg: Config) -> list[Job]:
    """Every (target, activation, size, seed), with widths solved once per (d, activation, size)."""
    jobs, widths = [], {}
    for t in cfg.targets:
        for a in cfg.activations:
            for size in cfg.sizes:
                key = (t.d, a, size)
                if key not in widths:
                    widths[key] = width_for_params(size, t.d, cfg.depth, a)
                arch = Architecture(t.d, widths[key], cfg.depth, a)
                jobs += [Job(t, a, size, s, arch) for s in cfg.seeds]
    return jobs


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
    train_points, sampling, test_points = _data_table(raw)
    tgts, acts = _targets_and_activations(raw, train_points)
    phases = _phases(raw)
    init = require_choice("init", raw.get("init", "uniform"), INITS)
    compile_, varpro = raw.get("compile", False), raw.get("varpro", False)
    for key, value in (("compile", compile_), ("varpro", varpro)):
        if not isinstance(value, bool):
            raise UserError(f"{key} must be true or false, got {_short(value)}")
    cfg = Config(
        raw.get("name", default_name),
        text,
        depth,
        sizes,
        seeds,
        dtype,
        metric,
        tgts,
        acts,
        train_points,
        sampling,
        test_points,
        phases,
        explode,
        compile_,
        varpro,
        init,
    )
    cfg.jobs = _jobs(cfg)
    return cfg


def points_for(cfg: Config, d: int) -> int:
    return cfg.train_points.get(d, cfg.train_points.get(0, 1024))


def _fmt(v: object) -> object:
    return f"{v:.6e}" if isinstance(v, float) and math.isfinite(v) else v


# --------------------------------------------------------------------------- running


def stacks(jobs: list[Job]) -> list[list[Job]]:
    """Jobs grouped by architecture (same width, depth, activation, d), smallest networks first."""
    groups: dict[Architecture, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.arch, []).append(job)
    return sorted(groups.values(), key=lambda g: (g[0].arch.size, g[0].arch.d_in, g[0].activation.label))


def run_stack(cfg: Config, group: list[Job], device: str, test_sets: dict[str, tuple]) -> list[dict]:
    """Fit one stack and return its result rows."""
    arch = group[0].arch
    dtype = DTYPES[cfg.dtype]
    n_train = points_for(cfg, arch.d_in)
    xs = torch.stack([targets.sample(arch.d_in, n_train, cfg.sampling, job.seed) for job in group])
    ys = torch.stack([job.target(x) for job, x in zip(group, xs, strict=True)])
    # bfloat16 is mixed precision: parameters, loss and optimiser in float32, the forward pass in bf16
    master = torch.float32 if dtype == torch.bfloat16 else dtype
    theta0 = initial_parameters(arch, [job.seed for job in group], cfg.init, master, device)
    result = fit(
        arch,
        theta0,
        xs.to(device, dtype),
        ys.to(device, master),
        cfg.phases,
        explode=cfg.explode,
        compute_dtype=dtype if dtype != master else None,
    )
    floor = solve_readout(arch, result.theta.double(), xs, ys)  # the VarPro floor of the trained features
    trained = floor if cfg.varpro else result.theta.double()
    rows = []
    for m, job in enumerate(group):
        x_test, y_test = test_sets[job.target.name]
        err = dict.fromkeys(metrics.NAMES, math.nan)
        floor_err = {f"floor_{k}": math.nan for k in ("rmse", "max_abs", "train_rmse")}
        if result.status[m] == "ok":  # errors in float64 whatever the training dtype
            one = slice(m, m + 1)
            err = metrics.errors(arch, trained[one], x_test, y_test, xs[one], ys[one])[0]
            best = metrics.errors(arch, floor[one], x_test, y_test, xs[one], ys[one])[0]
            floor_err = {f"floor_{k}": best[k] for k in ("rmse", "max_abs", "train_rmse")}
        count = arch.count()
        row = {
            "job": job.id,
            "target": job.target.name,
            "d": arch.d_in,
            "n": "analytic" if job.target.n is None else job.target.n,
            "activation": job.activation.label,
            "size_target": job.size,
            "params": count.total,
            "weights": count.weights,
            "biases": count.biases,
            "coefficients": count.coefficients,
            "neurons": count.neurons,
            "width": arch.width,
            "depth": arch.depth,
            "seed": job.seed,
            **err,
            "train_mse": result.train_loss[m],
            **floor_err,
            "status": result.status[m],
            "stop": result.stop[m],
            "steps": result.steps[m],
            "seconds": result.seconds / len(group),
            "stack": result.chunk,
            "threads": result.threads,
            "dtype": cfg.dtype,
            "device": device,
        }
        rows.append({k: _fmt(v) for k, v in row.items()})
    return rows


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
