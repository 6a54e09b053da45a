"""Running a rates config: jobs → stacks → the stacked pipeline → a resumable ``results.csv``.

Jobs of one architecture, input dimension and learning rate form one stack (all their targets and
seeds), fitted by approx/fitting/stack.py, which chooses stacked or one-at-a-time by timing. After
every stack the CSV is rewritten atomically with the new rows, so a killed run loses at most the
stack in flight and ``--resume`` skips every job already in the file (by its id): no lost and no
duplicated rows. With a Ray executor each stack is a task, and this process alone writes the file; in
a continuation run each size's task comes after the next smaller size's (experiments/executors.py).
"""

from __future__ import annotations

import hashlib
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from approx.fitting import stack
from approx.fitting.portfolio import Smaller
from approx.fitting.result import FitResult
from approx.fitting.targets import Target
from experiments import certify_fit, devices, executors
from experiments.atomic_io import remove_temp_files, write_text
from experiments.faults import checkpoint, kill_once
from experiments.rates import construction, continuation, memory, results_table
from experiments.rates.config import CONSTRUCTION_INITS, Config, Job, from_dict, points_for, stacks
from experiments.user_errors import UserError


def request(cfg: Config, group: list[Job], device: str, smaller: Smaller | None = None) -> stack.Request:
    """The pipeline's request for one stack of a config (``smaller``: fits to continue from)."""
    arch = group[0].arch
    return stack.Request(
        arch,
        tuple(job.target for job in group),
        tuple(job.seed for job in group),
        points_for(cfg, arch.d_in, arch.size),
        tuple(cfg.phases) if cfg.phases_given else None,
        cfg.init,
        cfg.stages,
        cfg.sampling,
        cfg.varpro,
        cfg.dtype,
        device,
        cfg.explode,
        group[0].lr,
        kinks_phases=None if cfg.kinks_phases is None else tuple(cfg.kinks_phases),
        smaller=smaller,
        chunk=cfg.chunk,
    )


@dataclass(frozen=True)
class Finished:
    """A stack's result rows and, in a continuation run, each model's fit (saved in ``OUT/params/`` and
    the start of the next size's ``widened`` candidate; None for an activation that cannot be widened)."""

    rows: list[dict]
    fits: dict[str, torch.Tensor] | None = None


def run_stack(
    cfg: Config,
    group: list[Job],
    device: str,
    test_sets: stack.TestSets,
    smaller: Smaller | None = None,
    previous: Finished | None = None,
) -> Finished:
    """Fit one stack (every stage of it). A continuation run's stack also starts from the next smaller
    size's fits: ``smaller``, read from ``OUT/params/`` on resume, or ``previous``, that size's stack
    finished in this run (experiments/rates/continuation.py)."""
    if cfg.init in CONSTRUCTION_INITS:
        return Finished([construction.row(cfg, job, test_sets) for job in group])
    if previous is not None:
        smaller = continuation.from_fits(cfg, group, previous.fits)
    result = stack.fit(request(cfg, group, device, smaller), test_sets)
    floor_keys = ("rmse", "max_abs", "train_rmse")
    blank = dict.fromkeys(results_table.CERTIFIED, "")
    certified = [
        certify_fit.columns(FitResult.from_stack(result, m)) if cfg.certify else blank for m in range(len(group))
    ]
    rows = [
        {
            **results_table.row(
                cfg,
                job,
                result.count,
                result.errors[m],
                {f"floor_{k}": result.floor_errors[m][k] for k in floor_keys},
                list(result.fits),
                m,
                device,
                result.status(m),
                certified[m],
            ),
            "start": "+".join(stage[m] for stage in result.starts),
            "selection": " ".join(f"{k}={v:.3e}" for k, v in result.validation[-1][m].items()),
        }
        for m, job in enumerate(group)
    ]
    return Finished(rows, continuation.fits(group, result) if cfg.continuation else None)


def check_device(device: str, dtype: str) -> None:
    """A usable ``device`` (and ``dtype`` on it), or one line (experiments/devices.py)."""
    devices.check(device, dtype)


def stack_task(
    text: str,
    name: str,
    job_ids: list[str],
    device: str,
    compile: bool = False,
    smaller: Smaller | None = None,
    previous: Finished | None = None,
) -> Finished:
    """One stack, from the config's text: what a Ray worker runs (the config is parsed where it runs)."""
    cfg, test_sets = _parsed(text, name, compile)
    jobs = {job.id: job for job in cfg.jobs}
    kill_once("task")  # fault injection: a worker that dies mid-task (tests only)
    return run_stack(cfg, [jobs[i] for i in job_ids], device, test_sets, smaller, previous)


_CACHE: dict[str, tuple[Config, dict]] = {}  # per worker process: config digest -> (config, test sets)


def _parsed(text: str, name: str, compile: bool) -> tuple[Config, dict]:
    key = hashlib.sha256(f"{name}\n{compile}\n{text}".encode()).hexdigest()
    if key not in _CACHE:
        cfg = from_dict(tomllib.loads(text), text, default_name=name, compile=compile)
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
    memory.check(cfg, device, allow_large)
    if cfg.dtype == "tf32":
        torch.backends.cuda.matmul.allow_tf32 = True
    out.mkdir(parents=True, exist_ok=True)
    for stray in remove_temp_files(out):  # params/ as well
        log(f"note: removed {stray}, a temp file left by a killed run")
    params = out / continuation.FOLDER if cfg.continuation else None
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
    tasks = _tasks(cfg, groups, device, executor, threads, params)
    by_key = dict(zip((t.key for t in tasks), groups, strict=True))

    def finished(task: executors.Task, new: Finished, node: str) -> None:
        nonlocal ran, rows
        checkpoint("stack")
        if params:  # before the rows: a resumed run finds the fits of every stack in results.csv
            continuation.save(params, by_key[task.key], new.fits)
        rows += new.rows
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


def _tasks(
    cfg: Config, groups: list[list[Job]], device: str, executor, threads: int, params: Path | None = None
) -> list[executors.Task]:
    """One task a stack: in this process with the held-out sets built once, or by job ids for a Ray
    worker. In a continuation run (``params``) a stack comes after the next smaller size's stack of
    this run, or starts from that size's saved fits."""
    keys = {(g[0].arch, g[0].lr): _stack_key(g) for g in groups}
    after: dict[str, str] = {}
    smaller: dict[str, Smaller | None] = {}
    for g in groups:
        prev = continuation.previous(cfg, g) if params else None
        if prev is not None and (prev[0].arch, prev[0].lr) in keys:
            after[_stack_key(g)] = keys[prev[0].arch, prev[0].lr]
        elif prev is not None and params is not None:
            smaller[_stack_key(g)] = continuation.smaller(cfg, g, params)
    if executor.name == "local":
        test_sets = held_out_sets(cfg)
        return [
            executors.Task(k, run_stack, (cfg, g, device, test_sets, smaller.get(k)), after=after.get(k))
            for k, g in zip(map(_stack_key, groups), groups, strict=True)
        ]
    gpus = 1.0 if device.startswith("cuda") else 0.0
    return [
        executors.Task(
            k,
            stack_task,
            (cfg.text, cfg.name, [j.id for j in g], device, cfg.compile, smaller.get(k)),
            cpus=threads,
            gpus=gpus,
            after=after.get(k),
        )
        for k, g in zip(map(_stack_key, groups), groups, strict=True)
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
    x, y = stack.held_out(target, points)
    bad = (~torch.isfinite(y)).nonzero()
    if len(bad):
        point = ", ".join(f"{v:.4g}" for v in x[bad[0, 0]].tolist())
        raise UserError(f"target {target.name!r} is not finite at x = ({point}) of the test grid")
    return x, y
