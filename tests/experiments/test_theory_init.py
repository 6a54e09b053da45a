"""Training from the Theorem 3 construction (experiments/bench/theory_init.py)."""

from experiments.bench import theory_init as TI


def test_the_benchmark_row_is_consistent_and_training_lowers_the_construction_error():
    r = TI.compare("sin(pi*x0)", 1, 2, 4, adam=30, lbfgs=60)
    assert r["construction"] <= r["bound"]  # the certified bound holds for the exported float network
    assert r["readout_solved"] < r["construction"]  # a least-squares readout beats the Taylor one
    assert r["trained_from_construction"] < r["readout_solved"]
    assert r["points"] == 8 * r["nonzero_parameters"] and r["trained_from_random"] > 0


def test_the_relu_twin_row_holds_its_bound():
    r = TI.compare("sin(pi*x0)", 1, 2, 3, init="theorem3-relu", adam=5, lbfgs=5)
    assert r["construction"] <= r["bound"] and r["init"] == "theorem3-relu"
