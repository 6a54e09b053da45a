"""Training from the Theorem 3 construction against the construction itself and a random start.

    .venv/bin/python benchmarks/theory_init.py [--adam 2000] [--lbfgs 2000] [--json FILE]

Each case: the exact PolyReLU network of Theorem 3 (n = 2) exported to float64 torch, trained inside its
sparsity pattern (``experiments.bench.theory_init``), and a random initialisation of the same pattern trained
the same way. Sup errors on a dense held-out grid; the construction's certified bound beside them.
The targets were fixed before anything was tuned: sin(πx0) and sin(πx0)·cos(πx1).
"""

from __future__ import annotations

import argparse

from experiments.atomic_io import write_json
from experiments.bench.theory_init import compare
from experiments.provenance import provenance

CASES = (("sin(pi*x0)", 1, 2, 8), ("sin(pi*x0)", 1, 2, 16), ("sin(pi*x0)*cos(pi*x1)", 2, 2, 4))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--adam", type=int, default=2000)
    p.add_argument("--lbfgs", type=int, default=2000)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    print("| target | d | N | nonzero params | construction | bound | trained from it | gain | trained from random |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", flush=True)
    rows = []
    for case in CASES:  # one row at a time: a long case shows the ones before it
        r = compare(*case, adam=args.adam, lbfgs=args.lbfgs)
        rows.append(r)
        gain = r["construction"] / r["trained_from_construction"]
        print(
            f"| {r['target']} | {r['d']} | {r['N']} | {r['nonzero_parameters']} | {r['construction']:.2e} | "
            f"{r['bound']:.2e} | {r['trained_from_construction']:.2e} | {gain:.1f}× | {r['trained_from_random']:.2e} |",
            flush=True,
        )
    if args.json:
        write_json(args.json, {"rows": rows, "provenance": provenance(vars(args))})


if __name__ == "__main__":
    main()
