"""The Triton kernels (approx/kernels/triton_kernels.py) against the float64 reference, on the CPU.

``TRITON_INTERPRET=1`` runs the same kernels in Triton's interpreter; it must be set before Triton
compiles anything, so the checks run in a child process. Marked ``triton``: they run wherever the
package is installed (``make test`` installs the ``gpu`` extra), and on the device with CUDA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from approx.activations.table import Activation
from approx.kernels import triton_kernels

REPO = Path(__file__).resolve().parents[2]

CHECK = r"""
import json, sys, torch
from approx.activations.functional import polynorm
from approx.kernels import triton_kernels as tk

def reference_polyrelu(x, a):
    t = torch.relu(x)
    return sum(a[..., i] * t**i for i in range(a.shape[-1]))

def worst(kernel, reference, x, a, dtype):
    # relative max error of y, dx and da, against float64 autograd of the reference
    xk, ak = x.to(dtype).requires_grad_(), a.float().requires_grad_()
    y = kernel(xk, ak)
    g = torch.randn(y.shape, dtype=torch.float64)
    y.backward(g.to(dtype))
    xr, ar = x.to(dtype).double().requires_grad_(), a.clone().requires_grad_()
    yr = reference(xr, ar)
    yr.backward(g.to(dtype).double())
    rel = lambda u, v: float((u.double() - v).abs().max() / v.abs().max().clamp_min(1))
    return max(rel(y, yr), rel(xk.grad, xr.grad), rel(ak.grad, ar.grad))

torch.manual_seed(0)
rows = []
for r in (1, 2, 3, 4):
    for G, N, F, per in ((1, 3, 5, False), (2, 3, 33, False), (3, 1, 7, True), (2, 5, 130, True)):
        x = torch.randn(G, N, F, dtype=torch.float64)
        a = torch.randn(G, 1, F if per else 1, r + 1, dtype=torch.float64)
        for dtype in (torch.float32, torch.bfloat16):
            err = worst(tk.polyrelu, reference_polyrelu, x, a, dtype)
            rows.append(["polyrelu", r, [G, N, F], per, str(dtype), err])
            if not per:
                rows.append(["polynorm", r, [G, N, F], per, str(dtype),
                             worst(tk.polynorm, lambda x, a: polynorm(x, a, 1e-6), x, a, dtype)])
# the check itself must see a wrong kernel: a coefficient off by 1e-3
x, a = torch.randn(2, 3, 9, dtype=torch.float64), torch.randn(2, 1, 1, 4, dtype=torch.float64)
off = a.clone(); off[..., 2] += 1e-3
mutant = worst(lambda x, b: tk.polyrelu(x, b + (off - a).float()), reference_polyrelu, x, a, torch.float32)
json.dump({"rows": rows, "mutant": mutant}, sys.stdout)
"""


@pytest.fixture(scope="module")
def interpreted():
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.triton
def test_kernels_match_the_float64_reference_at_small_and_odd_shapes(interpreted):
    """Outputs, input gradients and coefficient gradients, shared and per-feature, r = 1..4, fp32 and bf16."""
    tolerance = {"torch.float32": 1e-5, "torch.bfloat16": 2e-2}  # bf16 stores 8 mantissa bits
    bad = [row for row in interpreted["rows"] if not row[-1] <= tolerance[row[4]]]
    assert not bad, bad
    assert {row[0] for row in interpreted["rows"]} == {"polyrelu", "polynorm"}


@pytest.mark.triton
def test_the_comparison_catches_a_wrong_kernel(interpreted):
    assert interpreted["mutant"] > 1e-4


def test_auto_keeps_float64_and_the_cpu_on_the_other_kernels():
    """Triton is chosen for float32/bf16 on CUDA only; float64 keeps the eager forms' precision."""
    assert triton_kernels.suits(torch.zeros(1, dtype=torch.float32), 3)
    assert triton_kernels.suits(torch.zeros(1, dtype=torch.bfloat16), 4)
    assert not triton_kernels.suits(torch.zeros(1, dtype=torch.float64), 3)
    assert not triton_kernels.suits(torch.zeros(1, dtype=torch.float32), 5)
    h, a = torch.randn(2, 4, 6), torch.randn(2, 1, 1, 4)  # CPU float32: auto must not take Triton
    torch.testing.assert_close(Activation("polyrelu").apply(h, a), Activation("polyrelu", impl="eager").apply(h, a))


def test_impl_triton_without_a_device_is_one_clear_error():
    if triton_kernels.available(torch.zeros(1)):
        pytest.skip("Triton can run on this CPU tensor (TRITON_INTERPRET=1)")
    with pytest.raises((RuntimeError, ValueError), match="Triton"):
        triton_kernels.polyrelu(torch.randn(2, 3), torch.randn(4))


def test_impl_triton_on_a_family_without_a_kernel_is_refused():
    with pytest.raises(ValueError, match="no kernel for polynomial"):
        Activation("polynomial", impl="triton").apply(torch.randn(1, 2, 3), torch.randn(1, 1, 1, 4))
