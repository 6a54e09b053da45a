"""The polylab CLI: help everywhere, one-line user errors, not-built commands exit 2."""

import pytest
from conftest import run_polylab as polylab

from experiments import cli


@pytest.mark.parametrize("command", [None, *cli.COMMANDS])
def test_help_everywhere(command):
    out = polylab(*([command] if command else []), "--help")
    assert out.returncode == 0 and "usage: polylab" in out.stdout


def test_activations_plot(tmp_path):
    fig = tmp_path / "family.png"
    out = polylab("activations", "--plot", str(fig))
    assert out.returncode == 0, out.stderr
    assert "PolyNorm" in out.stdout and fig.stat().st_size > 10_000


def test_user_error_is_one_line(tmp_path):
    out = polylab("activations", "--plot", str(tmp_path / "fig.nosuchformat"))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "error:" in out.stderr


def test_demo(tmp_path):
    out = polylab("demo", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "activations.png").exists()
