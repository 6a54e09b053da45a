"""Tokens/s and activation memory per FFN activation in the LM study's model (issue 8).

    .venv/bin/python benchmarks/lm_speed.py [--preset cpu] [--steps 5] [--threads 1] [--device cpu]

For each variant of the preset, with and without recomputing the activation in the backward
(``torch.utils.checkpoint``), prints: tensors the activation alone keeps for the backward (in units
of its input), bytes autograd saves in one training step, ms per step and tokens/s; on CUDA also the
allocator's peak. Every row is timed ``--rounds`` times, round-robin over the variants, and the fastest
is kept, so a burst of load from other jobs hits one round, not one variant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from experiments import lm_study  # noqa: E402


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
    rounds = [lm_study.memory_table(study, corpus, args.device, log=lambda s: None) for _ in range(args.rounds)]
    rows = [min(same, key=lambda r: r["ms_per_step"]) for same in zip(*rounds, strict=True)]
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
