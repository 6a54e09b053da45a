"""``polylab bench kernels``: PolyReLU and PolyNorm forward+backward, every implementation, one run.

For each shape (rows × features) and dtype: the median time of a forward and backward pass, and the
bytes autograd saves for the backward (counted by ``torch.autograd.graph.saved_tensors_hooks``), for

- ``reference``: the library's formula through autograd (approx/activations/functional.py);
- ``checkpointed``: the same under ``torch.utils.checkpoint``, the released code's way of saving memory;
- ``eager``: the fused eager forms with hand-derived backwards (approx/kernels/fused_*.py);
- ``compile``: ``torch.compile`` of the library's formula;
- ``triton``: the Triton kernels (approx/kernels/triton_kernels.py), on CUDA;
- ``liger``: Liger-Kernel's PolyNorm, when the package is installed (PolyNorm only);
- ``copy``: y = x.clone() forward and backward, the memory-traffic floor of any elementwise kernel.

Results: a table on stdout and, with ``--json``, every row with provenance (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from approx.activations.table import Activation
from approx.kernels import triton_kernels
from experiments.user_errors import UserError

GPU_SHAPES = ((4096, 4096), (8192, 8192), (16384, 8192))
CPU_SHAPES = ((1024, 1024),)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
ORDER = 3
EPS = 1e-6


#: the activations with Triton kernels, each timed through every impl of the activation table
FAMILIES = ("polyrelu", "polynorm")


Kernel = Callable[[Tensor, Tensor], Tensor]


def implementations(device: str) -> dict[str, dict[str, Kernel]]:
    """activation -> impl -> σ(x, a), for what this machine can run (approx/activations/table.py)."""
    cuda = device.startswith("cuda")
    out: dict[str, dict[str, Kernel]] = {}
    for name in FAMILIES:
        impls: dict[str, Kernel] = {}
        for impl in ("reference", "eager", "compile") + (("triton",) if cuda and triton_kernels.available() else ()):
            impls[impl] = Activation(name, impl=impl).apply
        impls["checkpointed"] = _checkpointed(impls["reference"])
        liger = _liger() if cuda and name == FAMILIES[-1] else None  # Liger has PolyNorm only
        if liger is not None:
            impls["liger"] = liger
        impls["copy"] = _copy
        out[name] = impls
    return out


def _checkpointed(fn: Kernel) -> Kernel:
    return lambda x, a: checkpoint(fn, x, a, use_reentrant=False)


def _copy(x: Tensor, a: Tensor) -> Tensor:
    return x.clone()


def _liger() -> Kernel | None:
    """Liger-Kernel's PolyNorm, if installed."""
    try:
        from liger_kernel.ops.poly_norm import LigerPolyNormFunction  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    # Liger's weight is (a_r, …, a_1) and its bias a_0; the lab stores (a_0, …, a_r)
    return lambda x, a: LigerPolyNormFunction.apply(x, a.reshape(-1)[1:].flip(0), a.reshape(-1)[0], EPS)


def saved_bytes(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, a: Tensor) -> int:
    """Bytes autograd keeps for the backward of fn(x, a), each storage counted once (x and a included)."""
    seen: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x, a)
    return sum(seen.values())


def time_pass(fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, a: Tensor, repeats: int) -> float:
    """Median seconds of forward + backward (after one warm-up, which also compiles)."""
    g = torch.randn_like(x)
    times = []
    for k in range(repeats + 1):
        x.grad = a.grad = None
        _sync(x)
        t0 = time.perf_counter()
        fn(x, a).backward(g)
        _sync(x)
        if k:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _sync(x: Tensor) -> None:
    if x.is_cuda:
        torch.cuda.synchronize(x.device)


def run(shapes, dtypes: list[str], device: str, repeats: int) -> list[dict]:
    rows = []
    for name, impls in implementations(device).items():
        for rows_, features in shapes:
            for dtype in dtypes:
                x = torch.randn(rows_, features, device=device, dtype=DTYPES[dtype], requires_grad=True)
                # the stacked layout of one model: x (1, rows, F), coefficients (1, 1, 1, r+1)
                x = x[None].detach().requires_grad_()
                a = torch.full((1, 1, 1, ORDER + 1), 1 / ORDER, device=device, requires_grad=True)
                for impl, fn in impls.items():
                    seconds = time_pass(fn, x, a, repeats)
                    rows.append(
                        {
                            "activation": name,
                            "shape": [rows_, features],
                            "dtype": dtype,
                            "impl": impl,
                            "ms": 1e3 * seconds,
                            "saved_MiB": saved_bytes(fn, x, a) / 2**20,
                        }
                    )
                    print(
                        f"{name:9s} {rows_:>6}x{features:<6} {dtype:9s} {impl:13s} {1e3 * seconds:9.3f} ms"
                        f"  saved {rows[-1]['saved_MiB']:9.3f} MiB",
                        flush=True,
                    )
    return rows


def add_kernels_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument(
        "--shapes",
        nargs="+",
        default=None,
        metavar="ROWSxF",
        help="default: 4096x4096 8192x8192 16384x8192 on CUDA, 1024x1024 on the CPU",
    )
    p.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=sorted(DTYPES))
    p.add_argument("--repeats", type=int, default=10, help="timed passes per row (default 10)")
    p.add_argument("--json", default=None, metavar="FILE", help="every row with provenance")


def parse_shape(text: str) -> tuple[int, int]:
    try:
        rows, features = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--shapes takes ROWSxFEATURES, e.g. 4096x4096, got {text!r}") from None
    if not (1 <= rows <= 2**20 and 1 <= features <= 2**16):
        raise UserError(f"shape {text!r} out of range (rows ≤ 2^20, features ≤ 2^16)")
    return rows, features


def run_cli(args) -> int:
    from experiments import devices
    from experiments.atomic_io import write_json
    from experiments.provenance import provenance

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    devices.check(device, "float32")
    if args.repeats < 1:
        raise UserError("--repeats must be >= 1")
    default = GPU_SHAPES if device.startswith("cuda") else CPU_SHAPES
    shapes = [parse_shape(s) for s in args.shapes] if args.shapes else list(default)
    rows = run(shapes, args.dtypes, device, args.repeats)
    if args.json:
        config = {"shapes": shapes, "dtypes": args.dtypes, "repeats": args.repeats, "order": ORDER}
        write_json(args.json, {"rows": rows, "provenance": provenance(config, None, device)})
        print(f"json: {args.json}")
    return 0
