"""``polylab construct theorem2``: a normalised PolyReLU network (random, exact) turned into a ReLU network
with certified sup error < ε on [−1, 1]^d, its sizes, exact errors on a grid, the size table over ε, L, K,
and the lower-bound table (docs/theory.md §4, ``theory.theorem2``)."""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

from experiments.atomic_io import save_figure, write_json
from experiments.constructions.lemma2 import coefficients
from experiments.provenance import provenance
from experiments.user_errors import UserError, user_input
from theory import lemma2, theorem2
from theory.pl.piecewise_linear import as_fraction

HELP = "Theorem 2: normalised PolyReLU network -> ReLU network with certified sup error < eps (+ lower bound)"
PLOT_EPS = tuple(Fraction(1, 10**k) for k in range(1, 9))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--order", type=int, default=3, help="r, with the paper's a = (0, 1/r, ..., 1/r) (default 3)")
    p.add_argument("--coeffs", default=None, help="exact a_0,...,a_r instead, e.g. '0,1/2,1/2'")
    p.add_argument("--dim", type=int, default=1, help="input dimension d (default 1)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers L of the PolyReLU network (default 2)")
    p.add_argument("--width", type=int, default=3, help="width K of the PolyReLU network (default 3)")
    p.add_argument("--eps", default="1e-3", help="target sup error, exact (default 1e-3)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random exact weights (default 1)")
    p.add_argument("--row-norm", default=None, help="scale every row to ‖w‖₁+|b| = this (default: random ≤ 1)")
    p.add_argument("--alpha", default=None, help="Lipschitz constant α to assume (default: the certified one)")
    p.add_argument("--rescale", action="store_true", help="opt in: divide rows with ‖w‖₁+|b| > 1 by it (reported)")
    p.add_argument(
        "--exact-max-m",
        type=int,
        default=lemma2.EXACT_MAX_M,
        help=f"exact per-neuron Lemma 2 errors up to this m (default {lemma2.EXACT_MAX_M}; -1: bound only)",
    )
    p.add_argument("--grid", type=int, default=None, help="exact grid points per axis (default 65 for d=1, 9 else)")
    p.add_argument("--table", action="store_true", help="also print sizes over eps, L, K and the lower-bound table")
    p.add_argument("--json", default=None, metavar="FILE", help="write the result (and tables) with provenance")
    p.add_argument("--plot", default=None, metavar="FILE", help="draw certified error against size over eps")


#: exact rational multiply-adds an evaluation may take (about a minute on one core): a bound on the wait
MAX_EXACT_WORK = 4_000_000


def check_work(work: int, knob: str) -> None:
    """Refuse (one line) exact work beyond :data:`MAX_EXACT_WORK`, naming the estimate and what to change."""
    if work > MAX_EXACT_WORK:
        raise UserError(
            f"the exact evaluation would take {work:,} rational multiply-adds (about {work / 70_000:.0f} s; the limit"
            f" is {MAX_EXACT_WORK:,}): use a larger {knob}"
        )


def _check(args: argparse.Namespace) -> None:
    for name, low, high in (("dim", 1, 4), ("depth", 1, 8), ("width", 1, 16)):
        v = getattr(args, name)
        if not low <= v <= high:
            raise UserError(f"--{name} must be in {low}..{high}, got {v}")
    if args.grid is not None and not 2 <= args.grid <= 2001:
        raise UserError(f"--grid must be in 2..2001, got {args.grid}")


def paper_size(res: theorem2.Theorem2Result) -> tuple[float, float]:
    """LK·ln(Lα^L/ε) and LK·ln²(Lα^L/ε): the rate we achieve and the paper's, without constants."""
    L, K = res.polyrelu.sizes().hidden_layers, res.polyrelu.sizes().width
    x = math.log(L * float(res.alpha) ** L / float(res.eps))
    return L * K * x, L * K * x * x


def describe(res: theorem2.Theorem2Result) -> str:
    g, f = res.polyrelu.sizes(), res.relu.sizes()
    ours, paper = paper_size(res)
    lines = [
        f"Theorem 2: PolyReLU network d={g.in_dim}, L={g.hidden_layers}, K={g.width} ({g.neurons} neurons), "
        f"eps = {float(res.eps):.3g}",
        "  " + res.normalisation.report().replace("\n", "\n  "),
        f"  eps_0 = eps / Σ_(j<L) α^j = {float(res.eps0):.4e}; Lemma 2 squaring depth per activation: "
        + ", ".join(f"{k}: m={m} ({res.neuron_methods[k]})" for k, m in res.squaring_depth.items()),
        f"  ReLU network: neurons {f.neurons}, width {f.width}, depth {f.depth} (affine layers), "
        f"nonzero parameters {f.nonzero_parameters}",
        f"  certified sup error (layer budget δ_(l+1) ≤ αδ_l + ε_0): {float(res.bound):.6e} < eps",
    ]
    if res.measured is not None:
        lines.append(f"  exact max error on the {res.grid}^{g.in_dim} grid: {float(res.measured):.6e}")
    lines.append(
        f"  neurons / (LK·ln(Lα^L/ε)) = {f.neurons / ours:.1f};  neurons / (LK·ln²(Lα^L/ε)) = {f.neurons / paper:.2f}"
    )
    return "\n".join(lines)


def table_text(rows: list[theorem2.Theorem2Result]) -> str:
    head = f"{'eps':>7} {'L':>2} {'K':>2} {'m':>3} {'bound':>10} {'neurons':>8} {'depth':>5} "
    head += f"{'/LK ln':>7} {'/LK ln²':>8}"
    lines = [head]
    for r in rows:
        ours, paper = paper_size(r)
        n, g = r.relu.sizes(), r.polyrelu.sizes()
        m = ",".join(map(str, r.squaring_depth.values()))
        lines.append(
            f"{float(r.eps):7.0e} {g.hidden_layers:2d} {g.width:2d} {m:>3} {float(r.bound):10.3e} {n.neurons:8d} "
            f"{n.depth:5d} {n.neurons / ours:7.1f} {n.neurons / paper:8.2f}"
        )
    return "\n".join(lines)


def lower_text(rows: list[dict]) -> str:
    head = (
        f"{'eps':>7} {'N_min':>7} {'W_min(L=1)':>10} {'shallow W':>9} {'m':>3} {'W_min(L=m)':>10} "
        f"{'Yarotsky W':>10} {'neurons≥':>8} {'Yarotsky':>8}"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"{r['eps']:>7} {r['min_pieces']:7d} {r['min_width_depth1']:10d} {r['shallow_width']:9d} "
            f"{r['yarotsky_m']:3d} {r['min_width_depth_m'] or 0:10d} {r['yarotsky_width']:10d} "
            f"{r['min_neurons_any_depth']:8d} {r['yarotsky_neurons']:8d}"
        )
    return "\n".join(lines)


def plot(path: str, net, args, grid: int) -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = []
    for eps in PLOT_EPS:
        res = theorem2.relu_approximation(net, eps, args.alpha, args.rescale, args.exact_max_m)
        theorem2.measure(res, grid)
        points.append(res)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    neurons = [r.relu.sizes().neurons for r in points]
    ax.loglog(neurons, [float(r.eps) for r in points], "k:", label="target ε")
    ax.loglog(neurons, [float(r.bound or 0) for r in points], "o-", label="certified bound (layer budget)")
    ax.loglog(
        neurons, [max(float(r.measured or 0), 1e-300) for r in points], "s--", label=f"exact max on {grid}-pt grid"
    )
    g = net.sizes()
    ax.set_xscale("linear")
    ax.set_xlabel("ReLU neurons")
    ax.set_ylabel("sup error on [-1, 1]^d")
    ax.set_title(f"Theorem 2: PolyReLU net d={g.in_dim}, L={g.hidden_layers}, K={g.width} → ReLU")
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=130)
    plt.close(fig)
    return [r.row() for r in points]


def run(args: argparse.Namespace) -> int:
    with user_input():
        _check(args)
        a = coefficients(args)
        eps = lemma2.check_eps(args.eps)
        net = theorem2.random_network(args.seed, args.dim, args.depth, args.width, a, norm=args.row_norm)
        alpha = None if args.alpha is None else as_fraction(args.alpha)
        theorem2.check_normalisation(net, alpha, args.rescale)  # the theorem's assumptions, before any work
    args.alpha = alpha
    res = theorem2.relu_approximation(net, eps, alpha, args.rescale, args.exact_max_m)
    grid = args.grid or (65 if args.dim == 1 else 9)
    check_work(res.relu.sizes().nonzero_parameters * grid**args.dim, "--eps or --grid")
    theorem2.measure(res, grid)
    print(describe(res))
    if args.dim == 1 and args.depth == 1:
        exact = theorem2.exact_error_shallow(res)
        print(f"  exact sup error on [-1,1] (d = 1, one hidden layer): {float(exact):.6e}")
        out_exact = str(exact)
    else:
        out_exact = None
    out: dict[str, object] = {"result": {**res.row(), "exact_sup_error": out_exact}}
    if args.table:
        rows = theorem2.size_table(a=a, d=args.dim, seed=args.seed)
        lower = theorem2.lower_bound_table()
        print("\nsizes over eps, L, K (the paper's O(LK ln²) vs the construction's O(LK ln)):")
        print(table_text(rows))
        print("\nlower bound for a = e_2 (x² on [0,1]): least pieces/width/neurons vs Yarotsky's shifted f_m:")
        print(lower_text(lower))
        out["table"] = [r.row() for r in rows]
        out["lower_bound"] = lower
    if args.plot:
        out["plot"] = plot(args.plot, net, args, grid)
        print(f"plot: {args.plot}")
    if args.json:
        skip = ("construct", "run")
        config = {k: (str(v) if isinstance(v, Fraction) else v) for k, v in vars(args).items() if k not in skip}
        out["provenance"] = provenance(config=config, seed=args.seed)
        write_json(args.json, out)
        print(f"json: {args.json}")
    return 0
