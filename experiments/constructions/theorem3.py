"""``polylab construct theorem3``: the PolyReLU network realising the Sobolev approximant f_N exactly,
its ReLU-Yarotsky twin, and the constructive rate curves (docs/theory.md §5, ``theorem3_rates`` beside it)."""

from __future__ import annotations

import argparse
import json
import math
import re
from fractions import Fraction

from experiments import devices, targets
from experiments.atomic_io import write_json
from experiments.constructions import theorem3_rates as rates
from experiments.provenance import provenance
from experiments.user_errors import UserError

HELP = "Theorem 3: exact PolyReLU network = Sobolev approximant f_N, ReLU twin, error-vs-size rate curves"
MAX_TERMS = 5_000  # (N+1)^d·C(n−1+d, d): the exact every-cell check grows faster than this count (benchmarks/)


def parse_grid_sizes(text: str) -> list[int]:
    try:
        Ns = [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise UserError(f"--N needs comma-separated positive integers, got {text!r}") from None
    if not Ns or any(N < 1 for N in Ns):
        raise UserError(f"--N needs comma-separated positive integers, got {text!r}")
    return sorted(set(Ns))


def infer_dimension(target: str) -> int:
    idx = [int(k) for k in re.findall(r"\bx(\d+)\b", target)]
    return max(idx, default=0) + 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="sin(pi*x0)", help="f on [0,1]^d in x0..x{d-1} (default 'sin(pi*x0)')")
    p.add_argument("--d", type=int, default=None, help="dimension (default: from the highest x_k in --target)")
    p.add_argument("--n", type=int, default=2, help="smoothness order n: Taylor degree n-1 (default 2)")
    p.add_argument("--N", default="1,2,4,8,16,32", help="grid sizes, comma-separated (default 1,2,4,8,16,32)")
    p.add_argument(
        "--form",
        choices=("per_neuron", "shared"),
        default="per_neuron",
        help="PolyReLU coefficients per neuron (e_1/e_2) or one shared a = (0,1,1) per layer",
    )
    p.add_argument("--no-relu", action="store_true", help="skip the ReLU-Yarotsky twin")
    p.add_argument("--no-scale", action="store_true", help="use f as given instead of scaling it into F_{n,d}")
    p.add_argument("--max-relu-neurons", type=int, default=60_000, help="build the ReLU twin up to this size")
    p.add_argument(
        "--cells",
        type=int,
        default=None,
        help="compare only this many random cells with f_N (not a proof; default: every cell)",
    )
    p.add_argument("--hp-points", type=int, default=1500, help="30-digit grid points for sup|f - f_N|")
    p.add_argument("--float-points", type=int, default=20_000, help="random points for the float64 export check")
    p.add_argument("--device", default="cpu", help="torch device for the exported network (cpu, cuda)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, metavar="FILE", help="write every row, fit and provenance here")
    p.add_argument("--plot", default=None, metavar="FILE", help="error vs neurons and vs nonzero weights")
    p.add_argument(
        "--beside",
        default=None,
        metavar="JSON[,JSON]",
        help="earlier runs (their --json files, same d) whose PolyReLU curves --plot draws beside this one",
    )


def run(args: argparse.Namespace) -> int:
    Ns = parse_grid_sizes(args.N)
    d = args.d if args.d is not None else infer_dimension(args.target)
    if (args.cells is not None and args.cells < 1) or args.hp_points < 1 or args.float_points < 1:
        raise UserError("--cells must be >= 1 and --hp-points, --float-points >= 1")
    devices.check(args.device)
    terms = (max(Ns) + 1) ** d * math.comb(args.n - 1 + d, d) if 1 <= args.n <= 8 and 1 <= d <= 6 else 0
    if terms > MAX_TERMS:
        raise UserError(
            f"N = {max(Ns)} in d = {d} needs {terms:,} Taylor terms (> {MAX_TERMS:,}), too many to check exactly;"
            " use a smaller N"
        )
    targets.sobolev(args.target, d, args.n)  # a bad target fails here, before any output
    beside = _beside(args.beside, d)
    print(f"Theorem 3: f = {args.target}, d = {d}, n = {args.n}, N = {Ns}")
    result = rates.sweep(
        args.target,
        d,
        args.n,
        Ns,
        scale=not args.no_scale,
        relu=not args.no_relu,
        form=args.form,
        max_relu_neurons=args.max_relu_neurons,
        cells=args.cells,
        hp_points=args.hp_points,
        float_points=args.float_points,
        device=args.device,
        seed=args.seed,
    )
    f = result["fits"]
    print(
        f"  scale factor {float(Fraction(result['scale_factor'])):.6g} "
        f"(certified ‖f‖_W^(n,inf) <= {float(Fraction(result['norm_upper'])):.6g})"
    )
    print(
        f"  fitted slope (N >= {rates.FIT_MIN_N}), error vs neurons: PolyReLU {_s(f['polyrelu_vs_neurons'])}, "
        f"ReLU {_s(f['relu_vs_neurons'])}; theory -n/d = {result['theory_slope']:.3f}"
    )
    print(
        f"  vs nonzero weights: PolyReLU {_s(f['polyrelu_vs_nonzero_parameters'])}, "
        f"ReLU {_s(f['relu_vs_nonzero_parameters'])}"
    )
    if "ratio_vs_ln_inv_eps" in f:
        print(
            f"  ReLU/PolyReLU neurons at matched accuracy: {f['relu_over_polyrelu_neurons']} "
            f"(grows like {f['ratio_vs_ln_inv_eps']['slope']:.2f}·ln(1/eps): the log factor)"
        )
    rows = result["rows"]
    exact = all(r["polyrelu"]["holds"] for r in rows)
    sampled = any(r["polyrelu"]["cells"]["sampled"] for r in rows)
    verdict = "hold" if exact else ("not proven: cells were sampled" if sampled else "FAIL")
    print(f"  every cell exact, closed-form sizes, coefficients vs jets, certified error <= bound: {verdict}")
    if args.json:
        config = {k: v for k, v in vars(args).items() if k not in ("construct", "run")}
        write_json(args.json, {"result": result, "provenance": provenance(config, args.seed, args.device)})
        print(f"  json: {args.json}")
    if args.plot:
        rates.plot(result, args.plot, beside)
        print(f"  plot: {args.plot}")
    bad = any(
        r["polyrelu"]["cells"]["differ"] or not (r["polyrelu"]["holds"] or r["polyrelu"]["cells"]["sampled"])
        for r in rows
    )
    return 1 if bad else 0


def _beside(files: str | None, d: int) -> list[dict]:
    """The results of earlier ``--json`` runs to draw beside this one; one line for a bad file."""
    out = []
    for path in files.split(",") if files else []:
        try:
            with open(path) as fh:
                result = json.load(fh)["result"]
            rows_ok = all("polyrelu" in r and "N" in r for r in result["rows"])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise UserError(f"--beside {path}: not a theorem3 --json file ({err.__class__.__name__}: {err})") from None
        if not rows_ok or result.get("d") != d:
            raise UserError(f"--beside {path}: a theorem3 run in d = {result.get('d')}, not d = {d}")
        out.append(result)
    return out


def _s(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"
