"""The transformer FFN study (docs/theory.md §6): train each FFN variant, analyse it, write the results.

A study config (TOML, see ``experiments/configs/lm_*.toml``) has four tables:
``[data]`` (``approx.transformer.data.load_corpus``), ``[model]`` (``ModelConfig``; there ``ffn`` is ``"dense"``, the
default, or ``"moe"`` with a ``[model.moe]`` table of ``MoEConfig``), ``[train]`` (``TrainConfig``
without ``seed``/``device``) and ``[study]``:

- ``variants``: FFN names (``"swiglu"`` or an activation) or tables ``{name, ffn, activation_kwargs,
  recompute_activation}``;
- ``orders``: PolyCom orders r; every variant with learnable coefficients becomes one variant per
  order, named ``NAME_rR`` (the order ablation);
- ``seeds``: seeds every variant runs with;
- ``extra_seeds`` and ``best_k``: after the first pass, the ``best_k`` variants by mean validation
  loss also run with ``extra_seeds`` (the cpu preset's "≥ 2 seeds for the two best");
- ``memory_steps``: steps timed for the memory/speed table, with and without recompute.

Each finished run is one JSON file in ``OUT/runs``; ``--resume`` skips the runs already there.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from approx import activations
from approx.transformer import analysis as lm_analysis
from approx.transformer import bf16_probe
from approx.transformer import memory as lm_memory
from approx.transformer.data import STDLIB, Corpus, fixed_batches, load_corpus, random_batches
from approx.transformer.train import TrainConfig, train
from approx.transformer.transformer import GATED, ModelConfig, Transformer, parameter_counts
from experiments import devices, executors, inputs, resources
from experiments.atomic_io import remove_temp_files, write_json, write_text
from experiments.faults import checkpoint
from experiments.provenance import provenance
from experiments.user_errors import UserError, require_int, user_input

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS = ("tiny", "cpu", "gpu", "moe_cpu", "order_cpu")


@dataclass(frozen=True)
class Variant:
    name: str
    ffn: str
    activation_kwargs: dict
    recompute_activation: bool = False

    @classmethod
    def parse(cls, spec: str | dict) -> Variant:
        if isinstance(spec, str):
            return cls(spec, spec, {})
        if not isinstance(spec, dict) or "ffn" not in spec and "name" not in spec:
            raise UserError(f"study.variants entry must be a name or a table with 'ffn', got {spec!r}")
        unknown = set(spec) - {"name", "ffn", "activation_kwargs", "recompute_activation"}
        if unknown:
            raise UserError(f"unknown key(s) in study.variants entry: {', '.join(sorted(unknown))}")
        ffn = spec.get("ffn", spec.get("name"))
        return cls(
            spec.get("name", ffn), ffn, dict(spec.get("activation_kwargs", {})), bool(spec.get("recompute_activation"))
        )


@dataclass(frozen=True)
class Study:
    name: str
    data: dict
    model: dict
    train: dict
    variants: tuple[Variant, ...]
    seeds: tuple[int, ...]
    extra_seeds: tuple[int, ...]
    best_k: int
    memory_steps: int
    raw: dict

    def model_config(self, variant: Variant) -> ModelConfig:
        return ModelConfig(
            **self.model,
            ffn=variant.ffn,
            activation_kwargs=variant.activation_kwargs,
            recompute_activation=variant.recompute_activation,
        )

    def train_config(self, seed: int, device: str) -> TrainConfig:
        return TrainConfig(**self.train, seed=seed, device=device)


def _known(table: dict, cls, where: str, exclude: tuple[str, ...]) -> dict:
    allowed = {f.name for f in fields(cls)} - set(exclude)
    unknown = set(table) - allowed
    if unknown:
        raise UserError(
            f"unknown key(s) in [{where}]: {', '.join(sorted(unknown))}; valid: {', '.join(sorted(allowed))}"
        )
    return dict(table)


FFN_BLOCKS = ("dense", "moe")


def _model_table(table: dict) -> dict:
    """[model] as ``ModelConfig`` keywords: ``ffn`` picks the block, ``[model.moe]`` configures an MoE."""
    model = dict(table)
    block = model.pop("ffn", "dense")
    if block not in FFN_BLOCKS:
        raise UserError(f"model.ffn must be one of {', '.join(FFN_BLOCKS)} (variants name activations), got {block!r}")
    if block == "moe":
        model["moe"] = dict(model.get("moe", {}))
    elif "moe" in model:
        raise UserError("[model.moe] is set but model.ffn is not 'moe'")
    return _known(model, ModelConfig, "model", ("ffn", "activation_kwargs", "recompute_activation"))


def by_order(variants: tuple[Variant, ...], orders: object) -> tuple[Variant, ...]:
    """Each learnable variant once per order r (named ``NAME_rR``); the rest, and any that sets an order, unchanged."""
    if not isinstance(orders, list) or not orders or len(set(map(str, orders))) != len(orders):
        raise UserError(f"study.orders must be a non-empty list of distinct orders, got {orders!r}")
    orders = [activations.check_order(r) for r in orders]
    out = []
    for v in variants:
        if not is_learnable(v.ffn) or "order" in v.activation_kwargs:  # an order of its own is kept
            out.append(v)
            continue
        out += [
            Variant(f"{v.name}_r{r}", v.ffn, {**v.activation_kwargs, "order": r}, v.recompute_activation)
            for r in orders
        ]
    return tuple(out)


def resolve_config(config: str) -> Path:
    """A preset name (``PRESETS``) or a path to a TOML file."""
    if config in PRESETS:
        return CONFIG_DIR / f"lm_{config}.toml"
    path = Path(config)
    if not path.exists():
        raise UserError(f"config {config!r} is neither a preset ({', '.join(PRESETS)}) nor a file")
    return path


def load_study(config: str, overrides: dict | None = None) -> Study:
    """Parse and validate a study config; ``overrides`` maps ``"table.key"`` to a value (e.g. ``train.steps``)."""
    path = resolve_config(config)
    raw, _ = inputs.read_toml(path)
    with user_input(str(path)):
        return _study(path, raw, overrides)


def _study(path: Path, raw: dict, overrides: dict | None) -> Study:
    for key, value in (overrides or {}).items():
        table, _, name = key.partition(".")
        raw.setdefault(table, {})[name] = value
    unknown = set(raw) - {"name", "data", "model", "train", "study"}
    if unknown:
        raise UserError(f"unknown table(s) in config: {', '.join(sorted(unknown))}")
    data = dict(raw.get("data", {}))
    bad = set(data) - {"corpus", "val_percent", "max_train_bytes", "max_val_bytes"}
    if bad:
        raise UserError(f"unknown key(s) in [data]: {', '.join(sorted(bad))}")
    model = _model_table(raw.get("model", {}))
    train_cfg = _known(raw.get("train", {}), TrainConfig, "train", ("seed", "device"))
    st = dict(raw.get("study", {}))
    bad = set(st) - {"variants", "orders", "seeds", "extra_seeds", "best_k", "memory_steps"}
    if bad:
        raise UserError(f"unknown key(s) in [study]: {', '.join(sorted(bad))}")
    variants = tuple(Variant.parse(v) for v in st.get("variants", [GATED, "relu"]))
    if "orders" in st:
        variants = by_order(variants, st["orders"])
    if not variants:
        raise UserError("study.variants is empty")
    if len({v.name for v in variants}) != len(variants):
        raise UserError("study.variants names must be distinct")
    seeds = tuple(st.get("seeds", [0]))
    extra = tuple(st.get("extra_seeds", []))
    for s in (*seeds, *extra):
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= resources.MAX_SEED:
            raise UserError(f"seeds must be integers in 0..{resources.MAX_SEED}, got {s!r}")
    if not seeds:
        raise UserError("study.seeds is empty")
    if len(seeds) + len(extra) > resources.MAX_SEEDS:
        raise UserError(f"study has {len(seeds) + len(extra)} seeds (at most {resources.MAX_SEEDS})")
    if not isinstance(raw.get("name", ""), str):
        raise UserError(f"name must be a string, got {raw['name']!r}")
    if not isinstance(raw.get("description", ""), str):
        raise UserError(f"description must be a string, got {raw['description']!r}")
    study = Study(
        name=str(raw.get("name", path.stem)),
        data=data,
        model=model,
        train=train_cfg,
        variants=variants,
        seeds=seeds,
        extra_seeds=extra,
        best_k=require_int("study.best_k", st.get("best_k", 0), 0, len(seeds) + len(extra)),
        memory_steps=require_int("study.memory_steps", st.get("memory_steps", 3), 0, 10_000),
        raw=raw,
    )
    for v in variants:  # fail on a bad shape or activation before any training
        study.model_config(v)
    study.train_config(0, "cpu")
    return study


def load_study_corpus(study: Study, corpus_override: str | None = None) -> Corpus:
    data = dict(study.data)
    if corpus_override is not None:
        data["corpus"] = corpus_override
    data.setdefault("corpus", STDLIB)
    return load_corpus(**data)


def run_path(out: Path, variant: str, seed: int) -> Path:
    return out / "runs" / f"{variant}_seed{seed}.json"


def run_one(study: Study, variant: Variant, seed: int, corpus: Corpus, device: str, log=print) -> dict:
    """Train one (variant, seed), then compute every analysis from the trained weights."""
    torch.manual_seed(seed)  # same init for every variant wherever shapes agree
    model = Transformer(study.model_config(variant))
    counts = parameter_counts(model)
    tcfg = study.train_config(seed, device)
    log(f"[{variant.name} seed {seed}] {counts['total']:,} parameters ({counts['ffn_weights']:,} FFN weights)")
    t0 = time.time()
    history = train(model, corpus, tcfg, log=log)
    batches = fixed_batches(corpus.val, min(tcfg.eval_batches, 4), tcfg.batch_size, model.cfg.context)
    sim = lm_analysis.model_similarity(model, batches, device)
    final = history.evals[-1]
    extra = {"experts": lm_analysis.expert_usage(model, batches, device)} if model.cfg.moe else {}
    return extra | {
        "variant": variant.name,
        "ffn": variant.ffn,
        "seed": seed,
        "model": asdict(model.cfg),
        "ffn_hidden": model.cfg.ffn_hidden,
        "parameters": counts,
        "final": final,
        "best_val_loss": min(e["val_loss"] for e in history.evals),
        "tokens_per_second": history.tokens_per_second,
        "train_seconds": history.train_seconds,
        "wall_seconds": time.time() - t0,
        "torch_threads": torch.get_num_threads(),
        "saved_bytes_per_step": history.saved_bytes_per_step,
        "cuda_peak_bytes": history.cuda_peak_bytes,
        "steps": history.steps,
        "evals": history.evals,
        "coefficients": history.coefficients,
        "ranks": lm_analysis.ffn_ranks(model),
        "similarity": sim.tolist(),
        "neighbour_similarity": lm_analysis.neighbour_similarity(sim),
        "bf16": bf16_probe.model_probe(model, batches[:2], device),
        "provenance": provenance(study.raw, seed, device),
        "corpus": corpus.describe(),
    }


def memory_table(study: Study, corpus: Corpus, device: str, log=print, variants=None) -> list[dict]:
    """Per variant, with and without recompute: tensors its activation keeps, saved bytes and ms per step."""
    rows = []
    x, y = next(random_batches(corpus.train, study.train.get("batch_size", 16), study.model["context"], 0))
    x, y = x.to(device), y.to(device)
    tcfg = study.train_config(0, device)
    for variant in study.variants if variants is None else variants:
        for recompute in (False, True) if variant.ffn != GATED else (False,):
            torch.manual_seed(0)
            model = Transformer(study.model_config(variant).with_(recompute_activation=recompute)).to(device)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
            kept = (
                lm_memory.activation_tensors_kept(model.activation_modules()[0])
                if variant.ffn != GATED and not recompute
                else (1.0 if variant.ffn != GATED else float("nan"))
            )

            def step(model=model, opt=opt):
                with torch.autocast("cuda", dtype=torch.bfloat16) if tcfg.bf16 else contextlib.nullcontext():
                    loss = model(x, y)[1] + model.aux_loss()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            step()  # warm-up
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            for _ in range(study.memory_steps):
                step()
            if device.startswith("cuda"):
                torch.cuda.synchronize(device)
            ms = 1000 * (time.perf_counter() - t0) / study.memory_steps
            row = {
                "variant": variant.name,
                "recompute": recompute,
                "activation_tensors_kept": kept,
                "saved_MB_per_step": lm_memory.training_step_saved_bytes(model, x, y) / 2**20,
                "ms_per_step": ms,
                "tokens_per_second": x.numel() / (ms / 1000),
                "cuda_peak_MB": lm_memory.cuda_peak_bytes(step, device) / 2**20 if device.startswith("cuda") else None,
            }
            rows.append(row)
            log(
                f"  memory {variant.name:10s} recompute={recompute!s:5s} "
                f"saved {row['saved_MB_per_step']:.1f} MB/step, {ms:.0f} ms/step"
            )
    return rows


def mean_val(runs: list[dict], variant: str) -> float:
    vals = [r["final"]["val_loss"] for r in runs if r["variant"] == variant]
    return sum(vals) / len(vals) if vals else math.inf


def run_study(
    config: str,
    out: Path,
    *,
    resume: bool = False,
    device: str = "cpu",
    corpus: str | None = None,
    overrides: dict | None = None,
    allow_large: bool = False,
    log=print,
    executor=None,
    threads: int = 1,
) -> list[dict]:
    """Run every (variant, seed) not yet done, then the extra seeds for the best ones; return all runs.

    With a Ray ``executor`` each run is a task of ``threads`` CPUs; this process alone writes the run files.

    The caller holds ``out`` (``experiments.output_lock.hold``). Without ``resume`` a folder that
    already holds runs is refused; with it, every finished run must share the study's data, model
    and train tables and its corpus, and a run file that is not a complete run is named and rerun.
    """
    out = Path(out)
    study, data = _prepare(config, out, resume, device, corpus, overrides, allow_large, log)
    done = {(r["variant"], r["seed"]) for r in load_runs(out, log)}
    executor = executor or executors.Local()
    failures: list[executors.Failure] = []

    def ensure(pairs: list[tuple[Variant, int]]) -> None:
        todo = []
        for variant, seed in pairs:
            if (variant.name, seed) in done:
                log(f"[{variant.name} seed {seed}] done already, skipped")
            else:
                todo.append((variant, seed))
        if executor.name == "local":
            tasks = [executors.Task(f"{v.name} seed {s}", run_one, (study, v, s, data, device, log)) for v, s in todo]
        else:
            gpus = 1.0 if device.startswith("cuda") else 0.0
            tasks = [
                executors.Task(
                    f"{v.name} seed {s}",
                    run_task,
                    (config, overrides, corpus, v.name, s, device),
                    cpus=threads,
                    gpus=gpus,
                )
                for v, s in todo
            ]

        def finished(task: executors.Task, run: dict, node: str) -> None:
            checkpoint("run")
            run["node"] = node
            write_json(run_path(out, run["variant"], run["seed"]), run)
            done.add((run["variant"], run["seed"]))

        failures.extend(executor.run(tasks, finished).failures)

    ensure([(variant, seed) for seed in study.seeds for variant in study.variants])
    runs = load_runs(out, log)
    if study.extra_seeds and study.best_k:
        ranked = sorted(study.variants, key=lambda v: mean_val(runs, v.name))
        ensure([(variant, seed) for variant in ranked[: study.best_k] for seed in study.extra_seeds])
        runs = load_runs(out, log)
    for f in failures:
        log(f"FAILED: run {f.key}: {f.error} (not written; --resume runs it again)")
    if failures:
        raise RunsFailed(f"{len(failures)} run(s) failed: {', '.join(f.key for f in failures)}")
    if study.memory_steps > 0:
        update_memory_table(out, study, data, device, log)
    return runs


def _prepare(config, out: Path, resume, device, corpus, overrides, allow_large, log) -> tuple[Study, Corpus]:
    """Validate everything before any training: the device, the config, memory, the folder, the corpus."""
    devices.check(device)
    study = load_study(config, overrides)
    resources.check([memory_estimate(study, v) for v in study.variants], device, allow_large)
    if not resume and run_files(out):
        raise UserError(f"{out} already holds runs; pass --resume to continue it or choose another --out")
    for stray in remove_temp_files(out) if out.exists() else []:
        log(f"note: removed {stray}, a temp file left by a killed run")
    with user_input("--corpus" if corpus is not None else "[data]"):
        data = load_study_corpus(study, corpus)
    log(f"corpus: {data.describe()}")
    if resume:
        check_resumable(out, study, data, log)
    provenance_ = provenance(study.raw, None, device)
    write_json(out / "study.json", {"study": study.raw, "corpus": data.describe(), **provenance_})
    return study, data


class RunsFailed(RuntimeError):
    """Some runs raised inside their tasks; the others are written."""


def run_task(config: str, overrides: dict | None, corpus: str | None, variant: str, seed: int, device: str) -> dict:
    """One (variant, seed) from the study's name: what a Ray worker runs (study and corpus load where it runs)."""
    study = load_study(config, overrides)
    chosen = next(v for v in study.variants if v.name == variant)
    return run_one(study, chosen, seed, load_study_corpus(study, corpus), device, log=lambda *_: None)


def memory_estimate(study: Study, variant: Variant) -> resources.Estimate:
    cfg = study.model_config(variant)
    experts, top_k = (cfg.moe.experts, cfg.moe.top_k) if cfg.moe else (1, 1)
    return resources.lm_estimate(study.model, study.train, cfg.ffn_hidden, experts, top_k)


def update_memory_table(out: Path, study: Study, corpus: Corpus, device: str, log=print) -> None:
    """memory.json: rows for every variant of the study; only the variants it lacks are measured."""
    path = out / "memory.json"
    old = inputs.read_json(path).get("rows", []) if path.exists() else []
    have = {r.get("variant") for r in old if isinstance(r, dict)}
    missing = [v for v in study.variants if v.name not in have]
    if not missing:
        return
    log("memory and speed per activation:")
    rows = old + memory_table(study, corpus, device, log, variants=missing)
    order = {v.name: i for i, v in enumerate(study.variants)}
    rows.sort(key=lambda r: order.get(r["variant"], len(order)))
    write_json(path, {"rows": rows, **provenance(study.raw)})


def check_resumable(out: Path, study: Study, corpus: Corpus, log=print) -> None:
    """Refuse to mix runs: finished runs must share the data, model and train tables and the corpus."""
    for run in load_runs(out, log, against_study_file=False):
        where = f"{run_path(out, run['variant'], run['seed'])} (a finished run)"
        for table in ("data", "model", "train"):
            if run["provenance"]["config"].get(table, {}) != study.raw.get(table, {}):
                raise UserError(f"--resume: [{table}] differs from {where}; use another --out")
        if run["corpus"] != corpus.describe():
            raise UserError(f"--resume: the corpus differs from {where}; use another --out")


RUN_KEYS = (
    "variant",
    "ffn",
    "seed",
    "model",
    "ffn_hidden",
    "parameters",
    "final",
    "best_val_loss",
    "evals",
    "ranks",
    "provenance",
    "corpus",
)


def run_files(out: Path) -> list[Path]:
    """The run files in ``out/runs`` (hidden temp files excluded)."""
    return sorted((Path(out) / "runs").glob("[!.]*.json"))


def read_run(path: Path) -> dict:
    """One finished run; a file that is not one (cut short, edited, misnamed) is a ValueError naming it."""
    run = inputs.read_json(path)
    missing = [k for k in RUN_KEYS if not isinstance(run, dict) or k not in run]
    if missing:
        raise UserError(f"{path}: not a complete run file (lacks {', '.join(missing)})")
    if not isinstance(run["seed"], int) or run_path(path.parent.parent, str(run["variant"]), run["seed"]) != path:
        raise UserError(f"{path}: holds {run['variant']} seed {run['seed']}, not the run its name says")
    if not isinstance(run["final"], dict):
        raise UserError(f"{path}: final is not a table of numbers")
    for key, value in run["final"].items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise UserError(f"{path}: final.{key} = {value!r} is not a finite number >= 0")
    if "val_loss" not in run["final"]:
        raise UserError(f"{path}: final.val_loss is missing")
    if not isinstance(run["provenance"], dict) or not isinstance(run["provenance"].get("config"), dict):
        raise UserError(f"{path}: provenance.config is missing")
    return run


def load_runs(out: Path, log=print, against_study_file: bool = True) -> list[dict]:
    """Every complete run in ``out/runs`` (and, by default, matching ``out/study.json``); others are named, skipped."""
    out = Path(out)
    study_file = out / "study.json"
    reference = inputs.read_json(study_file).get("study") if against_study_file and study_file.exists() else None
    runs = []
    for path in run_files(out):
        try:
            run = read_run(path)
        except ValueError as err:
            log(f"refused {err}; it does not count as a finished run")
            continue
        tables = ("data", "model", "train")
        if isinstance(reference, dict):
            differs = [t for t in tables if run["provenance"]["config"].get(t, {}) != reference.get(t, {})]
            if differs:
                log(f"refused {path}: its [{'], ['.join(differs)}] differ from {study_file}")
                continue
        runs.append(run)
    return runs


def write_csv(out: Path, runs: list[dict]) -> Path:
    """One row per run: sizes, losses, speed, memory and the analyses' summaries."""
    header = [
        "variant",
        "seed",
        "ffn_hidden",
        "params_total",
        "ffn_weights",
        "activation_coefficients",
        "final_train_loss",
        "final_val_loss",
        "final_val_ppl",
        "best_val_loss",
        "tokens_per_second",
        "train_seconds",
        "saved_MB_per_step",
        "entropy_rank_w1",
        "entropy_rank_w2",
        "threshold_rank_w1",
        "threshold_rank_w2",
        "neighbour_similarity",
    ]
    lines = [",".join(header)]
    for r in runs:
        rk = summarise_ranks(r)
        row = [
            r["variant"],
            r["seed"],
            r["ffn_hidden"],
            r["parameters"]["total"],
            r["parameters"]["ffn_weights"],
            r["parameters"]["activation_coefficients"],
            f"{r['final']['train_loss']:.5f}",
            f"{r['final']['val_loss']:.5f}",
            f"{r['final']['val_ppl']:.4f}",
            f"{r['best_val_loss']:.5f}",
            f"{r['tokens_per_second']:.0f}",
            f"{r['train_seconds']:.1f}",
            f"{r['saved_bytes_per_step'] / 2**20:.2f}",
            f"{rk['entropy_rank_w1']:.2f}",
            f"{rk['entropy_rank_w2']:.2f}",
            f"{rk['threshold_rank_w1']:.2f}",
            f"{rk['threshold_rank_w2']:.2f}",
            f"{r['neighbour_similarity']:.4f}",
        ]
        lines.append(",".join(str(v) for v in row))
    return write_text(out / "results.csv", "\n".join(lines) + "\n")


def summarise_ranks(run: dict) -> dict[str, float]:
    """Layer means of the entropy and threshold ranks of w1 and w2."""
    out = {}
    for m in ("w1", "w2"):
        rows = [r for r in run["ranks"] if r["matrix"] == m]
        for kind in ("entropy_rank", "threshold_rank"):
            out[f"{kind}_{m}"] = sum(r[kind] for r in rows) / len(rows)
    return out


def is_learnable(ffn: str) -> bool:
    return ffn in activations.LEARNABLE


def demo(out: Path, steps: int = 40, log=print) -> list[dict]:
    """The ``polylab demo`` section: the tiny preset, ReLU against PolyNorm, ``steps`` steps, with its report."""
    out = Path(out)
    for old in run_files(out):  # the demo's own previous runs: start afresh
        old.unlink()
    (out / "memory.json").unlink(missing_ok=True)
    overrides = {
        "train.steps": steps,
        "train.warmup": steps // 10,
        "train.eval_interval": steps // 2,
        "study.variants": ["relu", "polynorm"],
        "study.memory_steps": 1,
    }
    quiet = lambda line: None if line.startswith("  step") else log(line)  # noqa: E731
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from more, and loses a lot on a busy CPU
    try:
        return run_study("tiny", out, overrides=overrides, log=quiet)
    finally:
        torch.set_num_threads(threads)
