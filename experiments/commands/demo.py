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
    failed = certificates_section(out)
    return 1 if failed else 0


def certificates_section(out: Path) -> int:
    """Lemma 1 and Theorem 1 certificates (THEORY.md §3), short form; returns how many fail."""
    from experiments.atomic_io import write_json
    from experiments.commands import verify
    from experiments.provenance import provenance
    from theory import certificate

    print("\n== Certificates: Lemma 1 and Theorem 1 (THEORY.md §3; all of them: polylab verify) ==")
    certs = certificate.gather(["lemma1", "theorem1"])
    print(verify.table([c for c in certs if c.name in DEMO_CERTIFICATES or not c.holds]))
    failed = sum(not c.holds for c in certs)
    print(f"{len(certs) - failed}/{len(certs)} hold, {sum(c.seconds for c in certs):.1f} s")
    path = out / "certificates_lemma1_theorem1.json"
    write_json(path, {"provenance": provenance(config={"only": ["lemma1", "theorem1"]}),
                      "certificates": [c.as_dict() for c in certs]})  # fmt: skip
    print(f"json: {path}")
    return failed


#: the rows the demo prints (every certificate still runs; a failing one is always shown)
DEMO_CERTIFICATES = (
    "lemma1/relu/shared",
    "lemma1/x^3/per-neuron",
    "lemma1/polynomial/shared",
    "lemma1/single-neuron-constant-half-line",
    "theorem1/relu-deep-wide",
    "theorem1/relu-shared-paper-a",
    "theorem1/poly-per-neuron-proof",
)
