"""What only a GPU can check: fits on CUDA agree with CPU fits, an LM and MoE step, the Triton kernels.

Marked ``cuda`` and skipped without CUDA; ``benchmarks/gpu/run.sh`` runs them on the device. The same
logic is tested on the CPU elsewhere (device threading, dtype choices, the kernels in Triton's
interpreter: tests/approx/test_triton_kernels.py).
"""

from __future__ import annotations

import pytest
import torch

import approx
from approx.activations.table import Activation

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
]


@pytest.mark.parametrize("activation", ["relu", "polyrelu", "polynorm", "gelu"])
def test_a_cuda_fit_agrees_with_the_cpu_fit(activation):
    """Same seed, same points, float64: the two runs differ only by reduction order, so the errors agree to 10%."""
    kw = dict(d=1, activation=activation, params=120, depth=1, init="uniform", progress=False)
    cpu = approx.fit("sin(3*x0)", device="cpu", **kw)
    gpu = approx.fit("sin(3*x0)", device="cuda", **kw)
    assert gpu.sup_error == pytest.approx(cpu.sup_error, rel=0.1, abs=1e-8)


@pytest.mark.parametrize("name", ["polyrelu", "polynorm"])
def test_auto_takes_triton_for_float32_on_cuda_and_matches_eager(name):
    h = torch.randn(3, 257, 129, device="cuda", requires_grad=True)
    a = torch.randn(3, 1, 1, 4, device="cuda", requires_grad=True)
    auto, eager = Activation(name), Activation(name, impl="eager")
    torch.testing.assert_close(auto.apply(h, a), eager.apply(h, a), rtol=1e-5, atol=1e-5)
    ga = torch.autograd.grad(auto.apply(h, a).square().sum(), (h, a))
    ge = torch.autograd.grad(eager.apply(h, a).square().sum(), (h, a))
    for u, v in zip(ga, ge, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("preset", ["tiny", "moe_cpu"])
def test_an_lm_and_moe_step_on_cuda(tmp_path, preset):
    from experiments.cli import main

    assert main(["lm", preset, "--out", str(tmp_path / "lm"), "--device", "cuda"]) == 0
