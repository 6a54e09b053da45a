"""``polylab bench kernels``: what it measures is measured right (the timings themselves are benchmarks)."""

from __future__ import annotations

import json

import pytest
import torch

from experiments.bench import kernels


def test_fused_forms_save_only_the_input_and_the_reference_saves_more():
    """The eager PolyNorm keeps x (and per-row statistics); autograd of the formula keeps every power."""
    impls = kernels.implementations("cpu")["polynorm"]
    x = torch.randn(1, 256, 64, requires_grad=True)
    a = torch.full((1, 1, 1, 4), 1 / 3, requires_grad=True)
    eager, reference = (kernels.saved_bytes(impls[k], x, a) for k in ("eager", "reference"))
    assert x.numel() * 4 <= eager < reference
    assert kernels.saved_bytes(impls["copy"], x, a) == 0  # clone's backward needs nothing


def test_the_cli_writes_every_impl_with_provenance(tmp_path, polylab_in_process):
    out = tmp_path / "k.json"
    code, _, err = polylab_in_process(
        "bench", "kernels", "--shapes", "8x5", "--dtypes", "float32", "--repeats", "1", "--json", str(out)
    )
    assert code == 0, err
    data = json.loads(out.read_text())
    assert {r["impl"] for r in data["rows"]} >= {"reference", "eager", "compile", "checkpointed", "copy"}
    assert data["provenance"]["git_commit"]


@pytest.mark.parametrize("shape", ["8", "0x4", "axb", "8x99999999"])
def test_bad_shapes_are_one_line(polylab_in_process, shape):
    code, _, err = polylab_in_process("bench", "kernels", "--shapes", shape)
    assert code == 2 and err.count("\n") == 1 and "shape" in err
