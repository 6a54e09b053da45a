"""``polylab bench certify`` on its one-cell smoke run: the row is complete and IBP bounds from above."""

from experiments.bench import certify


def test_the_quick_cell_certifies_and_ibp_is_an_upper_bound():
    (row,) = certify.run(*certify.QUICK)
    assert row["certified_lower"] <= row["certified_upper"] <= row["certified_lower"] * 1.01
    assert row["ibp_upper"] >= row["certified_lower"]  # IBP encloses the true sup, loosely
    assert row["grid_estimate"] <= row["certified_upper"] * (1 + 1e-9)


def test_a_2d_cell_runs_branch_and_bound_and_ibp_bounds_from_above():
    (row,) = certify.run((("relu", 1),), (40,), d=2)
    assert row["certified_lower"] <= row["certified_upper"] and len(row["witness"]) == 2
    assert row["ibp_upper"] >= row["certified_lower"] and row["grid_estimate"] <= row["certified_upper"] * (1 + 1e-9)


def test_an_unknown_activation_is_one_line(polylab_in_process):
    code, _, err = polylab_in_process("bench", "certify", "--activations", "relu,nope")
    assert code == 2 and err.count("\n") == 1 and "unknown nope" in err, err
