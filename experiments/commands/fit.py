"""``polylab fit EXPR --d D --activation NAME --params P``: one target, one or more sizes, the default engine."""

from __future__ import annotations

import argparse

from experiments.user_errors import UserError, user_input

HELP = "fit one target (expression or catalogue name) at one or more sizes; sup/RMS error, VarPro floor, time"
#: record field -> column header of the printed table
COLUMNS = {
    "params": "params",
    "width": "width",
    "seed": "seed",
    "sup_error": "sup error",
    "rms_error": "RMS error",
    "floor_sup_error": "floor sup",
    "floor_rms_error": "floor RMS",
    "steps": "steps",
    "stop": "stop",
    "seconds": "seconds",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="target: an expression in x0..x{d-1} (e.g. 'exp(sin(pi*x0))') or a catalogue name")
    p.add_argument("--d", type=int, default=None, help="input dimension of an expression target (default 1)")
    p.add_argument("--activation", default="polyrelu", help="activation name (default polyrelu)")
    p.add_argument("--params", type=int, nargs="+", default=[300], help="parameter counts (default 300)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers (default 2)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per size, trained as one stack (default 1)")
    p.add_argument("--points", type=int, help="training points (default max(256·d, min(2·params, 1024·d)))")
    p.add_argument(
        "--init", default="auto", help="starting parameters: auto (default: kinks for ReLU types), uniform, kinks"
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress line, even on a terminal")
    p.add_argument("--json", help="write the results, with provenance, to this JSON file")
    p.add_argument("--csv", help="write one row per fit to this CSV file")
    p.add_argument("--plot", help="draw the last fit: target, fit and pointwise error (png, pdf or svg)")
    p.add_argument(
        "--certify",
        action="store_true",
        help="also a certified [lower, upper] of the sup error (1-D targets written exactly: expressions, "
        "abs_power, spline; piecewise-polynomial activations; docs/theory.md §8)",
    )


def run(args: argparse.Namespace) -> int:
    import approx
    from approx.fitting import targets
    from approx.fitting.initialisation import INITS
    from experiments import devices, resources
    from experiments.user_errors import require_choice, require_int

    require_choice("--init", args.init, INITS)
    require_int("--seeds", args.seeds, 1, resources.MAX_SEEDS)
    require_int("--depth", args.depth, 1, 64)
    for params in args.params:
        require_int("--params", params, 2, resources.MAX_PARAMS)
    if args.points is not None:
        require_int("--points", args.points, 2, resources.MAX_POINTS)
    device = devices.check(args.device)
    with user_input():
        target = targets.resolve(args.expr, args.d)
        activation = approx.activations.Activation.parse(args.activation)
    if args.certify:
        from experiments import certify_fit

        certify_fit.check(target, activation)
    print(f"{target.name} (d={target.d}), {args.activation}, depth {args.depth}, default engine, {device}")
    print(" ".join(f"{h:>10}" for h in COLUMNS.values()))
    results, certified = [], []
    for params in args.params:
        for r in approx.fit_seeds(
            target,
            list(range(args.seeds)),
            activation=args.activation,
            params=params,
            depth=args.depth,
            points=args.points,
            init=args.init,
            device=device,
            progress=False if args.quiet else None,
        ):
            row = r.to_records()[0]
            print(" ".join(f"{row[c]:10.3g}" if isinstance(row[c], float) else f"{row[c]:>10}" for c in COLUMNS))
            results.append(r)
            if args.certify:
                certified.append(certify_fit.certify(r))
                print("  " + certified_line(r.sup_error, certified[-1]))
    write_outputs(args, target, results, [c.as_dict() for c in certified])
    return 0


def certified_line(grid: float, c) -> str:
    """The certified interval beside the grid's estimate, and how far below the sup the grid fell."""
    lo, hi = float(c.lower), float(c.upper)
    if grid < lo:
        grid_says = f"the grid's {grid:.4g} is {100 * (1 - grid / lo):.2g}% below the certified lower end"
    else:
        grid_says = f"the grid's {grid:.4g} lies inside"
    parts = f"{c.pieces} pieces" if len(c.witness) == 1 else f"{c.pieces} boxes, gap {100 * c.gap:.3g}%"
    return f"certified sup error in [{lo:.6g}, {hi:.6g}] ({parts}, {c.seconds:.2g} s); {grid_says}"


def write_outputs(args: argparse.Namespace, target, results: list, certified: list[dict] | None = None) -> None:
    """--json (rows and provenance), --csv (rows) and --plot (the last fit), each written atomically;
    ``certified``: per fit, the certified interval's columns (``--certify``)."""
    from experiments.atomic_io import save_figure, write_csv, write_json
    from experiments.provenance import provenance

    rows = [row for r in results for row in r.to_records()]
    for row, extra in zip(rows, certified or [], strict=False):
        row.update(extra)
    if args.json:
        config = {k: getattr(args, k) for k in ("expr", "activation", "params", "depth", "seeds", "points", "init")}
        write_json(args.json, {"results": rows, **provenance(config | {"d": target.d}, device=args.device)})
        print(f"wrote {args.json}")
    if args.csv:
        write_csv(args.csv, rows)
        print(f"wrote {args.csv}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        save_figure(results[-1].plot(), args.plot, dpi=130)
        print(f"wrote {args.plot}")
    if not results:
        raise UserError("no fit ran")
