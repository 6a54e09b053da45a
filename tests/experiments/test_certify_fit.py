"""``polylab fit --certify`` and ``experiments.certify_fit``: a trained network's certified sup error."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

import approx
from experiments import certify_fit


@pytest.mark.parametrize("activation, depth", [("relu", 2), ("polyrelu", 1), ("polyrelu", 2), ("relu2", 3)])
def test_the_certified_interval_holds_the_trained_networks_error_on_a_fine_grid(activation, depth):
    fit = approx.fit("abs(x0-3/10)**(5/2)", d=1, activation=activation, params=40, depth=depth, progress=False)
    sup = certify_fit.certify(fit)
    x = torch.linspace(0, 1, 20001, dtype=torch.float64)[:, None]
    f = torch.abs(x[:, 0] - 0.3) ** 2.5 / fit.target_scale
    sampled = float((f - fit.module(x).detach()).abs().max())
    assert sampled <= float(sup.upper) * (1 + 1e-9) and float(sup.upper) <= float(sup.lower) * 1.01
    assert np.isclose(float(sup.lower), fit.sup_error, rtol=0.05)  # the held-out grid is close, not above


@pytest.mark.parametrize(
    "args, message",
    [
        (("fourier", "--d", "2"), "a target with an exact expression, got fourier_n1_d2_s0"),
        (("runge",), "a target with an exact expression, got runge"),
        (("x0**2", "--activation", "polycom"), "any depth; not polycom"),
        (("sqrt(x0)", "--activation", "relu"), "--certify: target 'sqrt\\(x0\\)' is not certified"),
    ],
)
def test_what_cannot_be_certified_is_one_line(polylab_in_process, args, message):
    code, _, err = polylab_in_process("fit", *args, "--params", "20", "--certify", "--quiet")
    assert code == 2 and err.count("\n") == 1, err
    assert re.search(message, err), err


def test_the_cli_prints_and_records_the_interval(polylab_in_process, tmp_path):
    """The issue's command: PolyReLU at the default depth on a kinked target."""
    out = tmp_path / "fit.json"
    code, printed, err = polylab_in_process(
        "fit",
        "abs(x0-3/10)**(5/2)",
        "--activation",
        "polyrelu",
        "--params",
        "30",
        "--certify",
        "--quiet",
        "--json",
        str(out),
    )
    assert code == 0, err
    assert "certified sup error in [" in printed
    row = json.loads(out.read_text())["results"][0]
    assert row["certified_lower"] <= row["certified_upper"] and row["pieces"] >= 1


def test_a_2d_fit_is_certified_by_branch_and_bound(polylab_in_process):
    code, printed, err = polylab_in_process(
        "fit", "x0*x1", "--d", "2", "--activation", "polyrelu", "--params", "30", "--certify", "--quiet"
    )
    assert code == 0, err
    assert re.search(r"certified sup error in \[.*boxes, gap [0-9.]+%", printed), printed
