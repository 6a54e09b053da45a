"""``polylab demo``: the lab's main job on its embedded defaults (what ``make demo`` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from experiments.commands import activations

HELP = "run the lab's main job on embedded defaults: activation table and figure, certificates, rates"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="results/demo", help="output folder (default: results/demo)")


def run(args: argparse.Namespace) -> int:
    from experiments import output_lock

    with output_lock.hold(Path(args.out)) as out:
        return _demo(out)


def _demo(out: Path) -> int:
    print("== PolyCom activations (docs/theory.md §1) ==")
    print(activations.table())
    fig = out / "activations.png"
    activations.figure(str(fig))
    print(f"figure: {fig}")
    failed = certificates_section(out)
    failed += relu_approximation_section(out)
    failed += sobolev_section(out)
    rates_section(out)
    lm_section(out)
    return 1 if failed else 0


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


def certificates_section(out: Path) -> int:
    """Lemma 1 and Theorem 1 certificates (docs/theory.md §3), short form; returns how many fail."""
    from experiments.atomic_io import write_json
    from experiments.commands import verify
    from experiments.provenance import provenance
    from theory import certificate

    print("\n== Certificates: Lemma 1 and Theorem 1 (docs/theory.md §3; all of them: polylab verify) ==")
    certs = certificate.gather(["lemma1", "theorem1"])
    print(verify.table([c for c in certs if c.name in DEMO_CERTIFICATES or not c.holds]))
    failed = sum(not c.holds for c in certs)
    print(f"{len(certs) - failed}/{len(certs)} hold, {sum(c.seconds for c in certs):.1f} s")
    path = out / "certificates_lemma1_theorem1.json"
    write_json(
        path,
        {
            "provenance": provenance(config={"only": ["lemma1", "theorem1"]}),
            "certificates": [c.as_dict() for c in certs],
        },
    )
    print(f"json: {path}")
    return failed


def relu_approximation_section(out: Path) -> int:
    """Lemma 2 / Theorem 2 (docs/theory.md §4): certificates, one construction, the size table; returns failures."""
    from experiments.atomic_io import write_json
    from experiments.commands import verify
    from experiments.constructions import lemma2 as lemma2_cli
    from experiments.provenance import provenance
    from theory import certificate, lemma2

    print("\n== Lemma 2 and Theorem 2: ReLU networks approximating PolyReLU (docs/theory.md §4) ==")
    certs = certificate.gather(["lemma2", "theorem2"])
    print(verify.table(certs))
    failed = sum(not c.holds for c in certs)
    print(f"{len(certs) - failed}/{len(certs)} hold, {sum(c.seconds for c in certs):.1f} s")
    print()
    print(lemma2_cli.describe(lemma2.smallest(lemma2.paper_coefficients(3), lemma2.Q(1, 10**6))))
    rows = lemma2.size_table(orders=(2, 3, 4))
    print("\nsmallest certified network, neurons (polylab construct lemma2 --table for all of it):")
    print(lemma2_cli.table_text([r for r in rows if r.eps in lemma2.EPSILONS[::3]], lemma2.fit_sizes(rows)))
    path = out / "certificates_lemma2_theorem2.json"
    write_json(
        path,
        {
            "provenance": provenance(config={"only": ["lemma2", "theorem2"]}),
            "certificates": [c.as_dict() for c in certs],
            "lemma2_table": [r.row() for r in rows],
        },
    )
    print(f"json: {path}")
    return failed


def sobolev_section(out: Path) -> int:
    """Theorem 3 (docs/theory.md §5): one constructive rate plot, PolyReLU-exact vs ReLU-Yarotsky; returns failures."""
    from experiments.atomic_io import write_json
    from experiments.constructions import theorem3_rates
    from experiments.provenance import provenance

    print("\n== Theorem 3: PolyReLU = Sobolev approximant f_N exactly, vs ReLU-Yarotsky (docs/theory.md §5) ==")
    print("f = sin(pi*x0) scaled into F_{2,1}, n = 2 (polylab construct theorem3 for more; polylab verify for all)")
    result = theorem3_rates.sweep("sin(pi*x0)", 1, 2, [1, 2, 4, 8, 16], hp_points=300, float_points=4000)
    f = result["fits"]
    print(
        f"fitted slope, error vs neurons (N >= 4): PolyReLU {f['polyrelu_vs_neurons']:.2f}, "
        f"ReLU {f['relu_vs_neurons']:.2f}; theory -n/d = {result['theory_slope']:.2f}"
    )
    fig = out / "theorem3_rate.png"
    theorem3_rates.plot(result, str(fig))
    write_json(out / "theorem3_rate.json", {"result": result, "provenance": provenance(config={"demo": "theorem3"})})
    print(f"figure: {fig}")
    rows = result["rows"]
    return sum(not r["polyrelu"]["holds"] for r in rows)


def rates_section(out: Path) -> None:
    """Issue 6: the `quick` rates preset: trained networks, error against parameters, slope fits."""
    import shutil
    import time

    from experiments.rates import config
    from experiments.rates import report as rate_report
    from experiments.rates import run as sweep

    print("\n== Empirical rates, quick preset (docs/theory.md §5, §7; polylab rates CONFIG for more) ==")
    cfg = config.load(Path(__file__).resolve().parent.parent / "configs" / "quick.toml")
    folder = out / "rates"
    shutil.rmtree(folder, ignore_errors=True)  # the demo's own output: always a fresh run
    start = time.perf_counter()
    stats = sweep.run(cfg, folder, progress=False)
    summary = rate_report.write_all(folder, cfg, boot=200)
    seconds = time.perf_counter() - start
    print(f"{stats['ran']} fits in {seconds:.0f} s (the default engine, depth {cfg.depths[0]}, float64)")
    for f in summary["fits"]:
        slope = "—" if f["slope"] is None else f"{f['slope']:+.2f} [{f['ci'][0]:+.2f}, {f['ci'][1]:+.2f}]"
        theory = "analytic" if f["theory_slope"] is None else f"{f['theory_slope']:+.2f}"
        print(
            f"{f['target']:18s} {f['activation']:14s} slope {slope:24s} theory {theory:9s} "
            f"best max-abs {f['best_error']:.1e}"
        )
    print(f"figure: {folder / 'figures' / 'rates.png'}  report: {folder / 'report.md'}")


def lm_section(out: Path) -> None:
    """Issue 8: the transformer FFN study on the tiny preset, a few steps (the full study: polylab lm)."""
    from experiments.transformer import report as lm_report
    from experiments.transformer import study as lm_study

    print("\n== Transformer FFN study, tiny preset, 40 steps (docs/theory.md §6; polylab lm cpu for the real one) ==")
    runs = lm_study.demo(out / "lm_tiny")
    for r in runs:
        print(
            f"{r['variant']:9s} {r['parameters']['total']:,} parameters, val loss {r['final']['val_loss']:.3f}, "
            f"{r['tokens_per_second']:.0f} tokens/s, {r['saved_bytes_per_step'] / 2**20:.1f} MB saved per step"
        )
    paths = lm_report.write_all(out / "lm_tiny", runs)
    print(f"report: {paths[-1]}")
