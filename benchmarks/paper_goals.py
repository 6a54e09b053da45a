"""The rate goals of a committed rates study, read from its summary.json (benchmarks/RESULTS.md, "The
`paper` study's goals").

    .venv/bin/python benchmarks/paper_goals.py [results/paper results/paper-deep ...] [--json FILE]

For each study and each series (an activation, and its depth when the study has several):

- the slope as a share of the constructive slope −n/d, per target (1 = the rate, 0 = level; a
  curve at a named floor has none);
- the goals: PolyNorm and GELU at ≥ 50% of −n/d on ≥ 3 of 5 targets, PolyReLU at ≥ 70% on ≥ 4 of 5
  (the same shares of a study's targets when it has another number of them: 3 and 4 of 4);
- the steps where a series' best error rose by more than 10% off its floors, and fitted slopes > 0;
- in 1-D, how many sizes have a best network within 10× of Chebyshev interpolation with as many
  coefficients as it has parameters.

The numbers are the report's (experiments/rates/summary.py); this script only counts them, so the
table in RESULTS.md reproduces from the committed files.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

from experiments.atomic_io import write_json
from experiments.markdown import table
from experiments.provenance import provenance

#: activation family -> the share of −n/d its slopes must reach, and on what share of the targets
GOALS = {"gelu": (0.5, 3 / 5), "polynorm": (0.5, 3 / 5), "polyrelu": (0.7, 4 / 5)}
CHEBYSHEV_FACTOR = 10.0


def family(series: str) -> str:
    """``polyrelu_r3_per_neuron L2`` -> ``polyrelu``: the goal a series answers to."""
    return series.split()[0].split("_")[0]


def goals(summary: dict) -> dict:
    """Per series: the slope shares and how many meet the goal; the rising steps; Chebyshev's count."""
    shares: dict[str, dict[str, float | None]] = defaultdict(dict)
    for f in summary["fits"]:
        ok = f["slope"] is not None and f["theory_slope"] is not None
        shares[f["activation"]][f["target"]] = f["slope"] / f["theory_slope"] if ok else None
    series = {}
    for name, by_target in shares.items():
        need, share = GOALS.get(family(name), (None, 0.0))
        met = None if need is None else sum(s is not None and s >= need for s in by_target.values())
        needed = math.ceil(round(share * len(by_target), 9))
        series[name] = {"shares": by_target, "goal": need, "met": met, "of": len(by_target), "needed": needed}
    rising = [
        {"series": f["activation"], "target": f["target"], **step} for f in summary["fits"] for step in f["rising"]
    ]
    ratios = [c["ratio"] for sizes in summary.get("against_chebyshev", {}).values() for c in sizes]
    return {
        "series": series,
        "rising": rising,
        "positive_slopes": [(f["activation"], f["target"]) for f in summary["fits"] if (f["slope"] or 0) > 0],
        "at_floor": [(f["activation"], f["target"]) for f in summary["fits"] if f["slope"] is None],
        "chebyshev": {
            "within": sum(r <= CHEBYSHEV_FACTOR for r in ratios),
            "sizes": len(ratios),
            "range": [min(ratios), max(ratios)] if ratios else None,
        },
    }


def render(name: str, g: dict) -> str:
    targets = list(dict.fromkeys(t for s in g["series"].values() for t in s["shares"]))
    rows = []
    for series, s in g["series"].items():
        cells = ["floor" if (v := s["shares"].get(t)) is None else f"{v:.0%}" for t in targets]
        goal = "—" if s["goal"] is None else f"{s['met']} of {s['of']} at ≥ {s['goal']:.0%} (goal: {s['needed']})"
        rows.append([series, *cells, goal])
    c = g["chebyshev"]
    lines = [f"**{name}**: slope ÷ (−n/d) per target\n", table(["series", *targets, "goal"], rows), ""]
    lines.append(f"- rising steps by > 10% off the floors: {len(g['rising'])}")
    lines += [
        f"  - {r['series']} on {r['target']}: {r['from']} → {r['to']}, ×{r['after'] / r['before']:.2f}"
        for r in g["rising"]
    ]
    lines.append(f"- fitted slopes > 0: {len(g['positive_slopes'])}; curves at a named floor: {len(g['at_floor'])}")
    if c["sizes"]:
        lines.append(
            f"- 1-D sizes within {CHEBYSHEV_FACTOR:g}× of Chebyshev: {c['within']} of {c['sizes']} "
            f"(best network / Chebyshev {c['range'][0]:.2g}–{c['range'][1]:.2g}×)"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("studies", nargs="*", default=["results/paper", "results/paper-deep"], help="rates output folders")
    p.add_argument("--json", help="write every count here")
    args = p.parse_args()
    out = {}
    for folder in map(Path, args.studies):
        summary = json.loads((folder / "summary.json").read_text())
        out[summary["config"]] = goals(summary)
        print(render(summary["config"], out[summary["config"]]))
    if args.json:
        write_json(args.json, {**out, **provenance({"studies": args.studies})})


if __name__ == "__main__":
    main()
