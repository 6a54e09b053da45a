"""Theorem 3 certified on every cell, with a certified error (docs/theory.md §5.1-§5.3).

Goal: the 2-D N = 64 network (110,374 units, 16,641 cells) checked on every cell, with a certified
sup|f − net|, in ≤ 120 s on 2 cores. Prints a Markdown table; run from the repository root:

    .venv/bin/python benchmarks/theorem3_certify.py [--N 64] [--naive-cells 4] [--json FILE]

Stages: build; cell polynomials (``theory.sobolev.cell_polynomials``); comparison with f_N on every cell;
Taylor coefficients against jets; the certified error (``theory.sobolev.certified_error``, python-flint arb).
Alternatives measured in the same run:
- *naive*: the kink-tracking evaluator on the whole network per cell (``theory.sobolev.cellwise``, what the
  lab used before, and why it sampled), timed on ``--naive-cells`` cells and scaled to all of them;
- *mpmath.iv*: the per-cell Taylor models (jets of f at the centre and over the cell) computed with
  mpmath interval arithmetic instead of arb, on ``--iv-cells`` cells and scaled.
"""

from __future__ import annotations

import argparse
import random
import time
from fractions import Fraction

from mpmath import iv

from experiments.atomic_io import write_json
from experiments.provenance import provenance
from theory import theorem3 as T3
from theory.sobolev import taylor_check
from theory.sobolev.approximant import Approximant
from theory.sobolev.cell_polynomials import cell_polynomials
from theory.sobolev.cellwise import network_on_box
from theory.sobolev.certified_error import AtomBalls, sup_error
from theory.sobolev.jets import ARB, Jet, Numbers, compile_jet
from theory.sobolev.target import SobolevTarget

TARGET = ("sin(pi*x0)*cos(pi*x1)", 2, 2)


class IvBall:
    """mpmath.iv interval with the methods jets use (the target here needs sin, cos and exp only)."""

    __slots__ = ("v",)

    def __init__(self, v):
        self.v = v if isinstance(v, iv.mpf) else iv.mpf(v)

    @staticmethod
    def of(x):
        if isinstance(x, IvBall):
            return x.v
        if isinstance(x, Fraction):
            return iv.mpf(x.numerator) / x.denominator
        return iv.mpf(x)

    def __add__(self, o):
        return IvBall(self.v + IvBall.of(o))

    __radd__ = __add__

    def __sub__(self, o):
        return IvBall(self.v - IvBall.of(o))

    def __rsub__(self, o):
        return IvBall(IvBall.of(o) - self.v)

    def __mul__(self, o):
        return IvBall(self.v * IvBall.of(o))

    __rmul__ = __mul__

    def __truediv__(self, o):
        return IvBall(self.v / IvBall.of(o))

    def __rtruediv__(self, o):
        return IvBall(IvBall.of(o) / self.v)

    def __neg__(self):
        return IvBall(-self.v)

    def __pow__(self, k):
        return IvBall(self.v**k)

    def __gt__(self, o):
        return self.v.a > IvBall.of(o).b

    def __lt__(self, o):
        return self.v.b < IvBall.of(o).a

    def __contains__(self, x):
        return x in self.v

    def exp(self):
        return IvBall(iv.exp(self.v))

    def sin(self):
        return IvBall(iv.sin(self.v))

    def cos(self):
        return IvBall(iv.cos(self.v))

    def rad(self):
        return float(self.v.delta) / 2


IV = Numbers(lambda q: IvBall(IvBall.of(Fraction(q))), lambda: IvBall(iv.pi), lambda: IvBall(iv.e))


def taylor_models(target: SobolevTarget, boxes, numbers: Numbers, box_of) -> float:
    """The per-cell jets of sup_error (degree 3 at the centre, degree 4 over the cell); seconds."""
    f = compile_jet(target.expr, target.symbols, numbers=numbers)
    start = time.perf_counter()
    for box in boxes:
        centre = [numbers.rational((a + b) / 2) for a, b in box]
        f([Jet.variable(2, 3, k, c) for k, c in enumerate(centre)])
        f([Jet.variable(2, 4, k, box_of(a, b)) for k, (a, b) in enumerate(box)])
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--N", type=int, default=64)
    p.add_argument("--naive-cells", type=int, default=4)
    p.add_argument("--iv-cells", type=int, default=500)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    text, d, n = TARGET
    target = SobolevTarget.parse(text, d, n)
    rows, t = [], time.perf_counter()

    def stage(name, seconds, note=""):
        rows.append((name, seconds, note))

    t = time.perf_counter()
    built = T3.build(target, args.N)
    stage("build (exact PolyReLU network)", time.perf_counter() - t, f"{built.sizes.neurons} units")
    reference = Approximant(target, args.N)
    t = time.perf_counter()
    cells = cell_polynomials(built.network, reference.partition.breakpoints_1d())
    boxes = list(cells.cells())
    stage("cell polynomials of the network", time.perf_counter() - t, f"{len(boxes)} cells")
    t = time.perf_counter()
    differ = sum(not poly.equals(reference.on_cell(box)) for box, poly in boxes)
    stage("network = f_N, coefficient by coefficient", time.perf_counter() - t, f"{differ} cells differ")
    atoms = AtomBalls()
    t = time.perf_counter()
    coeffs = taylor_check.compare(reference.table, atoms)
    stage(
        "Taylor coefficients vs jets",
        time.perf_counter() - t,
        f"{coeffs['checked']} compared, {coeffs['differ']} differ",
    )
    t = time.perf_counter()
    error = sup_error(target, boxes, 3, atoms)
    bound = reference.certified_bound().bound
    stage(
        "certified sup|f - net| (arb)",
        time.perf_counter() - t,
        f"[{float(error.lower):.4e}, {float(error.upper):.4e}] <= bound {float(bound):.4e}: {error.upper <= bound}",
    )
    total = sum(s for _, s, _ in rows)
    stage("**total, every cell, certified**", total, "goal <= 120 s")

    sample = random.Random(0).sample([b for b, _ in boxes], args.naive_cells)
    t = time.perf_counter()
    for box in sample:
        network_on_box(built.network, box)
    per = (time.perf_counter() - t) / len(sample)
    stage("naive: kink-tracking evaluator per cell", per * len(boxes), f"extrapolated from {len(sample)} cells")
    sample = random.Random(1).sample([b for b, _ in boxes], args.iv_cells)
    arb_s = taylor_models(target, sample, ARB, lambda a, b: ARB.rational(a).union(ARB.rational(b)))
    iv_s = taylor_models(target, sample, IV, lambda a, b: IvBall(iv.mpf([IvBall.of(a).a, IvBall.of(b).b])))
    stage("Taylor models, arb (per-cell jets)", arb_s * len(boxes) / len(sample), f"scaled from {len(sample)} cells")
    stage("Taylor models, mpmath.iv", iv_s * len(boxes) / len(sample), f"scaled from {len(sample)} cells")

    print(f"Theorem 3 certified: f = {text}, d = {d}, n = {n}, N = {args.N}\n")
    print("| stage | seconds | result |\n| --- | ---: | --- |")
    for name, seconds, note in rows:
        cell = name.replace("|", r"\|")  # a bar would end the Markdown cell
        print(f"| {cell} | {seconds:.1f} | {note} |")
    if args.json:
        write_json(args.json, {"rows": rows, "provenance": provenance(vars(args))})


if __name__ == "__main__":
    main()
