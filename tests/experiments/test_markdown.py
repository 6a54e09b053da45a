"""The one Markdown table writer, and a report that uses it."""

from experiments.bench import precision
from experiments.markdown import table


def test_table_has_a_header_a_rule_and_one_line_a_row():
    text = table(["a", "b"], [[1, "x"], [2.5, None]])
    assert text.splitlines() == ["| a | b |", "| --- | --- |", "| 1 | x |", "| 2.5 | None |"]


def test_the_precision_report_builds_its_tables_with_it():
    data = {
        "rows": [{"activation": "tanh", "size": 100, "target": "bump", "engine": 1e-6, "torch": 1e-3}],
        "median_ratio": {"tanh|100": 1000.0},
        "lm_rate": {"params": 1, "points": 2, "models": 3, "gflops": 1.0, "fraction": 0.5, "matmul_gflops": 2.0},
    }
    lines = precision.markdown(data).splitlines()
    assert lines[:3] == [
        "| target | P | tanh engine / torch |",
        "| --- | --- | --- |",
        "| bump | 100 | 1.0e-06 / 1.0e-03 |",
    ]
    assert "| 100 | 1e+03× met |" in lines
