"""The paper's transformer analyses (docs/theory.md §6), computed from trained weights and hidden states.

- **Effective rank** of a matrix with singular values s_1 ≥ … ≥ s_k:
  - entropy-based (Roy & Vetterli 2007): exp(H(p)) with p_i = s_i / Σ_j s_j and H(p) = −Σ p_i ln p_i;
    it is k for k equal singular values and 1 for a rank-1 matrix;
  - threshold: #{i : s_i > τ · s_1} for a relative threshold τ.
- **Layer-to-layer similarity**: for hidden states x^l_n (layer l, token n), the mean over tokens of
  cos(x^l_n, x^m_n), an (L+1)×(L+1) matrix over the embedding and the L block outputs. The paper
  reads a lower similarity between neighbouring layers as each layer doing more distinct work.
"""

from __future__ import annotations

import torch
from torch import Tensor

from approx.transformer import Transformer


def singular_values(w: Tensor) -> Tensor:
    return torch.linalg.svdvals(w.detach().double())


def entropy_rank(w: Tensor) -> float:
    """exp(H(p)), p = s / Σ s: the entropy-based effective rank; 0 for the zero matrix."""
    s = singular_values(w)
    total = s.sum()
    if total == 0:
        return 0.0
    p = s / total
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def threshold_rank(w: Tensor, rel: float = 0.01) -> int:
    """#{i : s_i > rel · s_max}: singular values above a relative threshold."""
    if not 0 < rel < 1:
        raise ValueError(f"relative threshold must lie in (0, 1), got {rel!r}")
    s = singular_values(w)
    return int((s > rel * s.max()).sum()) if s.numel() and s.max() > 0 else 0


def ffn_ranks(model: Transformer, rel: float = 0.01) -> list[dict[str, float]]:
    """Per layer and per FFN matrix (w1, w2 and SwiGLU's w3): both effective ranks and the maximum min(shape)."""
    rows = []
    for layer, block in enumerate(model.blocks):
        for name in ("w1", "w3", "w2"):
            lin = getattr(block.ffn, name, None)
            if lin is None:
                continue
            w = lin.weight
            rows.append(
                {
                    "layer": layer,
                    "matrix": name,
                    "entropy_rank": entropy_rank(w),
                    "threshold_rank": threshold_rank(w, rel),
                    "max_rank": min(w.shape),
                }
            )
    return rows


def layer_similarity(hidden: list[Tensor]) -> Tensor:
    """S[l, m] = mean over tokens of cos(x^l, x^m) for hidden states of shape (..., D), one per layer."""
    if not hidden:
        raise ValueError("layer_similarity needs at least one layer of hidden states")
    x = torch.stack([h.detach().double().reshape(-1, h.shape[-1]) for h in hidden])  # (L, N, D)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-30)
    return torch.einsum("lnd,mnd->lm", x, x) / x.shape[1]


@torch.no_grad()
def model_similarity(model: Transformer, batches: list[tuple[Tensor, Tensor]], device: str = "cpu") -> Tensor:
    """``layer_similarity`` of [embedding, block 1, …, block L] outputs on validation batches."""
    model.eval()
    hidden = [model.hidden_states(x.to(device)) for x, _ in batches]
    layers = [torch.cat([h[l].float().cpu() for h in hidden]) for l in range(len(hidden[0]))]
    return layer_similarity(layers)


def neighbour_similarity(s: Tensor) -> float:
    """Mean of S[l, l+1] over the block transitions l ≥ 1 (the embedding → block 1 step is excluded)."""
    diag = torch.diagonal(s, offset=1)[1:]
    return float(diag.mean()) if diag.numel() else float("nan")


def coefficients(model: Transformer) -> list[list[float]]:
    """Learned (a_0, …, a_r) of each layer's activation; empty for activations with none."""
    out = []
    for act in model.activation_modules():
        a = getattr(act, "coefficients", None)
        if a is not None:
            out.append([float(v) for v in a.detach().flatten().cpu()])
    return out
