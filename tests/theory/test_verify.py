"""``polylab verify``: certificates hold, the JSON is complete, and a broken construction makes it fail."""

import json
import re
import subprocess
import sys
from fractions import Fraction as F

import pytest

from experiments import cli
from theory import certificate, lemma1, theorem1
from theory.activation import polyrelu
from theory.network import Network


def test_verify_lemma1_theorem1_json(tmp_path, capsys):
    out = tmp_path / "out.json"
    assert cli.main(["verify", "--only", "lemma1,theorem1", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "lemma1/relu/shared" in printed and "theorem1/relu-deep-wide" in printed and " NO " not in printed
    data = json.loads(out.read_text())
    certs = data["certificates"]
    assert data["summary"]["failed"] == 0 and data["summary"]["certificates"] == len(certs) > 20
    assert {c["group"] for c in certs} == {"lemma1", "theorem1"}
    for c in certs:
        assert c["holds"] is True and c["seconds"] >= 0 and c["statement"] and c["method"]
    sized = [c for c in certs if c["name"].startswith("theorem1/")]
    assert all({"source", "target", "factor m"} <= set(c["sizes"]) for c in sized)
    assert all("neurons" in c["sizes"] for c in certs if c["name"].startswith("lemma1/x^"))
    assert data["provenance"]["git_commit"] and data["provenance"]["versions"]["sympy"]


def test_broken_lemma1_construction_fails_verify(monkeypatch, capsys):
    original = lemma1.polynomial_network
    monkeypatch.setattr(lemma1, "polynomial_network", lambda *a, **k: original(*a, **k).perturbed(1, 0, 0, F(1, 1000)))
    assert cli.main(["verify", "--only", "lemma1"]) == 1
    printed = capsys.readouterr().out
    assert "lemma1/polynomial/per-neuron" in printed and "FAILS" in printed and "NOT 0" in printed


def test_broken_theorem1_conversion_fails_verify(monkeypatch, capsys):
    original = theorem1.to_polyrelu

    def broken(net, r=3, shared=None):
        conv = original(net, r, shared)
        acts = [list(layer) for layer in conv.target.activations]
        acts[0][0] = polyrelu([0, 1, F(1, 1000), 0])  # one coefficient of one neuron off by 1/1000
        return theorem1.Conversion(conv.source, Network(conv.target.affines, acts), conv.factor, r)

    monkeypatch.setattr(theorem1, "to_polyrelu", broken)
    assert cli.main(["verify", "--only", "theorem1"]) == 1
    printed = capsys.readouterr().out
    assert re.search(r"\n0/\d+ certificates hold", printed)  # every conversion certificate sees the flipped coefficient


def test_a_crashing_check_is_a_failure():
    c = certificate.certify("x", "s", "m", lambda: 1 / 0)
    assert not c.holds and "ZeroDivisionError" in c.details


@pytest.mark.parametrize("args", [["--only", "lemma9"], ["--only", ","], ["--only", "lemma1,nope"]])
def test_bad_group_is_a_one_line_error(args, capsys):
    assert cli.main(["verify", *args]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("polylab verify: error:")


def test_bad_group_from_the_shell():
    out = subprocess.run(
        [sys.executable, "-m", "experiments", "verify", "--only", "lemma9"], capture_output=True, text=True
    )
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "polylab verify: error: unknown certificate group 'lemma9'; valid: " + ", ".join(certificate.GROUPS)
    ]


def test_list_groups(capsys):
    assert cli.main(["verify", "--list"]) == 0
    assert "lemma1" in capsys.readouterr().out


def test_a_group_that_crashes_is_reported_as_failed(monkeypatch, capsys):
    monkeypatch.setitem(certificate.GROUPS, "lemma1", "theory.lemma1:no_such_function")
    assert cli.main(["verify", "--only", "lemma1"]) == 1
    assert "lemma1/group" in capsys.readouterr().out


def test_verify_from_python_returns_or_raises(monkeypatch):
    assert all(c.holds for c in certificate.verify("lemma1"))
    monkeypatch.setitem(certificate.GROUPS, "lemma1", "theory.lemma1:no_such_function")
    with pytest.raises(AssertionError, match="lemma1/group"):
        certificate.verify("lemma1")
