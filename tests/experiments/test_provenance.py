"""experiments.provenance: the command a result file records is one a user can run again."""

import sys

import pytest

from experiments import provenance


@pytest.mark.parametrize(
    "argv, command",
    [
        (["/x/.venv/bin/polylab", "rates", "c.toml"], "polylab rates c.toml"),
        (["benchmarks/pykan_toy.py", "--json", "f.json"], ".venv/bin/python benchmarks/pykan_toy.py --json f.json"),
    ],
)
def test_the_recorded_command_names_the_cli_or_the_script(monkeypatch, argv, command):
    monkeypatch.setattr(sys, "argv", argv)
    assert provenance.provenance()["command"] == command
    assert provenance.provenance(command="given")["command"] == "given"
