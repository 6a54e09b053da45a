"""Where the portfolio's overshoot bar comes from: the candidates (the rule before) or the data (today's).

    .venv/bin/python benchmarks/overshoot_bar.py [--json benchmarks/overshoot_bar.json]

A candidate's score is the larger of its validation sup error and how far its values on a probe grid
go beyond what the data allows (approx/fitting/portfolio.py, ``scores``). Before 2026-12-05 that was
the overshoot of the training values' range, beyond the least overshoot among the portfolio's own
starts: a poor start that stays inside the range set the bar below the target's own overshoot, and
every good candidate was then scored by its correct overshoot. Today the bar comes from the data:
with L = 2·max |y_i − y_j| / |x_i − x_j| over nearest-neighbour pairs of training points, a network's
value at a probe point p may differ from y at p's nearest training point by at most L·dist; the
excess beyond that band is a lower bound on the network's sup error wherever L bounds f's slope, like
the validation error, and no candidate moves another's score.

The case: the `paper` study's GELU chain on |x₁−c|^{3/2}+|x₂−c|^{3/2} (d = 2), ~630 then ~1,600
parameters, seed 0, the preset's settings (Sobol points, which never reach the corner where f
peaks), continuation on. Printed per rule: each candidate's score under both rules at each size,
the start chosen and the test grid's sup error at both sizes.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import torch

from approx.fitting import metrics, portfolio
from experiments.atomic_io import write_json
from experiments.markdown import table
from experiments.provenance import provenance

PRESET = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "paper.toml"
#: the `paper` preset's data and schedules, on one of its chains, and the Sobol points it had then
CONFIG = """name = "overshoot-bar"
depth = 1
sizes = [629, 1601]
seeds = [0]
dtype = "float64"
metric = "max_abs"
continuation = true
targets = [{ family = "abs_power", n = 1, d = 2 }]
activations = ["gelu"]
[data]""" + PRESET.read_text().split("[data]", 1)[1].replace('sampling = "auto"', 'sampling = "sobol"')


def old_scores(arch, runs, train_part, val_part):
    """The rule before 2026-12-05: max(validation error, overshoot of the training values' range beyond
    the least among the candidates but ``widened``)."""
    where, seen = portfolio.band(train_part, portfolio.probe_points(arch.d_in)), train_part[1].double().cpu()
    err, over = {}, {}
    for name, fit in runs.items():
        err[name] = portfolio.validation_errors(arch, fit, val_part, where)[0]
        values = metrics.predict(arch, fit.theta.double().cpu(), where.points)
        raw = torch.maximum(values.amax(1) - seen.amax(1), seen.amin(1) - values.amin(1)).clamp(min=0)
        over[name] = torch.where(err[name].isfinite(), raw, torch.inf)
    least = torch.stack([over[n] for n in runs if n != "widened"]).amin(0)
    return {name: torch.maximum(err[name], over[name] - least) for name in runs}


def run(rule: str, seen: list[dict]) -> list[dict]:
    """The chain under ``rule`` ("candidates": the rule before; "data": the band, today's); its rows of
    results.csv."""
    today = portfolio.scores

    def scores(arch, runs, train_part, val_part, where=None):
        both = {"candidates": old_scores(arch, runs, train_part, val_part),
                "data": today(arch, runs, train_part, val_part, where)}  # fmt: skip
        for name in runs:
            seen.append({"rule": rule, "params": arch.size, "start": name,
                         "score_before": float(both["candidates"][name][0]),
                         "score_data": float(both["data"][name][0])})  # fmt: skip
        return both[rule]

    from experiments.cli import entry

    portfolio.scores, argv = scores, sys.argv
    try:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "c.toml").write_text(CONFIG)
            sys.argv = ["polylab", "rates", f"{tmp}/c.toml", "--out", f"{tmp}/out", "--threads", "1"]
            try:
                entry()
            except SystemExit as stop:  # the CLI exits when done
                if stop.code:
                    raise
            return [{"rule": rule, **r} for r in csv.DictReader(open(f"{tmp}/out/results.csv"))]
    finally:
        portfolio.scores, sys.argv = today, argv  # the provenance records this script's command


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="also write the rows, with provenance, here")
    args = p.parse_args()
    torch.set_num_threads(1)
    seen: list[dict] = []
    rows = [r for rule in ("candidates", "data") for r in run(rule, seen)]
    print(table(["rule", "P", "start", "score, bar from the candidates", "score, band from the data"],
                [[s["rule"], s["params"], s["start"], f"{s['score_before']:.2e}", f"{s['score_data']:.2e}"]
                 for s in seen]))  # fmt: skip
    print()
    print(table(["rule", "P", "chosen start", "sup error (test grid)"],
                [[r["rule"], r["params"], r["start"], f"{float(r['max_abs']):.2e}"] for r in rows]))  # fmt: skip
    if args.json:
        write_json(args.json, {"candidates": seen, "fits": rows, "provenance": provenance({"config": CONFIG})})


if __name__ == "__main__":
    main()
