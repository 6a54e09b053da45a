"""benchmarks/paper_goals.py counts what a study's summary.json says, goal by goal."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import REPO


def fit(activation: str, target: str, slope: float | None, rising: list | None = None) -> dict:
    return {"activation": activation, "target": target, "slope": slope, "theory_slope": -2.0, "rising": rising or []}


def test_the_goal_counts_follow_the_slopes_floors_and_steps(tmp_path):
    step = {"from": 100, "to": 250, "before": 1e-3, "after": 2e-3}
    summary = {
        "config": "mini",
        "fits": [
            fit("polyrelu_r3", "a", -1.4),  # 70%: meets PolyReLU's share exactly
            fit("polyrelu_r3", "b", -1.38),  # 69%: does not
            fit("gelu", "a", -1.0),
            fit("gelu", "b", 0.2, [step]),  # rises: a positive slope and one step
            fit("polynomial_r3", "a", None),  # at its floor
        ],
        "against_chebyshev": {"a": [{"ratio": 0.5}, {"ratio": 10.0}, {"ratio": 12.0}]},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    out = subprocess.run(
        [sys.executable, "benchmarks/paper_goals.py", str(tmp_path), "--json", str(tmp_path / "g.json")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    g = json.loads((tmp_path / "g.json").read_text())["mini"]
    assert (g["series"]["polyrelu_r3"]["met"], g["series"]["polyrelu_r3"]["needed"]) == (1, 2)  # 4/5 of 2 targets
    assert (g["series"]["gelu"]["met"], g["series"]["gelu"]["needed"]) == (1, 2)
    assert g["series"]["polynomial_r3"]["met"] is None and g["at_floor"] == [["polynomial_r3", "a"]]
    assert g["positive_slopes"] == [["gelu", "b"]] and g["rising"] == [{"series": "gelu", "target": "b", **step}]
    assert g["chebyshev"] == {"within": 2, "sizes": 3, "range": [0.5, 12.0]}
    assert "1 of 2 at ≥ 70% (goal: 2)" in out and "rising steps by > 10% off the floors: 1" in out
