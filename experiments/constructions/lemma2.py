"""``polylab construct lemma2``: the smallest ReLU network of the construction with certified error < ε
against PolyReLU_a on [−1, 1] (docs/theory.md §4, ``theory.lemma2``), its sizes, and the size-vs-ε table."""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

from experiments.atomic_io import save_figure, write_json
from experiments.provenance import provenance
from experiments.user_errors import UserError, user_input
from theory import lemma2
from theory import yarotsky as Y
from theory.pl.piecewise_linear import as_fraction

HELP = "Lemma 2: smallest ReLU network with certified sup error < eps against PolyReLU_a on [-1,1]"
SIZE_KEYS = ("neurons", "width", "depth", "nonzero_parameters")


def parse_coefficients(text: str) -> tuple[Fraction, ...]:
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise UserError(f"--coeffs needs comma-separated exact numbers a_0,...,a_r, got {text!r}")
    return tuple(as_fraction(p) for p in parts)


def coefficients(args: argparse.Namespace) -> tuple[Fraction, ...]:
    if args.coeffs is not None:
        return parse_coefficients(args.coeffs)
    if not 1 <= args.order <= 16:
        raise UserError(f"--order must be in 1..16, got {args.order}")
    return lemma2.paper_coefficients(args.order)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--order", type=int, default=3, help="r, with the paper's a = (0, 1/r, ..., 1/r) (default 3)")
    p.add_argument("--coeffs", default=None, help="exact a_0,...,a_r instead, e.g. '0,1/2,-1/3,1/4'")
    p.add_argument("--eps", default="1e-6", help="target sup error, exact (e.g. 1e-6 or 1/1000; default 1e-6)")
    p.add_argument(
        "--exact-max-m",
        type=int,
        default=lemma2.EXACT_MAX_M,
        help=f"use the exact PL error up to this squaring depth (default {lemma2.EXACT_MAX_M}; -1: bound only)",
    )
    p.add_argument("--table", action="store_true", help="also print the size table, eps = 1e-1..1e-12, r = 1..4")
    p.add_argument("--json", default=None, metavar="FILE", help="write the result (and table) with provenance")
    p.add_argument("--plot", default=None, metavar="FILE", help="draw certified error against size")


def describe(res: lemma2.Lemma2Result) -> str:
    s = res.sizes
    how = {"exact": "exact", "enclosure": "certified enclosure", "bound": "composed bound"}[res.method]
    return "\n".join(
        [
            f"Lemma 2: PolyReLU_a with a = ({', '.join(map(str, res.a))}), eps = {float(res.eps):.3g}",
            f"  smallest network: m = {res.m} squaring levels; neurons {s.neurons}, width {s.width}, "
            f"depth {s.depth} (affine layers), nonzero parameters {s.nonzero_parameters}",
            f"  certified sup error on [-1,1]: {float(res.error):.6e} ({how}) < eps",
            f"  composed bound E(a, m): {float(res.bound):.6e}",
        ]
    )


def table_text(rows: list[lemma2.Lemma2Result], fits: dict) -> str:
    eps = sorted({r.eps for r in rows}, reverse=True)
    orders = sorted({lemma2.degree(r.a) for r in rows})
    cell = {(lemma2.degree(r.a), r.eps): r for r in rows}
    head = "eps     " + "".join(f"  r={r}: m  neurons" for r in orders)
    lines = [head]
    for e in eps:
        line = f"{float(e):.0e}  "
        for r in orders:
            c = cell[(r, e)]
            mark = "*" if c.method in ("exact", "enclosure") else " "
            line += f"  {c.m:6d}  {c.sizes.neurons:6d}{mark}"
        lines.append(line)
    lines.append("(* certified by the exact PL engine; otherwise by the exact-rational composed bound)")
    lines.append("")
    for r, f in fits.items():
        lin, paper = f["linear"], f["paper_ln2"]
        if abs(lin["c1"]) < 1e-9:
            lines.append(f"r={r}: constant size {lin['c0']:.0f} (ReLU itself, exact)")
            continue
        lines.append(
            f"r={r}: neurons ≈ {lin['c0']:.1f} + {lin['c1']:.2f}·ln(1/ε) (max residual {lin['max_residual']:.1f}); "
            f"quadratic term {f['quadratic_coefficient']:+.4f}·ln²; paper's form {paper['d0']:.1f} + "
            f"{paper['d2']:.3f}·ln² leaves residual {paper['max_residual']:.1f}"
        )
    return "\n".join(lines)


def plot(path: str, a: tuple[Fraction, ...], rows: list[lemma2.Lemma2Result], fits: dict, exact_max_m: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    curves = {f"r={r} (paper a)": lemma2.paper_coefficients(r) for r in (2, 3, 4)}
    if a not in curves.values():
        curves[f"a=({', '.join(map(str, a))})"] = a
    for label, coeffs in curves.items():
        if lemma2.degree(coeffs) < 2:
            continue
        ms = range(1, 23)
        left.semilogy(
            [lemma2.neurons_formula(coeffs, m) for m in ms],
            [float(Y.polyrelu_bound(coeffs, m, lemma2.square_interval(m))) for m in ms],
            "-",
            label=f"{label}: composed bound",
        )
        if coeffs == a:
            em = range(1, max(exact_max_m, 0) + 1)
            left.semilogy(
                [lemma2.neurons_formula(a, m) for m in em],
                [float(lemma2.exact_error(a, m).upper) for m in em],
                "ko",
                ms=4,
                label="exact sup error (PL engine)",
            )
    left.set_xlabel("ReLU neurons")
    left.set_ylabel("certified sup error on [-1, 1]")
    left.set_title("Lemma 2: error decays exponentially in size")
    left.legend(fontsize=7)
    for r, f in fits.items():
        if r < 2:
            continue
        pts = sorted((math.log(1 / float(x.eps)), x.sizes.neurons) for x in rows if lemma2.degree(x.a) == r)
        xs = [p[0] for p in pts]
        (line,) = right.plot(xs, [p[1] for p in pts], "o", ms=4, label=f"r={r}")
        lin, paper = f["linear"], f["paper_ln2"]
        right.plot(xs, [lin["c0"] + lin["c1"] * x for x in xs], "-", color=line.get_color(), lw=1)
        right.plot(xs, [paper["d0"] + paper["d2"] * x * x for x in xs], ":", color=line.get_color(), lw=1)
    right.set_xlabel("ln(1/ε)")
    right.set_ylabel("neurons of the smallest certified network")
    right.set_title("size ≈ c0 + c1·ln(1/ε) (solid); paper's ln² fit (dotted)")
    right.legend(fontsize=7)
    save_figure(fig, path, dpi=130)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    with user_input():
        a = coefficients(args)
        eps = lemma2.check_eps(args.eps)
    res = lemma2.smallest(a, eps, args.exact_max_m)
    print(describe(res))
    rows, fits = [], {}
    if args.table or args.plot:
        rows = lemma2.size_table(exact_max_m=args.exact_max_m)
        fits = lemma2.fit_sizes(rows)
    if args.table:
        print()
        print(table_text(rows, fits))
    if args.plot:
        plot(args.plot, a, rows, fits, args.exact_max_m)
        print(f"plot: {args.plot}")
    if args.json:
        config = {"a": [str(c) for c in a], "eps": str(eps), "exact_max_m": args.exact_max_m, "table": args.table}
        out: dict[str, object] = {"provenance": provenance(config=config), "result": res.row()}
        if rows:
            out["table"] = [r.row() for r in rows]
            out["fits"] = {str(k): v for k, v in fits.items()}
        write_json(args.json, out)
        print(f"json: {args.json}")
    return 0
