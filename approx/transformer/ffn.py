"""Feed-forward blocks: the paper's plain FFN ρ(x W1) W2 and the gated SwiGLU baseline (docs/theory.md §1)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class FFN(nn.Module):
    """FFN(x) = σ(x W1) W2, the ungated block the paper puts PolyCom in."""

    def __init__(self, d_model: int, d_hidden: int, activation: nn.Module, bias: bool = False):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_hidden, bias=bias)
        self.act = activation
        self.w2 = nn.Linear(d_hidden, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(self.act(self.w1(x)))


class SwiGLU(nn.Module):
    """SwiGLU(x) = (SiLU(x W1) ⊙ x W3) W2: three matrices, hence the paper's ×3/2 width for plain FFNs."""

    def __init__(self, d_model: int, d_hidden: int, bias: bool = False):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_hidden, bias=bias)
        self.w3 = nn.Linear(d_model, d_hidden, bias=bias)
        self.w2 = nn.Linear(d_hidden, d_model, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))
