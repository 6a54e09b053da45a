"""Triton kernels for PolyReLU and PolyNorm on GPUs (order r ≤ 4): one pass forward, one pass backward.

Both work on rows of F features: x is viewed as (rows, F), and the rows fall into G consecutive
groups of ``rows // G`` rows, each with its own coefficients (G = 1: one module; G = M: a stack of M
models). The statistics are computed in float32 whatever the input's dtype (bf16 or fp32), and only
the input (and PolyNorm's r reciprocal RMS values per row) is saved for the backward.

- PolyReLU_a(x) = Σ_{i≤r} a_i ReLU(x)^i, coefficients (G, C, r+1) with C = 1 (shared) or F (per
  feature); backward dx = g · Σ_{i≥1} i a_i ReLU(x)^{i−1} · [x > 0].
- PolyNorm_a(x) = a_0 + Σ_{i≥1} a_i x^i s_i, s_i = (mean_j x_j^{2i} + ε)^{−1/2} per row; backward
  dx_k = Σ_i a_i s_i (i x_k^{i−1} g_k − (i/F) s_i² x_k^{2i−1} Σ_j g_j x_j^i)  (docs/theory.md §1).

Coefficient gradients are reduced per row in the kernel (Σ_j g_j ρ_i(x_j)), then over the rows of a
group by torch. ``TRITON_INTERPRET=1`` runs the same kernels on the CPU (tests/approx/test_triton_kernels.py
checks them there against the float64 reference); on a machine without Triton, :func:`available` is
False and the table's ``impl = "auto"`` uses the eager forms.
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

try:
    import triton
    import triton.language as tl
except ImportError:  # the optional extra (pip install -e '.[gpu]')
    triton = None

MAX_ORDER = 4


def available(x: Tensor | None = None) -> bool:
    """Triton is importable and can run on x's device (CUDA, or the CPU under TRITON_INTERPRET=1)."""
    if triton is None:
        return False
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    return x is None or x.is_cuda or (interpret and x.device.type == "cpu")


def suits(x: Tensor, order: int) -> bool:
    """The kernels' domain: orders 1..MAX_ORDER and float32 or bfloat16 input (float64 keeps the eager forms)."""
    return 1 <= order <= MAX_ORDER and x.dtype in (torch.float32, torch.bfloat16)


def _block(features: int) -> int:
    return max(16, triton.next_power_of_2(features))


if triton is not None:

    @triton.jit
    def _relu_powers(t, R: tl.constexpr):
        """(t, t², …, t^R) for R ≤ 4 as a tuple, padding with zeros."""
        p1 = t
        p2 = t * t if R >= 2 else t * 0.0
        p3 = p2 * t if R >= 3 else t * 0.0
        p4 = p3 * t if R >= 4 else t * 0.0
        return p1, p2, p3, p4

    @triton.jit
    def _polyrelu_fwd(X, A, Y, F, ROWS_PER_GROUP, PER_FEATURE: tl.constexpr, R: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < F
        x = tl.load(X + row * F + cols, mask=mask, other=0.0).to(tl.float32)
        t = tl.maximum(x, 0.0)
        base = (row // ROWS_PER_GROUP) * (F if PER_FEATURE else 1) * (R + 1)
        idx = cols * (R + 1) if PER_FEATURE else cols * 0
        a0 = tl.load(A + base + idx, mask=mask, other=0.0).to(tl.float32)
        a1 = tl.load(A + base + idx + 1, mask=mask, other=0.0).to(tl.float32)
        a2 = tl.load(A + base + idx + 2, mask=mask & (R >= 2), other=0.0).to(tl.float32)
        a3 = tl.load(A + base + idx + 3, mask=mask & (R >= 3), other=0.0).to(tl.float32)
        a4 = tl.load(A + base + idx + 4, mask=mask & (R >= 4), other=0.0).to(tl.float32)
        y = (((a4 * t + a3) * t + a2) * t + a1) * t + a0  # Horner; missing orders have a_i = 0
        tl.store(Y + row * F + cols, y.to(Y.dtype.element_ty), mask=mask)

    @triton.jit
    def _polyrelu_bwd(
        X, A, G, DX, DA, F, ROWS_PER_GROUP, PER_FEATURE: tl.constexpr, R: tl.constexpr, BLOCK: tl.constexpr
    ):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < F
        x = tl.load(X + row * F + cols, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(G + row * F + cols, mask=mask, other=0.0).to(tl.float32)
        t = tl.maximum(x, 0.0)
        base = (row // ROWS_PER_GROUP) * (F if PER_FEATURE else 1) * (R + 1)
        idx = cols * (R + 1) if PER_FEATURE else cols * 0
        a1 = tl.load(A + base + idx + 1, mask=mask, other=0.0).to(tl.float32)
        a2 = tl.load(A + base + idx + 2, mask=mask & (R >= 2), other=0.0).to(tl.float32)
        a3 = tl.load(A + base + idx + 3, mask=mask & (R >= 3), other=0.0).to(tl.float32)
        a4 = tl.load(A + base + idx + 4, mask=mask & (R >= 4), other=0.0).to(tl.float32)
        slope = ((4.0 * a4 * t + 3.0 * a3) * t + 2.0 * a2) * t + a1
        dx = tl.where(x > 0.0, g * slope, 0.0)
        tl.store(DX + row * F + cols, dx.to(DX.dtype.element_ty), mask=mask)
        p1, p2, p3, p4 = _relu_powers(t, R)
        if PER_FEATURE:  # per-element contributions, reduced over rows by the caller
            out = DA + row * F * (R + 1) + cols * (R + 1)
            tl.store(out, g, mask=mask)
            tl.store(out + 1, g * p1, mask=mask)
            tl.store(out + 2, g * p2, mask=mask & (R >= 2))
            tl.store(out + 3, g * p3, mask=mask & (R >= 3))
            tl.store(out + 4, g * p4, mask=mask & (R >= 4))
        else:  # one partial sum per row and order
            out = DA + row * (R + 1)
            tl.store(out, tl.sum(g, axis=0))
            tl.store(out + 1, tl.sum(g * p1, axis=0))
            if R >= 2:
                tl.store(out + 2, tl.sum(g * p2, axis=0))
            if R >= 3:
                tl.store(out + 3, tl.sum(g * p3, axis=0))
            if R >= 4:
                tl.store(out + 4, tl.sum(g * p4, axis=0))

    @triton.jit
    def _polynorm_fwd(X, A, Y, S, F, ROWS_PER_GROUP, eps, R: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < F
        x = tl.load(X + row * F + cols, mask=mask, other=0.0).to(tl.float32)
        p1, p2, p3, p4 = _relu_powers(x, R)  # plain powers: x is not clipped here
        s1 = 1.0 / tl.sqrt(tl.sum(p1 * p1, axis=0) / F + eps)
        s2 = 1.0 / tl.sqrt(tl.sum(p2 * p2, axis=0) / F + eps)
        s3 = 1.0 / tl.sqrt(tl.sum(p3 * p3, axis=0) / F + eps)
        s4 = 1.0 / tl.sqrt(tl.sum(p4 * p4, axis=0) / F + eps)
        base = (row // ROWS_PER_GROUP) * (R + 1)
        a0 = tl.load(A + base).to(tl.float32)
        a1 = tl.load(A + base + 1).to(tl.float32)
        y = a0 + a1 * s1 * p1
        if R >= 2:
            y += tl.load(A + base + 2).to(tl.float32) * s2 * p2
        if R >= 3:
            y += tl.load(A + base + 3).to(tl.float32) * s3 * p3
        if R >= 4:
            y += tl.load(A + base + 4).to(tl.float32) * s4 * p4
        tl.store(Y + row * F + cols, y.to(Y.dtype.element_ty), mask=mask)
        stats = S + row * R
        tl.store(stats, s1)
        if R >= 2:
            tl.store(stats + 1, s2)
        if R >= 3:
            tl.store(stats + 2, s3)
        if R >= 4:
            tl.store(stats + 3, s4)

    @triton.jit
    def _polynorm_term(x, g, p, p_prev, s, a, i: tl.constexpr, F):
        """dx contribution of order i, and Σ g·p·s for a_i's gradient."""
        dot = tl.sum(g * p, axis=0)
        return a * s * (i * p_prev * g - (i / F) * s * s * p * p_prev * dot), dot * s

    @triton.jit
    def _polynorm_bwd(X, A, G, S, DX, DA, F, ROWS_PER_GROUP, R: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.arange(0, BLOCK)
        mask = cols < F
        x = tl.load(X + row * F + cols, mask=mask, other=0.0).to(tl.float32)
        g = tl.load(G + row * F + cols, mask=mask, other=0.0).to(tl.float32)
        base = (row // ROWS_PER_GROUP) * (R + 1)
        stats = S + row * R
        one = x * 0.0 + 1.0
        p1, p2, p3, p4 = _relu_powers(x, R)
        d1, da1 = _polynorm_term(x, g, p1, one, tl.load(stats), tl.load(A + base + 1).to(tl.float32), 1, F)
        dx = d1
        out = DA + row * (R + 1)
        tl.store(out, tl.sum(g, axis=0))
        tl.store(out + 1, da1)
        if R >= 2:
            d2, da2 = _polynorm_term(x, g, p2, p1, tl.load(stats + 1), tl.load(A + base + 2).to(tl.float32), 2, F)
            dx += d2
            tl.store(out + 2, da2)
        if R >= 3:
            d3, da3 = _polynorm_term(x, g, p3, p2, tl.load(stats + 2), tl.load(A + base + 3).to(tl.float32), 3, F)
            dx += d3
            tl.store(out + 3, da3)
        if R >= 4:
            d4, da4 = _polynorm_term(x, g, p4, p3, tl.load(stats + 3), tl.load(A + base + 4).to(tl.float32), 4, F)
            dx += d4
            tl.store(out + 4, da4)
        tl.store(DX + row * F + cols, dx.to(DX.dtype.element_ty), mask=mask)


def _rows(x: Tensor) -> tuple[Tensor, int, int]:
    F = x.shape[-1]
    return x.contiguous().reshape(-1, F), x.numel() // F, F


def _groups(a: Tensor, rows: int) -> tuple[Tensor, int, int]:
    """Coefficients as (G, C, r+1) float32 and the rows per group."""
    coeffs = a.reshape(-1, *a.shape[-2:]) if a.dim() >= 2 else a.reshape(1, 1, -1)
    G = coeffs.shape[0]
    if rows % G:
        raise ValueError(f"{rows} rows do not split into {G} coefficient groups")
    return coeffs.float().contiguous(), G, rows // G


def _check(x: Tensor, a: Tensor) -> int:
    r = a.shape[-1] - 1
    if not suits(x, r):
        raise ValueError(f"the Triton kernels take orders 1..{MAX_ORDER} and float32/bfloat16, got {r}, {x.dtype}")
    if not available(x):
        raise RuntimeError("Triton kernels need CUDA (or TRITON_INTERPRET=1 on the CPU) and the triton package")
    return r


class _PolyReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor) -> Tensor:
        r = _check(x, a)
        x2, rows, F = _rows(x)
        coeffs, G, per = _groups(a, rows)
        per_feature = coeffs.shape[1] != 1
        y = torch.empty_like(x2)
        _polyrelu_fwd[(rows,)](x2, coeffs, y, F, per, PER_FEATURE=per_feature, R=r, BLOCK=_block(F))
        ctx.save_for_backward(x, a)  # the input alone: everything else is recomputed
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, a = ctx.saved_tensors
        r = a.shape[-1] - 1
        x2, rows, F = _rows(x)
        coeffs, G, per = _groups(a, rows)
        per_feature = coeffs.shape[1] != 1
        dx = torch.empty_like(x2)
        shape = (rows, F, r + 1) if per_feature else (rows, r + 1)
        da_rows = torch.empty(shape, dtype=torch.float32, device=x.device)
        g2 = g.contiguous().reshape(rows, F)
        _polyrelu_bwd[(rows,)](x2, coeffs, g2, dx, da_rows, F, per, PER_FEATURE=per_feature, R=r, BLOCK=_block(F))
        da = da_rows.reshape(G, per, *shape[1:]).sum(1)
        return dx.reshape(x.shape), da.reshape(a.shape).to(a.dtype)


class _PolyNorm(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, a: Tensor, eps: float) -> Tensor:
        r = _check(x, a)
        x2, rows, F = _rows(x)
        coeffs, G, per = _groups(a, rows)
        y = torch.empty_like(x2)
        stats = torch.empty(rows, r, dtype=torch.float32, device=x.device)
        _polynorm_fwd[(rows,)](x2, coeffs, y, stats, F, per, eps, R=r, BLOCK=_block(F))
        ctx.save_for_backward(x, a, stats)  # the input and r statistics per row
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, a, stats = ctx.saved_tensors
        r = a.shape[-1] - 1
        x2, rows, F = _rows(x)
        coeffs, G, per = _groups(a, rows)
        dx = torch.empty_like(x2)
        da_rows = torch.empty(rows, r + 1, dtype=torch.float32, device=x.device)
        g2 = g.contiguous().reshape(rows, F)
        _polynorm_bwd[(rows,)](x2, coeffs, g2, stats, dx, da_rows, F, per, R=r, BLOCK=_block(F))
        da = da_rows.reshape(G, per, r + 1).sum(1)
        return dx.reshape(x.shape), da.reshape(a.shape).to(a.dtype), None


def polyrelu(x: Tensor, a: Tensor) -> Tensor:
    """PolyReLU over the last axis of x; a is (r+1,), (F, r+1), or per group (G, 1|F, r+1)."""
    return _PolyReLU.apply(x, a)


def polynorm(x: Tensor, a: Tensor, eps: float = 1e-6) -> Tensor:
    """PolyNorm over the last axis of x; a is (r+1,) or per group (G, 1, r+1)."""
    return _PolyNorm.apply(x, a, eps)
