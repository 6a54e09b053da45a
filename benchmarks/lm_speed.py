"""Tokens/s and activation memory per FFN activation in the LM study's model.

    .venv/bin/python benchmarks/lm_speed.py [--preset cpu|moe_cpu] [--steps 5] [--threads 1] [--device cpu]

For each variant of the preset, with and without recomputing the activation in the backward
(``torch.utils.checkpoint``), prints: tensors the activation alone keeps for the backward (in units
of its input), bytes autograd saves in one training step, ms per step and tokens/s; on CUDA also the
allocator's peak. Every row is timed ``--rounds`` times, round-robin over the variants, and the fastest
is kept, so a burst of load from other jobs hits one round, not one variant.

For an MoE preset it also times, in the same rounds, the dense model with the same active FFN
parameters (SwiGLU width k·h, ungated 3k·h/2) and prints the MoE/dense step ratio; and one MoE layer
at the preset's sizes (forward and backward), batched dispatch against the per-token reference.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from approx.transformer.moe import naive_moe  # noqa: E402
from approx.transformer.transformer import Transformer  # noqa: E402
from experiments.transformer import study as lm_study  # noqa: E402


def dense_twin(study: lm_study.Study) -> lm_study.Study:
    """The same study with dense FFNs holding the MoE's active weights: width k·h."""
    model = {k: v for k, v in study.model.items() if k != "moe"}
    model["swiglu_hidden"] = study.model["swiglu_hidden"] * study.model["moe"].get("top_k", 2)
    return dataclasses.replace(study, model=model)


def best_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def dispatch_rows(study: lm_study.Study, repeats: int) -> list[tuple[str, float, float]]:
    """(variant, batched s, per-token s) for one MoE layer's forward and backward on a preset-sized batch."""
    rows = []
    tokens = study.train.get("batch_size", 16) * study.model["context"]
    for variant in study.variants:
        torch.manual_seed(0)
        layer = Transformer(study.model_config(variant)).moe_layers()[0]
        x = torch.randn(tokens, study.model["d_model"], requires_grad=True)
        batched = best_seconds(lambda layer=layer, x=x: layer(x).sum().backward(), repeats)
        naive = best_seconds(lambda layer=layer, x=x: naive_moe(layer, x).sum().backward(), 1)
        rows.append((variant.name, batched, naive))
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cpu")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=3, help="round-robin repeats; the fastest of each row is kept")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    study = lm_study.load_study(args.preset, {"study.memory_steps": args.steps})
    corpus = lm_study.load_study_corpus(study)
    moe = "moe" in study.model
    studies = [study, dense_twin(study)] if moe else [study]
    rounds = [
        [row for s in studies for row in lm_study.memory_table(s, corpus, args.device, log=lambda s: None)]
        for _ in range(args.rounds)
    ]
    rows = [min(same, key=lambda r: r["ms_per_step"]) for same in zip(*rounds, strict=True)]
    dense = rows[len(rows) // 2 :] if moe else []
    rows = rows[: len(rows) // 2] if moe else rows
    batch = study.train.get("batch_size", 16) * study.model["context"]
    print(
        f"preset {args.preset}: batch {batch} tokens, {args.steps} timed steps, {args.threads} thread(s), "
        f"fastest of {args.rounds} round-robin rounds"
    )
    print("| variant | recompute | tensors kept | saved MB/step | ms/step | tokens/s | CUDA peak MB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        kept, peak = r["activation_tensors_kept"], r["cuda_peak_MB"]
        print(
            f"| {r['variant']} | {r['recompute']} | {'—' if kept != kept else f'{kept:.1f}'} | "
            f"{r['saved_MB_per_step']:.1f} | {r['ms_per_step']:.0f} | {r['tokens_per_second']:.0f} | "
            f"{'—' if peak is None else f'{peak:.0f}'} |"
        )
    if moe:
        print("\nMoE step against the dense model with the same active FFN weights (goal: ≤ 1.5×)")
        print("| variant | recompute | MoE ms/step | dense ms/step | ratio |")
        print("| --- | --- | ---: | ---: | ---: |")
        for m, d in zip(rows, dense, strict=True):
            ratio = m["ms_per_step"] / d["ms_per_step"]
            print(
                f"| {m['variant']} | {m['recompute']} | {m['ms_per_step']:.0f} | {d['ms_per_step']:.0f} | {ratio:.2f} |"
            )
        print("\nOne MoE layer, forward + backward: batched dispatch against the per-token reference (goal: ≥ 5×)")
        print("| variant | batched ms | per-token ms | speed-up |")
        print("| --- | ---: | ---: | ---: |")
        for name, batched, naive in dispatch_rows(study, args.rounds):
            print(f"| {name} | {1000 * batched:.1f} | {1000 * naive:.0f} | {naive / batched:.0f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
