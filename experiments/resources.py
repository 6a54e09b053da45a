"""Resource guards: hard bounds on a config's sizes, and a peak-memory estimate checked before any work.

The estimate is an upper-bound model, not a measurement: for a rates stack of M models with P
parameters, width w, depth L and n training points it counts the forward and backward tensors
(``ACTIVATION_TENSORS`` of size M·n·w per hidden layer), the optimiser state (parameters, gradient,
Adam moments and 2·history L-BFGS vectors per model; for Levenberg–Marquardt the Jacobians and normal
matrices of one chunk) and the dense test set. A run whose largest
stack, or whose test set, would exceed ``HEADROOM`` of the memory available is refused with one line
naming the config key that drives it; ``--allow-large`` lets it through. The rates estimate lives
with the rates config (experiments/rates/memory.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from experiments.user_errors import UserError

#: hard bounds (no flag lifts them): far beyond what the lab's machines fit, far below overflow
MAX_PARAMS = 10**8
MAX_POINTS = 10**8
MAX_SEEDS = 1000
MAX_SEED = 2**31 - 1
ACTIVATION_TENSORS = 12  # per hidden layer and point: pre/post activation, PolyCom powers, their grads
HEADROOM = 0.8


class TooLarge(UserError):
    """A run the memory estimate says will not fit (a user error; ``--allow-large`` overrides)."""


@dataclass(frozen=True)
class Estimate:
    key: str  # the config key that drives this term
    bytes: int
    detail: str


def available_bytes(device: str = "cpu") -> int:
    """Memory a run may use now: MemAvailable on Linux, free device memory on CUDA."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check(estimates: list[Estimate], device: str = "cpu", allow_large: bool = False) -> None:
    """Refuse (TooLarge, one line) if the largest estimate exceeds HEADROOM × available memory."""
    if allow_large or not estimates:
        return
    worst = max(estimates, key=lambda e: e.bytes)
    limit = int(HEADROOM * available_bytes(device))
    if worst.bytes > limit:
        raise TooLarge(
            f"{worst.key}: estimated peak memory {_gb(worst.bytes)} ({worst.detail}) exceeds the limit "
            f"{_gb(limit)} ({HEADROOM:.0%} of the memory available on {device}); reduce it, or pass --allow-large"
        )


def _gb(n: int) -> str:
    return f"{n / 2**30:.1f} GiB"


def lm_estimate(model: dict, train: dict, ffn_hidden: int, experts: int = 1, top_k: int = 1) -> Estimate:
    """Peak training memory of one LM run: parameters with AdamW state, and the saved activations.

    An MoE FFN holds ``experts`` copies of the FFN weights and runs each token through ``top_k``.
    """
    d, layers, ctx = model.get("d_model", 128), model.get("n_layers", 4), model.get("context", 128)
    vocab, batch = model.get("vocab_size", 256), train.get("batch_size", 16)
    params = layers * (4 * d * d + 3 * d * ffn_hidden * experts) + 2 * vocab * d
    per_token = 16 * d + 6 * ffn_hidden * top_k + 2 * model.get("n_heads", 4) * ctx
    saved = batch * ctx * layers * per_token + batch * ctx * vocab
    total = 4 * (4 * params + 2 * saved)
    key = "model" if params * 4 >= saved else "train.batch_size"
    return Estimate(key, total, f"{params:,} parameters, batch {batch} × context {ctx}")
