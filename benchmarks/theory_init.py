"""Training from the Theorem 3 construction against the construction itself and a random start.

    .venv/bin/python benchmarks/theory_init.py [--adam 1000] [--lbfgs 2000] [--cases 0 1 ...] [--json FILE]

Each case: a Theorem 3 network (n = 2; PolyReLU, or its ReLU twin) as a pattern network
(``experiments.bench.theory_init``), its readout solved by least squares, then trained by L-BFGS inside
its sparsity pattern; and a random start of the same pattern trained by Adam then L-BFGS. Sup errors on a
dense held-out grid; the construction's certified bound beside them. The targets were fixed before
anything was tuned: sin(πx0) and sin(πx0)·cos(πx1).
"""

from __future__ import annotations

import argparse

from experiments.atomic_io import write_json
from experiments.bench.theory_init import compare
from experiments.provenance import provenance

CASES = (
    ("sin(pi*x0)", 1, 2, 8, "theorem3"),
    ("sin(pi*x0)", 1, 2, 16, "theorem3"),
    ("sin(pi*x0)", 1, 2, 4, "theorem3-relu"),
    ("sin(pi*x0)*cos(pi*x1)", 2, 2, 2, "theorem3"),
    ("sin(pi*x0)*cos(pi*x1)", 2, 2, 3, "theorem3"),
)
POINTS_PER_PARAMETER = {1: 8, 2: 3}  # 2-D: a 4,096-point floor, and ~1 s an L-BFGS step above it at 8


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--adam", type=int, default=1000)
    p.add_argument("--lbfgs", type=int, default=2000)
    p.add_argument("--cases", type=int, nargs="+", default=list(range(len(CASES))), help="indices into CASES")
    p.add_argument("--json", default=None)
    args = p.parse_args()
    head = (
        "| target | d | init | N | nonzero params | points | construction | bound | readout solved "
        "| trained from it | gain | trained from random |"
    )
    print(head)
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    rows = []
    for text, d, n, N, init in (CASES[i] for i in args.cases):  # row by row: a long case shows those before
        r = compare(text, d, n, N, init, adam=args.adam, lbfgs=args.lbfgs, points_per_parameter=POINTS_PER_PARAMETER[d])
        rows.append(r)
        gain = r["construction"] / r["trained_from_construction"]
        print(
            f"| {text} | {d} | {init} | {N} | {r['nonzero_parameters']} | {r['points']} | {r['construction']:.2e} | "
            f"{r['bound']:.2e} | {r['readout_solved']:.2e} | {r['trained_from_construction']:.2e} | {gain:.1f}× | "
            f"{r['trained_from_random']:.2e} |",
            flush=True,
        )
    if args.json:
        write_json(args.json, {"rows": rows, "provenance": provenance(vars(args))})


if __name__ == "__main__":
    main()
