"""What a training step keeps for the backward pass, per activation (docs/theory.md §1, released code).

A PolyNorm of order 3 keeps several activation-sized tensors (x, x², x³, the three normalised
powers and their scales) where ReLU keeps one; ``activation_tensors_kept`` counts them by hooking
``torch.autograd.graph.saved_tensors_hooks``, which sees every tensor autograd stores. Storage is
counted once however many times it is saved. On CUDA ``cuda_peak_bytes`` gives the allocator's peak.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


def saved_tensor_bytes(fn: Callable[[], Tensor]) -> int:
    """Bytes of distinct storages autograd saves while ``fn()`` builds its graph."""
    seen: dict[tuple, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        seen[(t.device.type, storage.data_ptr())] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return sum(seen.values())


def activation_tensors_kept(activation: nn.Module, shape: tuple[int, ...] = (8, 64, 256)) -> float:
    """Saved bytes of ``activation`` on a random input requiring grad, in units of the input's size."""
    x = torch.randn(shape, requires_grad=True)
    nbytes = saved_tensor_bytes(lambda: activation(x))
    return nbytes / (x.numel() * x.element_size())


def training_step_saved_bytes(model: nn.Module, tokens: Tensor, targets: Tensor) -> int:
    """Bytes saved for the backward by one forward pass with loss (the activation memory of a step)."""
    model.train()
    return saved_tensor_bytes(lambda: model(tokens, targets)[1])


def cuda_peak_bytes(step: Callable[[], None], device: str) -> int:
    """``torch.cuda.max_memory_allocated`` over one call of ``step``."""
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device))
