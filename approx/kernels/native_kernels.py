"""Fused CPU kernels (C, loaded with ctypes) for stacked PolyNorm, PolyReLU, polynomial and GELU activations.

The eager forms (approx.kernels.fused_horner, approx.kernels.fused_polynorm) cut autograd's passes over the
(M, N, width) activations to ~4r, but each pass still streams the tensor through memory.
``native_kernels.c`` evaluates the same formulas element by element (a row at a time for PolyNorm):
one read and one write of each tensor per forward or backward, 2.4-4.4x faster than the eager
forms (benchmarks/RESULTS.md). GELU's forward also writes its derivative (glibc's vector erf and
exp), so its backward is one multiply where torch's evaluates erf and exp a second time. The tests
compare each kernel with the autograd form to float64 rounding and gradcheck both.

The C file is compiled once per process (``cc -O3 -march=native -fopenmp``, about 2 s) and loaded
from a temporary directory that is removed at once. Its OpenMP binds to the libgomp torch has
loaded, so the kernels share torch's threads and follow ``torch.set_num_threads`` (Python threads
measured slower: they fight torch's spinning OpenMP workers for the cores). Without a C compiler,
with ``POLYLAB_NATIVE=0``, or for tensors that are not float64 CPU tensors in the stacked layout,
:func:`polynorm` and :func:`horner` use the eager forms, which are also the CUDA path.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from approx.interrupts import interrupts_held
from approx.kernels import fused_horner, fused_polynorm

SOURCE = Path(__file__).with_name("native_kernels.c")
# -fassociative-math & co. let the row sums vectorise (summation order only; no other fast-math)
FLAGS = [
    "-O3",
    "-march=native",
    "-fPIC",
    "-shared",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fassociative-math",
    "-fno-signed-zeros",
]
# tried in turn: OpenMP threads (torch's libgomp) and GELU (glibc's libmvec), OpenMP only, neither
OPTIONAL_FLAGS: tuple[list[str], ...] = (["-fopenmp", "-DPOLYLAB_GELU", "-lmvec"], ["-fopenmp"], [])
MAX_ORDER = 16  # MAXR in the C file
PR_SET_PDEATHSIG = 1  # prctl(2)

_LIB: dict[str, ctypes.CDLL | None] = {}


def _die_with_parent() -> None:
    """In the compiler's process, before exec: SIGKILL it when the lab's process dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _compile(compiler: str, out: str, extra: list[str]) -> None:
    # -pipe: no intermediate files that a killed build would leave behind
    cmd = [compiler, *FLAGS, "-pipe", *extra, "-o", out, str(SOURCE), "-lm"]
    with interrupts_held():  # a Ctrl-C in the fork's hooks would be lost
        subprocess.run(cmd, check=True, capture_output=True, text=True, preexec_fn=_die_with_parent)


def _build() -> ctypes.CDLL:
    compiler = next(filter(None, map(shutil.which, (os.environ.get("CC", "cc"), "gcc", "clang"))), None)
    if compiler is None:
        raise OSError("no C compiler (cc, gcc or clang) on PATH")
    if hasattr(os, "memfd_create"):  # an anonymous in-memory file: nothing on disk to leave behind
        # the fd stays open: dlopen matches a loaded library by its path, and a reused fd number would
        # hand back the previous build
        fd = os.memfd_create("polylab-native-kernels")
        return _configure(_compile_and_load(compiler, f"/proc/{os.getpid()}/fd/{fd}"))
    tmp = tempfile.mkdtemp(prefix="polylab-native-")
    try:
        return _configure(_compile_and_load(compiler, str(Path(tmp) / "native_kernels.so")))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _compile_and_load(compiler: str, out: str) -> ctypes.CDLL:
    for extra in OPTIONAL_FLAGS:
        try:
            _compile(compiler, out, extra)
            break
        except subprocess.CalledProcessError:
            if not extra:  # even the plain build failed
                raise
    return ctypes.CDLL(out)  # stays mapped after the file is closed or removed


def _configure(lib: ctypes.CDLL) -> ctypes.CDLL:
    P, L, I = ctypes.c_void_p, ctypes.c_long, ctypes.c_int  # noqa: E741
    lib.polynorm_fwd.argtypes = [P, P, P, P, L, L, I, ctypes.c_double, L]
    lib.polynorm_bwd.argtypes = [P, P, P, P, P, L, L, I, P, L]
    lib.horner_fwd.argtypes = [P, P, P, L, L, I, I, I, I, L]
    lib.horner_bwd.argtypes = [P, P, P, P, L, L, I, I, I, I, P, L]
    if hasattr(lib, "gelu_fwd"):
        lib.gelu_fwd.argtypes = [P, P, P, L]
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None (``POLYLAB_NATIVE=0``, or no working compiler: warned once)."""
    if os.environ.get("POLYLAB_NATIVE", "1") == "0":
        return None
    if "lib" not in _LIB:
        try:
            _LIB["lib"] = _build()
        except (OSError, subprocess.CalledProcessError) as err:
            detail = getattr(err, "stderr", None) or err
            warnings.warn(f"native kernels unavailable, using the eager forms: {detail}", RuntimeWarning, stacklevel=2)
            _LIB["lib"] = None
    return _LIB["lib"]


def _loaded() -> ctypes.CDLL:
    lib = _LIB.get("lib")
    assert lib is not None, "the kernels run only after library() has loaded them"
    return lib


def _ptr(t: Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


class _PolyNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, eps: float) -> Tensor:
        M, N, w = x.shape
        r = a.shape[-1] - 1
        coeffs = a.detach().reshape(M, r + 1).contiguous()
        y, rinv = torch.empty_like(x), x.new_empty(M * N, r)
        _loaded().polynorm_fwd(_ptr(x), _ptr(coeffs), _ptr(y), _ptr(rinv), N, w, r, eps, M * N)
        ctx.save_for_backward(x, coeffs, rinv)
        return y

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]  # one output, one incoming gradient
        x, coeffs, rinv = ctx.saved_tensors
        M, N, w = x.shape
        g = g.contiguous()
        gx, ga_rows = torch.empty_like(x), x.new_empty(M, N, coeffs.shape[1])
        _loaded().polynorm_bwd(
            _ptr(g), _ptr(x), _ptr(coeffs), _ptr(rinv), _ptr(gx), N, w, coeffs.shape[1] - 1, _ptr(ga_rows), M * N
        )
        return gx, ga_rows.sum(1).reshape(M, 1, 1, -1), None


class _Horner(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, a: Tensor, relu: bool) -> Tensor:
        M, N, w = h.shape
        r, per_neuron = a.shape[-1] - 1, a.shape[-2] != 1
        coeffs = a.detach().reshape(M, -1, r + 1).transpose(1, 2).contiguous()  # (M, r+1, W): neurons innermost
        y = torch.empty_like(h)
        _loaded().horner_fwd(_ptr(h), _ptr(coeffs), _ptr(y), N, w, r, per_neuron, relu, torch.get_num_threads(), M * N)
        ctx.relu, ctx.per_neuron, ctx.a_shape = relu, per_neuron, a.shape
        ctx.save_for_backward(h, coeffs)
        return y

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]  # one output, one incoming gradient
        h, coeffs = ctx.saved_tensors
        M, N, w = h.shape
        g = g.contiguous()
        # one zeroed slice of ∂L/∂a per OpenMP thread (torch's threads), summed here
        threads = torch.get_num_threads()
        gh, ga = torch.empty_like(h), coeffs.new_zeros(threads, *coeffs.shape)
        _loaded().horner_bwd(
            _ptr(g),
            _ptr(h),
            _ptr(coeffs),
            _ptr(gh),
            N,
            w,
            coeffs.shape[1] - 1,
            ctx.per_neuron,
            ctx.relu,
            threads,
            _ptr(ga),
            M * N,
        )
        return gh, ga.sum(0).transpose(1, 2).reshape(ctx.a_shape), None


class _GELU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        y, d = torch.empty_like(x), torch.empty_like(x)
        _loaded().gelu_fwd(_ptr(x), _ptr(y), _ptr(d), x.numel())
        ctx.save_for_backward(d)
        return y

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # type: ignore[override]  # one output, one incoming gradient
        (d,) = ctx.saved_tensors
        return g * d


def gelu(x: Tensor) -> Tensor:
    """GELU(x) = x Φ(x) (exact, erf form), by the C kernel for float64 contiguous CPU tensors where libmvec exists."""
    if x.device.type == "cpu" and x.dtype == torch.float64 and x.is_contiguous() and hasattr(library(), "gelu_fwd"):
        return _GELU.apply(x)
    return F.gelu(x)


def applies(x: Tensor, a: Tensor) -> bool:
    """Stacked layout on the CPU: x (M, N, w) float64 contiguous, a (M, 1, 1 | w, r+1) float64, 1 ≤ r ≤ 16."""
    return (
        x.device.type == "cpu"
        and x.dtype == a.dtype == torch.float64
        and x.dim() == 3
        and x.is_contiguous()
        and a.dim() == 4
        and a.shape[:2] == (x.shape[0], 1)
        and a.shape[2] in (1, x.shape[2])
        and 1 <= a.shape[-1] - 1 <= MAX_ORDER
        and library() is not None
    )


def polynorm(x: Tensor, a: Tensor, eps: float = 1e-6) -> Tensor:
    """PolyNorm over the last axis (approx.kernels.fused_polynorm.polynorm), by the C kernel where it applies."""
    if a.shape[-2:-1] == (1,) and applies(x, a):
        return _PolyNorm.apply(x, a, eps)
    return fused_polynorm.polynorm(x, a, eps)


def horner(h: Tensor, a: Tensor, relu: bool = False) -> Tensor:
    """Σ_i a_i ρ(h)^i, ρ = ReLU or identity (approx.kernels.fused_horner), by the C kernel where it applies."""
    if applies(h, a):
        return _Horner.apply(h, a, relu)
    return fused_horner.polyrelu(h, a) if relu else fused_horner.horner(h, a)
