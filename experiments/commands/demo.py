"""``polylab demo``: the lab's main job on its embedded defaults (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.commands import activations

HELP = "run the lab's main job on embedded defaults: activation table and figure, certificates, rates"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    print("== PolyCom activations (THEORY.md §1) ==")
    print(activations.table())
    fig = out / "activations.png"
    activations.figure(str(fig))
    print(f"figure: {fig}")
    return 0
