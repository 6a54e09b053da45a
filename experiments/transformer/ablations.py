"""The MoE and order-ablation sections of an LM study's report (docs/theory.md §6.2, §6.3), from run files.

Each section sets the paper's claim beside the measurement with a verdict computed from the numbers,
as ``lm_report.claims`` does for the dense study. Both return Markdown lines and write their figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from statistics import mean

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from approx.activations import MAX_ORDER, get, is_pointwise  # noqa: E402
from experiments.atomic_io import save_figure  # noqa: E402
from experiments.markdown import table  # noqa: E402
from experiments.seed_spread import compare, fmt, stat  # noqa: E402


def val(runs: list[dict]) -> list[float]:
    return [r["final"]["val_loss"] for r in runs]


# --------------------------------------------------------------------------- mixture of experts


def is_moe(groups: dict[str, list[dict]]) -> bool:
    return any(r["model"].get("moe") for runs in groups.values() for r in runs)


def load_figure(groups: dict[str, list[dict]], path: Path) -> Path:
    """Per variant (seed 0), each layer's share of assignments per expert."""
    n = len(groups)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3), squeeze=False, sharey=True)
    for ax, (name, runs) in zip(axes[0], groups.items(), strict=True):
        layers = runs[0]["experts"]
        experts = len(layers[0]["load"])
        width = 0.8 / len(layers)
        for i, layer in enumerate(layers):
            ax.bar([e + i * width for e in range(experts)], layer["load"], width, label=f"layer {i + 1}")
        ax.axhline(1 / experts, color="k", lw=0.8, ls="--")
        ax.set(title=name, xlabel="expert")
        ax.set_xticks([e + 0.4 - width / 2 for e in range(experts)], [str(e) for e in range(experts)], fontsize=7)
    axes[0][0].set_ylabel("share of assignments")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Expert load on validation batches (seed 0; dashed: uniform)", y=1.04)
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def moe_section(groups: dict[str, list[dict]], out: Path) -> list[str]:
    first = next(iter(groups.values()))[0]
    moe = first["model"]["moe"]
    figure = load_figure(groups, Path(out) / "expert_load.png")
    rows = []
    for name, runs in groups.items():
        layers = [layer for r in runs for layer in r["experts"]]
        rows.append(
            [
                name,
                f"{runs[0]['parameters']['ffn_active']:,}",
                f"{runs[0]['parameters']['ffn_weights']:,}",
                fmt(val(runs)),
                f"{mean(layer['entropy'] for layer in layers):.3f}",
                f"{mean(layer['cv'] for layer in layers):.3f}",
                f"{max(max(layer['load']) for layer in layers):.3f}",
                f"{mean(layer['dropped'] for layer in layers):.3f}",
                fmt([mean(row["entropy_rank"] for row in r["ranks"] if row["matrix"] == "w1") for r in runs], 1),
            ]
        )
    lines = [
        "## Mixture of experts",
        "",
        f"Every FFN is {moe['experts']} experts behind a softmax router, top-{moe['top_k']} renormalised, "
        + ("dropless" if not moe["capacity_factor"] else f"capacity factor {moe['capacity_factor']}")
        + f"; load-balance weight {moe['balance_weight']}, router z-loss weight {moe['z_weight']} "
        "(docs/theory.md §6.2). Experts are matched like the dense FFNs, so every variant has the same active "
        "and total FFN weights.",
        "",
        table(
            [
                "variant",
                "active FFN",
                "total FFN",
                "val loss",
                "load entropy",
                "load CV",
                "largest load",
                "dropped",
                "entropy rank W1 per expert",
            ],
            rows,
        ),
        "",
        "Load entropy is H(ℓ)/ln E (1 = uniform) and CV is std(ℓ)/mean(ℓ) (0 = uniform), over layers and seeds, "
        "on validation batches.",
        "",
    ]
    claim_rows = []
    if "swiglu" in groups:
        for p in ("polynorm", "polyrelu"):
            if p in groups:
                d, verdict = compare(val(groups[p]), val(groups["swiglu"]), True)
                claim_rows.append(
                    [
                        f"{p} experts reach a lower validation loss than SwiGLU experts (paper, PolyNorm: lower on "
                        "all 11 validation sets, by 0.02 on average)",
                        f"{d:+.4f}",
                        verdict,
                    ]
                )
    if claim_rows:
        lines += [table(["paper's MoE claim", "measured (PolyCom − SwiGLU)", "verdict"], claim_rows), ""]
        lines += ["This study has one validation set (held-out files of the corpus), not the paper's 11.", ""]
    coefficient_lines = []
    for name, runs in groups.items():
        per_layer = runs[0]["experts"]
        if per_layer and per_layer[0]["coefficients"]:
            spans = []
            for layer in per_layer:
                columns = list(zip(*layer["coefficients"], strict=True))
                spans.append("(" + ", ".join(f"{min(c):.2f}…{max(c):.2f}" for c in columns) + ")")
            coefficient_lines.append(f"- {name}: " + "; ".join(spans))
    if coefficient_lines:
        lines += ["Learned coefficients (a_0, …, a_r) per layer, range over the experts (seed 0):", ""]
        lines += [*coefficient_lines, ""]
    return lines + [f"![expert load]({figure.name})", ""]


# --------------------------------------------------------------------------- order ablation


def order_of(run: dict) -> int | None:
    return (run["model"].get("activation_kwargs") or {}).get("order")


def by_order(groups: dict[str, list[dict]]) -> dict[str, dict[int, list[dict]]]:
    """{activation: {order: runs}} for the activations run at two or more orders."""
    found: dict[str, dict[int, list[dict]]] = {}
    for runs in groups.values():
        r = order_of(runs[0])
        if r is not None:
            found.setdefault(runs[0]["ffn"], {})[r] = runs
    return {ffn: dict(sorted(orders.items())) for ffn, orders in found.items() if len(orders) > 1}


def is_order_study(groups: dict[str, list[dict]]) -> bool:
    return bool(by_order(groups))


def order_figure(studied: dict[str, dict[int, list[dict]]], path: Path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for ffn, orders in studied.items():
        rs = list(orders)
        ax1.errorbar(
            rs,
            [mean(val(runs)) for runs in orders.values()],
            yerr=[_spread(val(runs)) for runs in orders.values()],
            marker="o",
            capsize=3,
            label=ffn,
        )
        ax2.plot(
            rs, [max(p["max_abs_input"] for r in runs for p in r["bf16"]) for runs in orders.values()], "o-", label=ffn
        )
    ax1.set(xlabel="order r", ylabel="validation loss (nats/byte)", title="validation loss (mean ± std over seeds)")
    ax2.set(
        xlabel="order r", ylabel="largest |pre-activation|", yscale="log", title="largest input the activation sees"
    )
    for ax in (ax1, ax2):
        ax.set_xticks(sorted({r for orders in studied.values() for r in orders}))
        ax.grid(alpha=0.3)
        ax.legend()
    save_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def _spread(values: list[float]) -> float:
    return stat(values)[1] or 0.0


BF16_MAX = 3.3895313892515355e38  # torch.finfo(torch.bfloat16).max


def overflow_order(max_abs: float, squares: bool) -> str:
    """The order r at which max|x|^r (PolyNorm: max|x|^{2r}, its RMS squares x^r) passes bf16's largest value."""
    if max_abs <= 1:
        return "never (every input ≤ 1 in size)"
    r = math.log(BF16_MAX) / math.log(max_abs) / (2 if squares else 1)
    return f"{math.ceil(r)}"


def first_failure(runs: list[dict]) -> int | None:
    """The smallest order at which any layer of any seed overflows or turns imprecise in bf16."""
    orders = [
        o
        for r in runs
        for p in r["bf16"]
        for o in (p["first_overflowing_order"], p["first_imprecise_order"])
        if o is not None
    ]
    return min(orders) if orders else None


def order_section(groups: dict[str, list[dict]], out: Path) -> list[str]:
    studied_orders = by_order(groups)
    figure = order_figure(studied_orders, Path(out) / "order.png")
    rows, claims = [], []
    for ffn, orders in studied_orders.items():
        for r, runs in orders.items():
            probes = [p for run in runs for p in run["bf16"]]
            rows.append(
                [
                    ffn,
                    r,
                    len(runs),
                    fmt(val(runs)),
                    f"{max(p['max_abs_input'] for p in probes):.3g}",
                    f"{max(p['overflow'] for p in probes):.2e}",
                    f"{max(p['imprecise'] for p in probes):.2e}",
                    first_failure(runs) or f"none ≤ {MAX_ORDER}",
                    overflow_order(max(p["max_abs_input"] for p in probes), squares=not is_pointwise(get(ffn))),
                ]
            )
        if 3 in orders and 4 in orders:
            d, verdict = compare(val(orders[4]), val(orders[3]), True)
            if verdict == "within seed spread":
                alike = "agrees"
            elif "single seed" in verdict:
                alike = "unknown (single seed: noise unknown)"
            else:
                alike = f"disagrees (r = 4 {'better' if d < 0 else 'worse'})"
            claims.append([f"{ffn}: r = 3 and r = 4 perform alike", f"Δ val loss (r4 − r3) {d:+.4f}", alike])
        studied = max(orders)
        clean = all(
            p["overflow"] == 0 and p["imprecise"] <= 0.01
            for runs in orders.values()
            for run in runs
            for p in run["bf16"]
        )
        fails = min((f for runs in orders.values() if (f := first_failure(runs)) is not None), default=None)
        if not clean:
            verdict = f"disagrees: the trained orders ≤ {studied} already fail in bf16"
        elif fails is None:
            verdict = f"not reproduced: no order ≤ {MAX_ORDER} fails on these inputs"
        else:
            verdict = f"agrees: orders ≤ {studied} are clean, order {fails} fails"
        claims.append([f"{ffn}: orders above 4 overflow in bf16", f"first failing order {fails or '—'}", verdict])
    return [
        "## Order ablation",
        "",
        "Each PolyCom runs at orders r ∈ {"
        + ", ".join(map(str, sorted({r for o in studied_orders.values() for r in o})))
        + "} with the same seeds and batches. After training, the bf16 probe (docs/theory.md §6.3) evaluates each "
        "layer's activation in bf16 and float64 on the pre-activations the trained model really sees (two "
        "validation batches): *overflow* is the share of non-finite bf16 outputs, *imprecise* the share off by "
        "more than 2^-4 of the output scale, and the *first failing order* the smallest r ≤ "
        f"{MAX_ORDER} at which the same activation with order r overflows or turns >1% imprecise on those inputs. "
        "The *extrapolated overflow order* is where the largest input seen, m, would leave bf16's range: "
        "m^r > 3.4·10^38 (PolyNorm: m^(2r), since its RMS squares x^r); an estimate from one number, not a test.",
        "",
        table(
            [
                "activation",
                "r",
                "seeds",
                "val loss",
                "largest input",
                "overflow (max)",
                "imprecise (max)",
                "first failing order",
                "extrapolated overflow order",
            ],
            rows,
        ),
        "",
        table(["paper's order claim", "measured", "verdict"], claims),
        "",
        f"![order ablation]({figure.name})",
        "",
    ]
