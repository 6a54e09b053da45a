"""Fused activation kernels: the C kernels (approx.kernels.native_kernels) and the eager forms they fall back to
(approx.kernels.fused_horner, approx.kernels.fused_polynorm) equal the library's autograd forms (approx.activations) in
values and gradients, and pass gradcheck in float64."""

import platform
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from approx import activations as A
from approx.fitting.models import Activation, Architecture
from approx.kernels import fused_polynorm, native_kernels

native = pytest.mark.skipif(native_kernels.library() is None, reason="no C compiler: the eager forms are used")


def _library_polynorm(x, a):
    return A.polynorm(x, a, 1e-6, dim=-1)


def _inputs(seed, M, N, w, order, per_neuron, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, N, w, generator=g, dtype=dtype).requires_grad_(True)
    a = torch.randn(M, 1, w if per_neuron else 1, order + 1, generator=g, dtype=dtype).requires_grad_(True)
    up = torch.randn(M, N, w, generator=g, dtype=dtype)
    return x, a, up


def _assert_same(fn, ref, x, a, up, rtol=1e-12):
    y, y_ref = fn(x, a), ref(x, a)
    torch.testing.assert_close(y, y_ref, rtol=rtol, atol=rtol)
    inputs = (x,) if a is None else (x, a)
    for got, want in zip(torch.autograd.grad(y, inputs, up), torch.autograd.grad(y_ref, inputs, up), strict=True):
        torch.testing.assert_close(got, want, rtol=rtol, atol=rtol * max(1.0, want.abs().max().item()))


@native
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    M=st.integers(1, 4),
    N=st.integers(1, 9),
    w=st.integers(1, 12),
    order=st.sampled_from([1, 2, 3, 4, 5, 8, 11]),
    per_neuron=st.booleans(),
    relu=st.booleans(),
)
def test_native_horner_equals_the_library_form(seed, M, N, w, order, per_neuron, relu):
    """Orders 1-8 run the unrolled C cases, 11 the generic loop; shared and per-neuron coefficients."""
    x, a, up = _inputs(seed, M, N, w, order, per_neuron)
    ref = A.polyrelu if relu else A.horner
    _assert_same(lambda x, a: native_kernels.horner(x, a, relu=relu), ref, x, a, up)


@native
@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    M=st.integers(1, 4),
    N=st.integers(1, 9),
    w=st.integers(1, 12),
    order=st.sampled_from([1, 2, 3, 4, 6, 10]),
)
def test_native_polynorm_equals_the_library_form(seed, M, N, w, order):
    x, a, up = _inputs(seed, M, N, w, order, per_neuron=False)
    _assert_same(native_kernels.polynorm, _library_polynorm, x, a, up, rtol=1e-10)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10**6), M=st.integers(1, 3), N=st.integers(1, 7), w=st.integers(1, 9), order=st.integers(1, 5)
)
def test_eager_polynorm_equals_the_library_form(seed, M, N, w, order):
    """approx.kernels.fused_polynorm: the hand-derived backward (the fallback and the CUDA path)."""
    x, a, up = _inputs(seed, M, N, w, order, per_neuron=False)
    _assert_same(fused_polynorm.polynorm, _library_polynorm, x, a, up, rtol=1e-10)


@pytest.mark.parametrize("kind", ["polynorm", "polyrelu", "polynomial", "polyrelu_per_neuron"])
@pytest.mark.parametrize("use_native", [True, False])
def test_gradcheck(kind, use_native, monkeypatch):
    if use_native and native_kernels.library() is None:
        pytest.skip("no C compiler")
    if not use_native:
        monkeypatch.setenv("POLYLAB_NATIVE", "0")
    x, a, _ = _inputs(3, 2, 4, 5, 3, per_neuron=kind.endswith("per_neuron"))
    fn = {
        "polynorm": native_kernels.polynorm,
        "polyrelu": lambda x, a: native_kernels.horner(x, a, relu=True),
        "polyrelu_per_neuron": lambda x, a: native_kernels.horner(x, a, relu=True),
        "polynomial": native_kernels.horner,
    }[kind]
    assert torch.autograd.gradcheck(fn, (x, a))


@native
def test_a_wrong_kernel_is_caught(monkeypatch):
    """The comparison above fails on a kernel that is off by one coefficient: it can see a bug."""
    x, a, up = _inputs(0, 2, 5, 4, 3, per_neuron=False)
    wrong = lambda x, a: native_kernels.horner(x, a + torch.tensor([0, 0, 0, 1e-9], dtype=a.dtype), relu=True)  # noqa: E731
    with pytest.raises(AssertionError):
        _assert_same(wrong, A.polyrelu, x, a, up)


def test_fallbacks_give_the_same_values(monkeypatch):
    """float32, non-contiguous input and POLYLAB_NATIVE=0 take the eager forms; values agree."""
    x, a, _ = _inputs(1, 2, 3, 4, 3, per_neuron=False)
    y = native_kernels.horner(x, a, relu=True)
    y32 = native_kernels.horner(x.float(), a.float(), relu=True)
    torch.testing.assert_close(y32, y.float(), rtol=1e-5, atol=1e-5)
    xt = x.detach().transpose(1, 2).contiguous().transpose(1, 2)  # same values, not contiguous
    torch.testing.assert_close(native_kernels.polynorm(xt, a), native_kernels.polynorm(x, a))
    monkeypatch.setenv("POLYLAB_NATIVE", "0")
    assert native_kernels.library() is None
    torch.testing.assert_close(native_kernels.horner(x, a, relu=True), y, rtol=1e-14, atol=1e-15)


@native
@pytest.mark.parametrize(
    "act", [Activation("polynomial"), Activation("polyrelu", coefficients="per_neuron"), Activation("polynorm")]
)
def test_stacked_network_same_with_and_without_native_kernels(act, monkeypatch):
    arch = Architecture(2, 7, 2, act)
    theta = arch.init([0, 1, 2]) + 0.2
    theta.requires_grad_(True)
    x = torch.rand(3, 13, 2, dtype=torch.float64)
    out = arch.forward(theta, x)
    (grad,) = torch.autograd.grad(out.square().sum(), theta)
    monkeypatch.setenv("POLYLAB_NATIVE", "0")
    out0 = arch.forward(theta, x)
    (grad0,) = torch.autograd.grad(out0.square().sum(), theta)
    torch.testing.assert_close(out, out0, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(grad, grad0, rtol=1e-11, atol=1e-12)


def test_build_failure_falls_back_with_a_warning(monkeypatch):
    monkeypatch.setattr(native_kernels, "_LIB", {})
    monkeypatch.setenv("CC", "/nonexistent/cc")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.warns(RuntimeWarning, match="native kernels unavailable"):
        assert native_kernels.library() is None
    x, a, _ = _inputs(2, 1, 3, 4, 2, per_neuron=True)
    torch.testing.assert_close(native_kernels.horner(x, a), A.horner(x, a), rtol=1e-13, atol=1e-14)


def test_keep_freed_memory_takes_effect_on_linux():
    code = "from approx.kernels.cpu_memory import keep_freed_memory as k; print(k(), k())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    on_glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert out == (["True", "True"] if on_glibc else ["False", "False"])


@pytest.mark.skipif(not hasattr(native_kernels.library(), "gelu_fwd"), reason="no libmvec: torch's GELU is used")
def test_native_gelu_equals_torch():
    x = (4 * torch.randn(3, 50, 7, dtype=torch.float64)).requires_grad_(True)
    up = torch.randn(3, 50, 7, dtype=torch.float64)
    _assert_same(lambda x, a: native_kernels.gelu(x), lambda x, a: torch.nn.functional.gelu(x), x, None, up)
    assert torch.autograd.gradcheck(native_kernels.gelu, (x[:1, :5],))


@native
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_native_kernels_split_over_threads(threads):
    """Above the parallel threshold (32768 elements) rows are shared out over OpenMP threads, each
    thread with its own ∂L/∂a buffer; the results must not depend on the thread count."""
    from approx.fitting.plans import intra_op_threads

    M, N, w = 3, 150, 80  # 36000 elements; 150 rows per model is not a multiple of the 16-row block
    with intra_op_threads(threads):
        for per_neuron in (False, True):
            x, a, up = _inputs(5, M, N, w, 3, per_neuron)
            _assert_same(lambda x, a: native_kernels.horner(x, a, relu=True), A.polyrelu, x, a, up)
        x, a, up = _inputs(6, M, N, w, 3, per_neuron=False)
        _assert_same(native_kernels.polynorm, _library_polynorm, x, a, up, rtol=1e-10)
        if hasattr(native_kernels.library(), "gelu_fwd"):
            gelu = torch.nn.functional.gelu
            _assert_same(lambda x, a: native_kernels.gelu(x), lambda x, a: gelu(x), x, None, up)


def test_a_failed_optional_build_falls_back_to_the_next(monkeypatch):
    """No libmvec (here: a library that does not exist): the kernels build without GELU, GELU is torch's."""
    if native_kernels.library() is None:
        pytest.skip("no C compiler")
    monkeypatch.setattr(native_kernels, "_LIB", {})
    monkeypatch.setattr(native_kernels, "OPTIONAL_FLAGS", (["-DPOLYLAB_GELU", "-lpolylab_missing"], []))
    lib = native_kernels.library()
    assert lib is not None and not hasattr(lib, "gelu_fwd")
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(native_kernels.gelu(x), torch.nn.functional.gelu(x), rtol=0, atol=0)
    _, a, _ = _inputs(0, 2, 3, 4, 2, per_neuron=False)
    torch.testing.assert_close(native_kernels.horner(x, a), A.horner(x, a), rtol=1e-13, atol=1e-14)
