"""``polylab fit EXPR --d D --activation NAME --params P``: one target, one or more sizes, the default schedule."""

from __future__ import annotations

import argparse
import math

from experiments.user_errors import UserError, user_input

HELP = "fit one target (expression or catalogue name) at one or more sizes; sup/RMS error, VarPro floor, time"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("expr", help="target: an expression in x0..x{d-1} (e.g. 'exp(sin(pi*x0))') or a catalogue name")
    p.add_argument("--d", type=int, default=1, help="input dimension of an expression target (default 1)")
    p.add_argument("--activation", default="polyrelu", help="activation name (default polyrelu)")
    p.add_argument("--params", type=int, nargs="+", default=[300], help="parameter counts (default 300)")
    p.add_argument("--depth", type=int, default=2, help="hidden layers (default 2)")
    p.add_argument("--seeds", type=int, default=1, help="seeds per size, trained as one stack (default 1)")
    p.add_argument("--points", type=int, help="training points (default max(256·d, min(2·params, 1024·d)))")
    p.add_argument(
        "--init", default="auto", help="starting parameters: auto (default: kinks for ReLU types), uniform, kinks"
    )
    p.add_argument("--json", help="write the results to this JSON file")


def run(args: argparse.Namespace) -> int:
    import approx
    from approx import activations
    from approx.fitting import targets
    from approx.fitting.initialisation import INITS
    from experiments import resources
    from experiments.atomic_io import write_json
    from experiments.provenance import provenance
    from experiments.rates.expressions import expression_target

    if args.init not in INITS:
        raise UserError(f"unknown --init {args.init!r}; valid: {', '.join(INITS)}")
    if not 1 <= args.seeds <= resources.MAX_SEEDS:
        raise UserError(f"--seeds must be in 1..{resources.MAX_SEEDS}, got {args.seeds}")
    if not 1 <= args.depth <= 64:
        raise UserError(f"--depth must be in 1..64, got {args.depth}")
    if any(not 2 <= p <= resources.MAX_PARAMS for p in args.params):
        raise UserError(f"--params must be in 2..{resources.MAX_PARAMS:.0e}, got {args.params}")
    if args.points is not None and not 2 <= args.points <= resources.MAX_POINTS:
        raise UserError(f"--points must be in 2..{resources.MAX_POINTS:.0e}, got {args.points}")
    with user_input():
        target = targets.get(args.expr) if args.expr in targets.names() else expression_target(args.expr, args.d)
        activations.get(args.activation)
    print(f"{target.name} (d={target.d}), {args.activation}, depth {args.depth}, default schedule")
    print(
        f"{'params':>7} {'width':>5} {'seed':>4} {'sup error':>10} {'RMS error':>10} {'floor sup':>10} "
        f"{'floor RMS':>10} {'steps':>6} {'stop':>9} {'seconds':>8}"
    )
    rows = []
    for params in args.params:
        for r in approx.fit_seeds(
            target,
            list(range(args.seeds)),
            activation=args.activation,
            params=params,
            depth=args.depth,
            points=args.points,
            init=args.init,
        ):
            errors = f"{r.sup_error:10.2e} {r.rms_error:10.2e} {r.floor_sup_error:10.2e} {r.floor_rms_error:10.2e}"
            print(f"{r.params:7d} {r.arch.width:5d} {r.seed:4d} {errors} {r.steps:6d} {r.stop:>9} {r.seconds:8.2f}")
            rows.append(
                {
                    k: getattr(r, k)
                    for k in (
                        "params",
                        "seed",
                        "sup_error",
                        "rms_error",
                        "floor_sup_error",
                        "floor_rms_error",
                        "train_rmse",
                        "steps",
                        "stop",
                        "seconds",
                    )
                }
                | {"width": r.arch.width}
            )
    if args.json:
        config = {
            "expr": args.expr,
            "d": target.d,
            "activation": args.activation,
            "params": args.params,
            "depth": args.depth,
            "seeds": args.seeds,
            "points": args.points,
            "init": args.init,
        }
        finite = lambda v: None if isinstance(v, float) and not math.isfinite(v) else v  # noqa: E731
        clean = [{k: finite(v) for k, v in r.items()} for r in rows]
        write_json(args.json, {"results": clean, **provenance(config)})
        print(f"wrote {args.json}")
    return 0
