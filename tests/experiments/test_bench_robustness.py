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
