"""experiments/rates/report.py on hand-made rows: the rising steps it lists and its Chebyshev ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from approx.fitting import chebyshev, targets
from approx.fitting.targets import dense_grid
from experiments.rates import report, summary


def row(target: str, activation: str, size: int, error: float, seed: int = 0, d: int = 1) -> dict[str, str]:
    return {
        "target": target,
        "d": str(d),
        "n": "2",
        "activation": activation,
        "status": "ok",
        "size_target": str(size),
        "params": str(size + 1),
        "seed": str(seed),
        "max_abs": repr(error),
        "rmse": repr(error / 3),
        "train_rmse": repr(error / 4),
    }


def test_the_summary_lists_each_rise_of_a_best_error_with_size():
    rows = [row("t", "gelu", p, e, s) for p, e, s in [(100, 1e-3, 0), (100, 9e-4, 1), (250, 2e-3, 0), (630, 5e-4, 0)]]
    rows += [row("t", "relu", p, e) for p, e in [(100, 1e-3), (250, 5e-4), (630, 5.4e-4)]]  # +8%: within 10%
    fits = {f["activation"]: f for f in summary.summarize(rows, boot=10)}
    assert fits["gelu"]["rising"] == [{"from": 101, "to": 251, "before": 9e-4, "after": 2e-3}]
    assert fits["relu"]["rising"] == []
    whole = {"config": "t", "metric": "max_abs", "rows": 7, "diverged": 0, "fits": list(fits.values())}
    text = report.report(Path("."), whole, [])
    assert "more than 10%: 1." in text and "- t, gelu: 101 → 251 parameters, 9.00e-04 → 2.00e-03 (×2.22)" in text
    assert report.headline(whole) == "7 fits, 2 rate fits, rising steps (> 10%): 1"


def test_chebyshev_ratios_set_each_sizes_best_network_against_as_many_coefficients():
    t = targets.abs_power(n=2, d=1)
    rows = [row(t.name, "relu", 20, 3e-3), row(t.name, "gelu", 20, 2e-3), row(t.name, "gelu", 40, 1e-4)]
    rows += [row("plane", "relu", 20, 1e-3, d=2)]  # 2-D: no reference
    ratios = summary.against_chebyshev({t.name: t, "plane": targets.abs_power(n=2, d=2)}, rows, "max_abs", 2048)
    reference = chebyshev.interpolation_errors(t, [21, 41], dense_grid(1, 2048))
    assert list(ratios) == [t.name]
    assert [(c["series"], c["params"]) for c in ratios[t.name]] == [("gelu", 21), ("gelu", 41)]
    for c, ref, e in zip(ratios[t.name], reference, (2e-3, 1e-4), strict=True):
        assert c["chebyshev"] == ref["max_abs"] and c["ratio"] == pytest.approx(e / ref["max_abs"], rel=1e-15)
    assert summary.against_chebyshev({t.name: t}, rows, "rel_max") == {}
