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


@pytest.mark.slow
def test_demo(tmp_path):
    out = polylab("demo", "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "activations.png").exists()


def test_demo_on_a_smaller_rates_preset(tmp_path, monkeypatch, capsys):
    """test_demo's faster twin: every section of the demo, with the quick preset cut to one size and seed."""
    import tomllib

    from experiments.commands import demo
    from experiments.rates import config

    def smaller(path):
        text = (
            path.read_text().replace("sizes = [50, 150, 450]", "sizes = [50]").replace("seeds = [0, 1]", "seeds = [0]")
        )
        assert text != path.read_text()
        return config.from_dict(tomllib.loads(text), text)

    monkeypatch.setattr(config, "load", smaller)
    assert demo._demo(tmp_path) == 0
    shown = capsys.readouterr().out
    assert "hold" in shown and "fits in" in shown and "val loss" in shown
    for name in ("activations.png", "theorem3_rate.png", "rates/figures/rates.png", "lm_tiny/report.md"):
        assert (tmp_path / name).exists(), name
