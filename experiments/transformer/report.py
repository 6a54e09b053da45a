"""Figures and the Markdown report of a transformer FFN study, from the run files alone.

The report puts each measured difference beside the paper's claim (docs/theory.md §6) and gives a
verdict computed from the numbers: a difference counts only when it is larger than the spread
between seeds; with a single seed the verdict says that the noise is unknown.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import mean

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from experiments import inputs  # noqa: E402
from experiments.atomic_io import save_figure, write_text  # noqa: E402
from experiments.markdown import table  # noqa: E402
from experiments.seed_spread import compare, fmt  # noqa: E402
from experiments.transformer import ablations as lm_ablations  # noqa: E402
from experiments.transformer.study import is_learnable, summarise_ranks, write_csv  # noqa: E402

BASELINES = ("relu", "gelu", "swiglu")
POLYCOM = ("polyrelu", "polynorm")


def by_variant(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        out.setdefault(r["variant"], []).append(r)
    return out


def smooth(xs: list[float], window: int) -> list[float]:
    out, acc = [], 0.0
    for i, x in enumerate(xs):
        acc += x
        if i >= window:
            acc -= xs[i - window]
        out.append(acc / min(i + 1, window))
    return out


# --------------------------------------------------------------------------- figures


def _colors(names: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {n: cycle[i % len(cycle)] for i, n in enumerate(names)}


def loss_figure(groups: dict[str, list[dict]], path: Path) -> Path:
    colors = _colors(list(groups))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, runs in groups.items():
        for i, r in enumerate(runs):
            steps = [s["step"] for s in r["steps"]]
            window = max(1, len(steps) // 40)
            label = name if i == 0 else None
            style = "-" if i == 0 else "--"
            ax1.plot(steps, smooth([s["loss"] for s in r["steps"]], window), style, color=colors[name], label=label)
            ev = [e for e in r["evals"]]
            ax2.plot(
                [e["step"] for e in ev], [e["val_loss"] for e in ev], style + "o", ms=3, color=colors[name], label=label
            )
    ax1.set(xlabel="step", ylabel="train loss (nats/byte, running mean)", title="training loss")
    ax2.set(xlabel="step", ylabel="validation loss (nats/byte)", title="validation loss")
    lo_train = min(min(smooth([s["loss"] for s in r["steps"]], 20)) for runs in groups.values() for r in runs)
    lo_val = min(min(e["val_loss"] for e in r["evals"]) for runs in groups.values() for r in runs)
    for ax, lo in ((ax1, lo_train), (ax2, lo_val)):
        ax.set_ylim(lo - 0.05, lo + 0.75)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("All FFN variants, same data order and seed (dashed: further seeds)")
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def rank_figure(groups: dict[str, list[dict]], path: Path) -> Path:
    colors = _colors(list(groups))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, matrix in zip(axes, ("w1", "w2"), strict=True):
        for name, runs in groups.items():
            layers = sorted({row["layer"] for row in runs[0]["ranks"]})
            values = [
                mean(
                    row["entropy_rank"]
                    for r in runs
                    for row in r["ranks"]
                    if row["layer"] == l and row["matrix"] == matrix
                )
                for l in layers
            ]
            ax.plot([l + 1 for l in layers], values, "o-", color=colors[name], label=name)
        max_rank = runs[0]["ranks"][0]["max_rank"]
        ax.set(
            xlabel="layer",
            ylabel="entropy effective rank",
            title=f"FFN {matrix} (max rank {max_rank})",
        )
        ax.set_xticks([l + 1 for l in layers])
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("Effective rank of the trained FFN weights per layer (mean over seeds)")
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def similarity_figure(groups: dict[str, list[dict]], path: Path) -> Path:
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.2), squeeze=False)
    for ax, (name, runs) in zip(axes[0], groups.items(), strict=True):
        s = runs[0]["similarity"]
        im = ax.imshow(s, vmin=0, vmax=1, cmap="viridis")
        ax.set_title(f"{name}\nneighbours {runs[0]['neighbour_similarity']:.3f}", fontsize=9)
        ticks = range(len(s))
        ax.set_xticks(ticks, ["emb", *map(str, range(1, len(s)))], fontsize=7)
        ax.set_yticks(ticks, ["emb", *map(str, range(1, len(s)))], fontsize=7)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="mean cosine similarity")
    fig.suptitle("Layer-to-layer cosine similarity of hidden states on validation batches (seed 0)")
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def coefficient_figure(groups: dict[str, list[dict]], path: Path) -> Path | None:
    learnable = {n: runs[0] for n, runs in groups.items() if is_learnable(runs[0]["ffn"])}
    if not learnable:
        return None
    fig, axes = plt.subplots(1, len(learnable), figsize=(5.5 * len(learnable), 4), squeeze=False)
    for ax, (name, run) in zip(axes[0], learnable.items(), strict=True):
        snaps = run["coefficients"]
        steps = [s["step"] for s in snaps]
        lists, order = len(snaps[0]["layers"]), len(snaps[0]["layers"][0])
        per_layer = lists // run["model"]["n_layers"]  # an MoE layer has one list per expert
        cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        styles = ["-", "--", ":", "-."]
        for l in range(lists):
            for i in range(order):
                ax.plot(
                    steps,
                    [s["layers"][l][i] for s in snaps],
                    styles[(l // per_layer) % len(styles)],
                    color=cycle[i % len(cycle)],
                    label=f"a{i}" if l == 0 else None,
                )
        ax.set(
            xlabel="step",
            ylabel="coefficient",
            title=f"{name}: a_i per layer{' and expert' if per_layer > 1 else ''}\n"
            "(layer 1 solid, 2 dashed, 3 dotted, 4 dash-dot)",
        )
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- verdicts


SMOOTH = 50  # steps in the running mean of the training loss


def smoothed_train(run: dict) -> list[float]:
    return smooth([s["loss"] for s in run["steps"]], SMOOTH)


def steps_to_reach_train(run: dict, target: float) -> int | None:
    """First step whose ``SMOOTH``-step running mean of the training loss is at or below ``target``."""
    for step, loss in zip((s["step"] for s in run["steps"]), smoothed_train(run), strict=True):
        if loss <= target:
            return step
    return None


def claims(groups: dict[str, list[dict]]) -> tuple[list[list[str]], list[str]]:
    """Rows (claim, comparison, measured, verdict) and plain-language sentences."""
    rows, sentences = [], []
    poly = [p for p in POLYCOM if p in groups]
    base = [b for b in BASELINES if b in groups]
    metric = {
        "val": lambda r: r["final"]["val_loss"],
        "rank_w1": lambda r: summarise_ranks(r)["entropy_rank_w1"],
        "rank_w2": lambda r: summarise_ranks(r)["entropy_rank_w2"],
        "sim": lambda r: r["neighbour_similarity"],
    }
    values = {k: {n: [f(r) for r in runs] for n, runs in groups.items()} for k, f in metric.items()}
    tally: dict[str, list[str]] = {}
    for p in poly:
        for b in base:
            for key, claim, lower in (
                ("val", "lower validation loss", True),
                ("rank_w1", "higher effective rank of W1", False),
                ("rank_w2", "higher effective rank of W2", False),
                ("sim", "lower neighbour-layer similarity", True),
            ):
                diff, verdict = compare(values[key][p], values[key][b], lower)
                rows.append([claim, f"{p} vs {b}", f"{diff:+.4f}", verdict])
                tally.setdefault(claim, []).append(verdict)
    for p in poly:  # convergence: every baseline against the same seeds' batches (paired by seed)
        for b in base:
            target = mean(smoothed_train(r)[-1] for r in groups[b])
            reached = [steps_to_reach_train(r, target) for r in groups[p]]
            last = len(groups[b][0]["steps"])
            shown = ", ".join("not reached" if s is None else str(s) for s in reached)
            met = all(s is not None and s < last for s in reached)
            pairs = [
                (x, y)
                for rp in groups[p]
                for rb in groups[b]
                if rp["seed"] == rb["seed"]
                for x, y in zip(rp["evals"][1:], rb["evals"][1:], strict=True)
            ]
            wins = sum(x["val_loss"] < y["val_loss"] for x, y in pairs)
            verdict = "agrees" if met else "disagrees"
            rows.append(
                [
                    "faster convergence",
                    f"{p} vs {b}: step where {p}'s train loss ({SMOOTH}-step mean) reaches {b}'s final "
                    f"{target:.4f} ({b}: {last}); evaluations where {p}'s val loss is lower",
                    f"{shown}; {wins}/{len(pairs)}",
                    verdict,
                ]
            )
            tally.setdefault("faster convergence", []).append(verdict)
    for claim, verdicts in tally.items():
        counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
        parts = "; ".join(f"{v}: {n}" for v, n in counts.items())
        agree = sum(n for v, n in counts.items() if v.startswith("agrees"))
        sentences.append(f"- **{claim}**: {agree} of {len(verdicts)} PolyCom-vs-baseline comparisons agree ({parts}).")
    groups_of: dict[str, list[str]] = {"agree with the paper": [], "partly agree": [], "do not agree": []}
    for claim, verdicts in tally.items():
        agree = sum(v.startswith("agrees") for v in verdicts)
        key = (
            "agree with the paper"
            if agree == len(verdicts)
            else "do not agree"
            if agree <= len(verdicts) // 4
            else "partly agree"
        )
        groups_of[key].append(claim)
    summary = "; ".join(f"{k} on {', '.join(c)}" for k, c in groups_of.items() if c)
    if summary:
        sentences.append(f"\nIn short, at this scale the measurements {summary}.")
    return rows, sentences


# --------------------------------------------------------------------------- report


def _header(out: Path, runs: list[dict], study: dict) -> list[str]:
    first = runs[0]
    prov, model, moe, corpus = first["provenance"], first["model"], first["model"].get("moe"), first["corpus"]
    batch = study.get("study", {}).get("train", {}).get("batch_size", "?")
    return [
        f"# Transformer FFN study: {study.get('study', {}).get('name', out.name)}",
        "",
        f"Command: `{study.get('command', prov['command'])}`  ",
        f"Device: {prov['device']}; git {prov['git_commit']}; torch {prov['versions'].get('torch')}, "
        f"python {prov['versions'].get('python')}  ",
        f"Corpus: {corpus['source']} — {corpus['train_bytes']:,} train bytes ({corpus['train_files']} files), "
        f"{corpus['val_bytes']:,} validation bytes ({corpus['val_files']} files), split by file (SHA-256 of the "
        "path); byte tokens.  ",
        f"Model: {model['n_layers']} layers, d_model {model['d_model']}, {model['n_heads']} heads, context "
        f"{model['context']}, rotary positions, RMSNorm, tied embedding; SwiGLU width "
        f"{model['swiglu_hidden']}, ungated width {3 * model['swiglu_hidden'] // 2} (×3/2)"
        + (f"; every FFN a mixture of {moe['experts']} such experts, top-{moe['top_k']}.  " if moe else ".  "),
        f"Training: {len(first['steps'])} steps of {batch} × {model['context']} bytes, AdamW, warmup + cosine, "
        "clip 1.0; every variant with the same seed sees the same batches in the same order.",
        "",
    ]


def _headline(groups: dict[str, list[dict]]) -> list[str]:
    val = {n: [r["final"]["val_loss"] for r in rs] for n, rs in groups.items()}
    best = min(groups, key=lambda n: mean(val[n]))
    lines = ["## Headline", "", f"Lowest mean validation loss: **{best}** ({fmt(val[best])} nats/byte).", ""]
    if "swiglu" in groups:
        for p in (p for p in POLYCOM if p in groups):
            d, verdict = compare(val[p], val["swiglu"], True)
            lines.append(
                f"- {p} − SwiGLU: {d:+.4f} nats/byte of validation loss, ppl {100 * (math.exp(d) - 1):+.1f}% "
                f"({verdict})."
            )
        lines.append("")
    return lines


def _parameters(groups: dict[str, list[dict]], moe: bool) -> list[str]:
    header = ["variant", "FFN width", "total", "FFN weights", "FFN active", "activation coefficients", "attention"]
    rows = []
    for n, rs in groups.items():
        c = rs[0]["parameters"]
        active = c.get("ffn_active", c["ffn_weights"])  # run files from before the MoE have no ffn_active
        rows.append(
            [
                n,
                rs[0]["ffn_hidden"],
                f"{c['total']:,}",
                f"{c['ffn_weights']:,}",
                f"{active:,}",
                c["activation_coefficients"],
                f"{c['attention']:,}",
            ]
        )
    return [
        "## Parameter counts (docs/theory.md §2: dense `sum(p.numel())`)",
        "",
        table(header, rows),
        "",
        "FFN weights are equal by construction; PolyCom adds r+1 coefficients per layer"
        + (", per expert; *FFN active* counts the router and the k experts one token uses." if moe else "."),
        "",
    ]


RESULT_COLUMNS = [
    "variant",
    "seeds",
    "val loss",
    "val ppl",
    "train loss",
    "entropy rank W1",
    "entropy rank W2",
    "rank>1% W1",
    "rank>1% W2",
    "neighbour sim.",
    "tokens/s",
    "train s/run",
    "wall s/run (max)",
]


FULL_RANK = (
    "Every FFN matrix of every run has all its singular values above 1% of the largest (threshold rank = max rank), "
    "so that measure cannot separate the variants here; the entropy rank carries the comparison."
)


def _results(groups: dict[str, list[dict]], runs: list[dict]) -> list[str]:
    rows = []
    for n, rs in groups.items():
        ranks = [summarise_ranks(r) for r in rs]
        rows.append(
            [
                n,
                ",".join(str(r["seed"]) for r in rs),
                fmt([r["final"]["val_loss"] for r in rs]),
                fmt([r["final"]["val_ppl"] for r in rs], 3),
                fmt([r["final"]["train_loss"] for r in rs]),
                *(
                    fmt([rk[key] for rk in ranks], 1)
                    for key in ("entropy_rank_w1", "entropy_rank_w2", "threshold_rank_w1", "threshold_rank_w2")
                ),
                fmt([r["neighbour_similarity"] for r in rs], 3),
                f"{mean(r['tokens_per_second'] for r in rs):.0f}",
                f"{mean(r['train_seconds'] for r in rs):.0f}",
                f"{mean(r['wall_seconds'] for r in rs):.0f} ({max(r['wall_seconds'] for r in rs):.0f})",
            ]
        )
    full = all(row["threshold_rank"] == row["max_rank"] for r in runs for row in r["ranks"])
    return [
        "## Results (mean ± sample std over seeds)",
        "",
        table(RESULT_COLUMNS, rows),
        "",
        *([FULL_RANK, ""] if full else []),
        "Ranks are means over layers (and experts); the maximum possible rank is the smaller side of each matrix. "
        "Neighbour similarity is "
        "the mean cosine similarity between the outputs of consecutive blocks. Tokens/s were measured on a machine "
        "shared with other jobs, so they carry the load of the moment (wall time includes the evaluations); the "
        "memory table below times all variants back to back.",
        "",
    ]


def _memory(out: Path) -> list[str]:
    path = out / "memory.json"
    if not path.exists():
        return []
    rows = []
    for m in inputs.read_json(path)["rows"]:
        kept = m["activation_tensors_kept"]
        rows.append(
            [
                m["variant"],
                m["recompute"],
                "—" if kept is None or kept != kept else f"{kept:.1f}",
                f"{m['saved_MB_per_step']:.1f}",
                f"{m['ms_per_step']:.0f}",
                f"{m['tokens_per_second']:.0f}",
                "—" if m["cuda_peak_MB"] is None else f"{m['cuda_peak_MB']:.0f}",
            ]
        )
    return [
        "## Memory and speed per activation",
        "",
        "Activation memory is counted as the bytes autograd saves for the backward in one training step "
        "(`saved_tensors_hooks`); *tensors kept* is what the activation alone saves, in units of its input. "
        "Recompute wraps the activation in `torch.utils.checkpoint`, as the released PolyNorm code does: "
        "it then keeps only its input, while W2 still keeps the activation's output. It pays off when the "
        "activation keeps more than that (PolyReLU, PolyNorm); for GELU it changes nothing and for ReLU, "
        "whose saved output is W2's saved input, it costs one tensor. "
        "Times come from a few steps per row on a shared CPU and are noisy.",
        "",
        table(["variant", "recompute", "tensors kept", "saved MB/step", "ms/step", "tokens/s", "CUDA peak MB"], rows),
        "",
    ]


def _coefficients(groups: dict[str, list[dict]]) -> list[str]:
    learn = {n: rs[0]["coefficients"][-1]["layers"] for n, rs in groups.items() if is_learnable(rs[0]["ffn"])}
    if not learn:
        return []
    lines = ["## Learned coefficients (a_0, …, a_r) per layer at the end of training (seed 0)", ""]
    for n, layers in learn.items():
        lines.append(f"- {n}: " + "; ".join("(" + ", ".join(f"{a:.3f}" for a in c) + ")" for c in layers))
    return lines + ["", "They start at (0, 1/r, …, 1/r); the figure shows their path.", ""]


def _limits(runs: list[dict], study: dict) -> list[str]:
    first = runs[0]
    steps = len(first["steps"])
    trained_bytes = steps * study.get("study", {}).get("train", {}).get("batch_size", 0) * first["model"]["context"]
    return [
        "## What this study cannot say",
        "",
        "- Scale: the paper trains 1B-parameter models on hundreds of billions of tokens; this study trains "
        f"~{first['parameters']['total'] / 1e6:.1f}M parameters on {trained_bytes:,} bytes of Python source "
        f"(random windows, {steps} steps). Differences in the ordering of activations at this scale need not "
        "carry over.",
        "- Downstream accuracy is not measured. The dense, MoE (`moe_cpu`) and order (`order_cpu`) studies are "
        "separate presets, each with its own report.",
        "- Effective ranks compare like with like only between the ungated FFNs (ReLU, GELU, PolyReLU, PolyNorm: "
        "W1 is (3h/2)×d for all). SwiGLU's W1 and W2 have h rows or columns instead of 3h/2, and even random "
        "matrices of different aspect ratios have different spectra, so the rank comparison with SwiGLU mixes "
        "the activation's effect with the shape's.",
        "- The paper does not say exactly how it computes the effective rank; we report the entropy-based rank "
        "(Roy & Vetterli) and the count of singular values above 1% of the largest, for W1 and W2 separately.",
        "",
    ]


def report(out: Path, runs: list[dict], figures: dict[str, Path | None]) -> str:
    """The whole report.md: header, headline, sizes, results, memory, the paper's claims, figures, limits."""
    groups = by_variant(runs)
    study_path = out / "study.json"
    study = inputs.read_json(study_path) if study_path.exists() else {}
    moe = lm_ablations.is_moe(groups)
    rows, sentences = claims(groups)
    lines = [
        *_header(out, runs, study),
        *_headline(groups),
        *sentences,
        "",
        *_parameters(groups, moe),
        *_results(groups, runs),
        *_memory(out),
    ]
    lines += [
        "## Measured differences beside the paper's claims (docs/theory.md §6)",
        "",
        "A difference is *within seed spread* when it is no larger than the larger seed standard deviation of the "
        "two variants; with one seed per variant the noise is unknown and the verdict says so.",
        "",
    ]
    if rows:
        lines += [table(["paper's claim", "comparison", "measured (PolyCom − baseline)", "verdict"], rows), ""]
    if moe:
        lines += lm_ablations.moe_section(groups, out)
    if lm_ablations.is_order_study(groups):
        lines += lm_ablations.order_section(groups, out)
    lines += [] if moe else _coefficients(groups)
    lines += ["## Figures", "", *[f"![{k}]({p.name})" for k, p in figures.items() if p is not None], ""]
    return "\n".join(lines + _limits(runs, study))


def write_all(out: Path, runs: list[dict]) -> list[Path]:
    """results.csv, the four figures and report.md in ``out``."""
    out = Path(out)
    groups = by_variant(runs)
    paths = [write_csv(out, runs)]
    figures = {
        "loss curves": loss_figure(groups, out / "loss_curves.png"),
        "effective rank": rank_figure(groups, out / "effective_rank.png"),
        "similarity": similarity_figure(groups, out / "similarity.png"),
        "coefficients": coefficient_figure(groups, out / "coefficients.png"),
    }
    paths += [p for p in figures.values() if p is not None]
    paths.append(write_text(out / "report.md", report(out, runs, figures)))
    return paths
