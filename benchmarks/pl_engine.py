"""The exact PL error engine against naive SymPy, and time the lemma2/theorem2 certificates.

    .venv/bin/python benchmarks/pl_engine.py [--quick] [--sympy-timeout S]

Prints tables; record them in benchmarks/RESULTS.md with this command. Wall clock on whatever machine
runs it (the lab's reference: 2 shared CPU cores).
- verify: ``polylab verify --only lemma2,theorem2`` end to end (subprocess, includes imports); goal ≤ 30 s;
- engine: exact sup |f_m − x²| on [0, 1] of Yarotsky's network f_m (must be 4^{−(m+1)}), by
  (a) the lab's engine: ``network_to_pl`` + ``sup_error`` in ``Fraction`` arithmetic;
  (b) naive SymPy: the network's closed form with ReLU = Max, rewritten as a ``Piecewise``, folded with
      ``piecewise_fold``, then per piece: critical points by ``solveset`` and values at the ends, max of |·|;
  (c) SymPy's ``maximum`` of the folded |f_m − x²| on [0, 1];
  (d) fairer: SymPy's ``maximum``/``minimum`` per piece, given the lab's exact pieces (the error step only);
  each SymPy variant in a child process under a time limit; all results must equal 4^{−(m+1)}.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import sympy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from theory import yarotsky as Y  # noqa: E402
from theory.pl.piecewise_linear import sup_error  # noqa: E402
from theory.pl.propagation import network_to_pl  # noqa: E402

x = sympy.Symbol("x", real=True)


def lab_engine(m: int) -> Fraction:
    (f,) = network_to_pl(Y.square_network(m), 0, 1)
    return sup_error(f, [0, 0, 1]).value


def _folded(m: int):
    (expr,) = Y.square_network(m).closed_form([x], max_neurons=10**6)
    expr = expr.replace(lambda e: e.func.__name__ == "ReLU", lambda e: sympy.Max(e.args[0], 0))
    return sympy.piecewise_fold(expr.rewrite(sympy.Piecewise) - x**2)


def sympy_pieces(m: int):
    err = _folded(m)
    best, left = sympy.Integer(0), sympy.Interval(0, 1)  # Piecewise: the first true condition wins
    pieces = err.args if isinstance(err, sympy.Piecewise) else [(err, True)]
    for e, cond in pieces:
        dom = left if cond in (True, sympy.true) else cond.as_set().intersect(left)
        left = left - dom
        if dom.is_empty:
            continue
        dom = sympy.Union(*(sympy.Interval(i.inf, i.sup) for i in (dom.args if dom.is_Union else [dom])))
        pts = set(sympy.solveset(sympy.diff(e, x), x, dom)) | set(dom.boundary)
        best = sympy.Max(best, *(abs(e.subs(x, p)) for p in pts))
    return best


def sympy_maximum(m: int):
    return sympy.calculus.util.maximum(sympy.Abs(_folded(m)), x, sympy.Interval(0, 1))


def sympy_on_lab_pieces(m: int):
    """Fairer: SymPy gets the lab's exact pieces and only does the per-piece maximisation."""
    (f,) = network_to_pl(Y.square_network(m), 0, 1)
    best = sympy.Integer(0)
    for x0, x1, y0, y1 in zip(f.xs, f.xs[1:], f.ys, f.ys[1:], strict=False):
        a, b, u, v = (sympy.Rational(q.numerator, q.denominator) for q in (x0, x1, y0, y1))
        e = u + (v - u) / (b - a) * (x - a) - x**2
        dom = sympy.Interval(a, b)
        best = sympy.Max(best, sympy.calculus.util.maximum(e, x, dom), -sympy.calculus.util.minimum(e, x, dom))
    return best


def _child(fn, m, q):
    t = time.perf_counter()
    try:
        value = fn(m)
    except Exception as err:  # SymPy gives up on some inputs: record it, it is a result
        q.put((f"crashed ({err.__class__.__name__})", None))
        return
    q.put((str(value), time.perf_counter() - t))


def timed_child(fn, m: int, timeout: float):
    q: mp.Queue = mp.Queue()
    p = mp.Process(target=_child, args=(fn, m, q))
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join()
        return None, None
    return q.get() if not q.empty() else ("crashed", None)


def verify_seconds(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "experiments", "verify", "--only", "lemma2,theorem2"],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        out.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise SystemExit("verify failed:\n" + done.stdout + done.stderr)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer m and one verify run")
    ap.add_argument("--sympy-timeout", type=float, default=60.0, help="seconds per SymPy attempt (default 60)")
    args = ap.parse_args()

    runs = 1 if args.quick else 3
    secs = verify_seconds(runs)
    print("polylab verify --only lemma2,theorem2 (wall, incl. imports):")
    print("  " + ", ".join(f"{s:.1f} s" for s in secs) + f"  -> best {min(secs):.1f} s (goal <= 30 s)")

    ms = (1, 2, 3, 4) if args.quick else (1, 2, 3, 4, 5, 6, 8, 10)
    print(f"\nexact sup|f_m - x^2| on [0,1] (must be 4^-(m+1)); SymPy limit {args.sympy_timeout:.0f} s each")
    head = f"{'m':>3} {'pieces':>7} {'lab engine':>11} {'sympy pieces':>13} {'sympy maximum':>20}"
    print(head + f" {'sympy on lab pieces':>20}  agree")
    give_up = {"pieces": False, "maximum": False, "lab pieces": False}
    for m in ms:
        t = time.perf_counter()
        value = lab_engine(m)
        lab = time.perf_counter() - t
        want = Fraction(1, 4 ** (m + 1))
        cells, agree = [], value == want
        for name, fn in (("pieces", sympy_pieces), ("maximum", sympy_maximum), ("lab pieces", sympy_on_lab_pieces)):
            if give_up[name]:
                cells.append("skipped")
                continue
            got, s = timed_child(fn, m, args.sympy_timeout)
            if got is None:
                cells.append(f"> {args.sympy_timeout:.0f} s")
                give_up[name] = True
            elif s is None:
                cells.append(got)
            else:
                agree &= sympy.nsimplify(got) == sympy.Rational(want.numerator, want.denominator)
                cells.append(f"{s:.2f} s")
        print(f"{m:3d} {2**m:7d} {lab:9.3f} s {cells[0]:>13} {cells[1]:>20} {cells[2]:>20}  {'yes' if agree else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
