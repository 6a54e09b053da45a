"""The robustness benchmark's design (experiments/bench/robustness.py): the cells fixed before any tuning."""

from __future__ import annotations

import json
from collections import Counter

from conftest import REPO

from experiments.bench import robustness


def test_the_design_is_the_one_fixed_before_tuning():
    every = robustness.cells(role="all")
    assert len({c.key for c in every}) == len(every) == 296
    for d in robustness.DIMS:  # four targets per dimension, half of them held out
        assert Counter(c.role for c in robustness.CASES if c.d == d) == {"tuning": 2, "held-out": 2}
    small = robustness.cells(role="all", sizes="small")
    assert len(small) == 3 * 3 * len(robustness.ACTIVATIONS) * 4 and {c.params for c in small} == {robustness.SMALL}


def test_the_large_subset_is_the_one_committed_on_budgets():
    large = robustness.cells(role="all", sizes="large")
    committed = json.loads((REPO / "benchmarks" / "robustness" / "p3000_budgets.json").read_text())
    assert sorted(c.key for c in large) == sorted(c["key"] for c in committed["cells"])
    assert Counter(c.case.role for c in large) == {"tuning": 4, "held-out": 4}
    assert robustness.cells(role="held-out", sizes="large") == [c for c in large if c.case.role == "held-out"]


def test_the_quick_subset_has_no_large_cells(polylab_in_process, tmp_path):
    code, _, err = polylab_in_process("bench", "robustness", "--quick", "--sizes", "large", "--out", tmp_path / "r")
    assert code == 2 and "no cells" in err and err.count("\n") == 1, err


def _fake_cell(cell: robustness.Cell) -> dict:
    """A stand-in for run_cell (module level, so that a spawned worker can import it)."""
    return {"key": cell.key, "fake": True}


def test_a_resumed_run_of_one_size_keeps_every_other_cell_and_reruns_none():
    committed = json.loads((REPO / "benchmarks" / "robustness" / "robustness.json").read_text())["cells"]
    large = [c.key for c in robustness.cells(role="all", sizes="large")]
    missing = {large[0], large[-1]}  # as if a kill had ended the run before these two
    done = {r["key"]: r for r in committed if r["key"] not in missing}
    saves = []
    out = robustness.run(
        robustness.cells(role="all", sizes="large"),
        dict(done),
        lambda rows: saves.append(len(rows)),
        workers=1,
        progress=False,
        worker=_fake_cell,
    )
    assert {k for k, r in out.items() if r.get("fake")} == missing  # only the two, each once
    assert {k: r for k, r in out.items() if k not in missing} == done  # the P ≈ 300 cells stay too
    assert saves == [len(done) + 1, len(done) + 2]  # saved after each cell, never losing one
