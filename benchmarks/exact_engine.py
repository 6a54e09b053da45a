"""Benchmark the exact network engine against naive SymPy, and time ``polylab verify``.

    .venv/bin/python benchmarks/exact_engine.py [--quick]

Prints a table; record it in benchmarks/RESULTS.md with this command. Timings are wall clock on
whatever machine runs it (the lab's reference: 2 shared CPU cores).
- verify: ``polylab verify --only lemma1,theorem1`` end to end (subprocess, includes imports);
- evaluation: the Fraction fast path vs the same network on SymPy numbers vs substituting into
  the SymPy closed form, at the same random rational points (all three must agree exactly);
- proof: case analysis vs ``sympy.simplify`` of the closed-form difference with ReLU written as Max
  (the blind approach), under a time limit;
- float: the shared-coefficient form cancels (λu)^r terms; float64 error with λ_j = j vs balanced scales
  (a number, not seconds, in that row);
- scale: build, convert (Theorem 1), export (sparse float64) and evaluate exactly a ReLU network with
  10^4 and 10^5 neurons.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import subprocess
import sys
import time
from pathlib import Path

import sympy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from theory import calculus  # noqa: E402
from theory import theorem1 as T  # noqa: E402
from theory.activation import ReLU, polynomial, relu  # noqa: E402
from theory.case_analysis import prove_equal  # noqa: E402
from theory.exact_equality import random_points  # noqa: E402
from theory.exact_numbers import to_sympy  # noqa: E402
from theory.network import Network  # noqa: E402


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def bench_verify(repeat: int) -> float:
    cmd = [str(REPO / ".venv/bin/polylab"), "verify", "--only", "lemma1,theorem1"]
    seconds, rc = timed(lambda: subprocess.run(cmd, capture_output=True, cwd=REPO).returncode, repeat)
    if rc != 0:
        raise SystemExit("polylab verify failed")
    return seconds


def symbolic_copy(net: Network) -> Network:
    """The same network with every weight a SymPy number: forces the slow, all-SymPy evaluation path."""
    import theory.network as N

    affs = [
        N.Affine(
            a.in_dim, tuple({j: to_sympy(v) for j, v in r.items()} for r in a.rows), tuple(to_sympy(b) for b in a.bias)
        )
        for a in net.affines
    ]
    return Network(affs, net.activations, net.shared)


def bench_evaluation(points: int):
    net = T.random_network(2, 4, [16] * 8, 3, [relu()])
    small = T.random_network(3, 2, [6, 6, 6], 1, [relu()])
    pts = random_points(net.in_dim, points, 0)
    fast, ref = timed(lambda: [net(p) for p in pts])
    slow, vals = timed(lambda: [symbolic_copy(net)(p) for p in pts])
    assert all([to_sympy(v) for v in r] == s for r, s in zip(ref, vals, strict=True))
    xs = sympy.symbols("x1:3", real=True)
    (expr,) = small.closed_form(xs)
    spts = random_points(2, points, 1)
    small_fast, a = timed(lambda: [small(p)[0] for p in spts])
    subs, b = timed(lambda: [expr.subs(dict(zip(xs, map(to_sympy, p), strict=True))) for p in spts])
    assert [to_sympy(v) for v in a] == b
    return [
        ("eval 4-16x8-3 ReLU (128 neurons), Fraction path", points, fast),
        ("eval same network, weights as SymPy numbers", points, slow),
        ("eval 2-6x3-1 ReLU (18 neurons), Fraction path", points, small_fast),
        ("eval same, .subs into the SymPy closed form", points, subs),
    ]


def _simplify_worker(queue):
    net = T.random_network(6, 1, [2, 2], 1, [polynomial([0, 1, sympy.Rational(1, 2), sympy.Rational(-1, 3)])])
    target = T.to_polyrelu(net, 3).target
    x = sympy.Symbol("x1", real=True)
    diff = target.closed_form([x])[0] - net.closed_form([x])[0]
    diff = diff.replace(ReLU, lambda u: sympy.Max(u, 0))
    t = time.perf_counter()
    result = sympy.simplify(diff)
    queue.put((time.perf_counter() - t, result == 0))


def bench_proof(limit: float):
    net = T.random_network(6, 1, [2, 2], 1, [polynomial([0, 1, sympy.Rational(1, 2), sympy.Rational(-1, 3)])])
    target = T.to_polyrelu(net, 3).target
    x = sympy.Symbol("x1", real=True)
    case, proof = timed(lambda: prove_equal(target.closed_form([x])[0], net.closed_form([x])[0]))
    queue: mp.Queue = mp.Queue()
    worker = mp.Process(target=_simplify_worker, args=(queue,))
    worker.start()
    worker.join(limit)
    if worker.is_alive():
        worker.terminate()
        worker.join()
        naive = f"> {limit:.0f} s (stopped), no answer"
    else:
        seconds, zero = queue.get()
        naive = f"{seconds:.2f} s, says {'0' if zero else 'not 0 / undecided'}"
    return case, proof, naive


def bench_scale(dim: int, depth: int):
    """identity(dim, depth) through ReLU: 2·dim neurons per hidden layer, then Theorem 1 and export."""
    from theory.export import points_tensor, to_torch

    build, net = timed(lambda: calculus.identity(dim, depth, relu()))
    convert, conv = timed(lambda: T.relu_to_polyrelu(net))
    export, module = timed(lambda: to_torch(conv.target))
    point = random_points(dim, 1, 0)
    evaluate, value = timed(lambda: conv.target(point[0]))
    forward, y = timed(lambda: module(points_tensor(point)).detach())
    assert value == point[0] and float((y[0] - points_tensor(point)[0]).abs().max()) < 1e-12
    return net.sizes().neurons, build, convert, export, evaluate, forward


def bench_float_export():
    """Max relative float64 error of shared-coefficient conversions, plain scales j vs balanced 2^-e·j."""
    import torch

    from theory.activation import polyrelu, relu_power
    from theory.export import points_tensor, to_torch

    kinds = {
        "ReLU": [relu()],
        "ReLU^2": [relu_power(2)],
        "PolyReLU(1/2,-1,1)": [polyrelu(["1/2", -1, 1])],
        "cubic polynomial": [polynomial([0, 1, "1/2", "-1/3"])],
    }
    pts = random_points(3, 50, 1)
    rows = []
    for name, acts in kinds.items():
        net = T.random_network(0, 3, [8, 8, 8], 2, acts)
        errs = []
        for domain in (None, 1.0):
            conv = T.to_polyrelu(net, 3, T.paper_coefficients(3), domain=domain).target
            y = to_torch(conv)(points_tensor(pts)).detach()
            exact = torch.tensor([[float(v) for v in conv(p)] for p in pts], dtype=torch.float64)
            errs.append(((y - exact).abs().max() / exact.abs().max().clamp(min=1)).item())
        rows.append((name, *errs))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, smaller scale case")
    args = ap.parse_args()
    print("| what | n | seconds |\n| --- | --- | --- |")
    runs = 1 if args.quick else 3
    print(f"| `polylab verify --only lemma1,theorem1` (end to end) | best of {runs} | {bench_verify(runs):.2f} |")
    for name, n, s in bench_evaluation(20 if args.quick else 40):
        print(f"| {name} | {n} points | {s:.3f} |")
    case, proof, naive = bench_proof(20 if args.quick else 120)
    print(f"| proof, 1-2x2-1 cubic net = PolyReLU twin: case analysis ({proof.branches} branches) | 1 | {case:.2f} |")
    print(f"| same, `sympy.simplify` of the Max(u,0) closed-form difference | 1 | {naive} |")
    for name, plain, balanced in bench_float_export():
        print(
            f"| float64 export of 3-8-8-8-2 {name} net, shared a: rel. error, scales j / balanced | 50 points | "
            f"{plain:.1e} / {balanced:.1e} |"
        )
    for dim, depth in ((500, 11),) if args.quick else ((500, 11), (5000, 11)):
        n, build, convert, export, evaluate, forward = bench_scale(dim, depth)
        print(
            f"| scale, {n} neurons: build / Theorem 1 / export / exact eval / torch forward | 1 | "
            f"{build:.2f} / {convert:.2f} / {export:.2f} / {evaluate:.2f} / {forward:.3f} |"
        )


if __name__ == "__main__":
    main()
