"""The paper's transformer analyses (docs/theory.md §6), computed from trained weights and hidden states.

- **Effective rank** of a matrix with singular values s_1 ≥ … ≥ s_k:
  - entropy-based (Roy & Vetterli 2007): exp(H(p)) with p_i = s_i / Σ_j s_j and H(p) = −Σ p_i ln p_i;
    it is k for k equal singular values and 1 for a rank-1 matrix;
  - threshold: #{i : s_i > τ · s_1} for a relative threshold τ.
- **Layer-to-layer similarity**: for hidden states x^l_n (layer l, token n), the mean over tokens of
  cos(x^l_n, x^m_n), an (L+1)×(L+1) matrix over the embedding and the L block outputs. The paper
  reads a lower similarity between neighbouring layers as each layer doing more distinct work.
- **Expert load** of an MoE layer (§6.2): the share ℓ_e of the N·k assignments routed to expert e,
  its entropy H(ℓ) / ln E (1 for uniform load) and its coefficient of variation std(ℓ)/mean(ℓ)
  (0 for uniform load); and the share of assignments dropped by a capacity limit.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor

from approx.transformer.moe import MoE
from approx.transformer.transformer import Transformer


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


def _ffn_matrices(ffn) -> list[tuple[int | None, str, Tensor]]:
    """(expert or None, name, matrix) for every FFN matrix; an MoE gives one of each per expert."""
    if isinstance(ffn, MoE):
        return [(e, n, w[e]) for n, w in ffn.expert_matrices().items() for e in range(w.shape[0])]
    return [(None, n, getattr(ffn, n).weight) for n in ("w1", "w3", "w2") if getattr(ffn, n, None) is not None]


def ffn_ranks(model: Transformer, rel: float = 0.01) -> list[dict[str, object]]:
    """Per layer, FFN matrix (w1, w2, SwiGLU's w3) and expert: both effective ranks and the maximum min(shape)."""
    rows = []
    for layer, block in enumerate(model.blocks):
        for expert, name, w in _ffn_matrices(block.ffn):
            row: dict[str, object] = {"layer": layer, "matrix": name}
            if expert is not None:
                row["expert"] = expert
            rows.append(
                row
                | {"entropy_rank": entropy_rank(w), "threshold_rank": threshold_rank(w, rel), "max_rank": min(w.shape)}
            )
    return rows


def load_statistics(loads: Tensor) -> dict[str, float]:
    """Entropy (normalised by ln E) and coefficient of variation of expert loads (counts or shares)."""
    share = loads.double() / loads.sum()
    p = share[share > 0]
    n = share.numel()
    entropy = float(-(p * p.log()).sum() / math.log(n)) if n > 1 else 1.0
    cv = float(share.std(correction=0) / share.mean())
    return {"entropy": entropy, "cv": cv}


@torch.no_grad()
def expert_usage(model: Transformer, batches: list[tuple[Tensor, Tensor]], device: str = "cpu") -> list[dict]:
    """Per MoE layer, over validation batches: each expert's share of assignments, their entropy and CV,
    the dropped share, and each expert's learned activation coefficients."""
    layers = model.moe_layers()
    if not layers:
        return []
    model.eval()
    counts = [torch.zeros(m.cfg.experts, dtype=torch.long) for m in layers]
    dropped = [0] * len(layers)
    total = 0
    for x, _ in batches:
        model(x.to(device))
        for i, m in enumerate(layers):
            assert m.last is not None  # set by the forward just run
            routing, d = m.last
            counts[i] += torch.bincount(routing.experts.flatten().cpu(), minlength=m.cfg.experts)
            dropped[i] += d.assignments - d.token.numel()
        total += d.assignments  # the same N·k in every layer
    model.train()
    out = []
    for i, m in enumerate(layers):
        acts = m.activation_modules()
        out.append(
            {
                "layer": i,
                "load": [float(c) / total for c in counts[i]],
                **load_statistics(counts[i]),
                "dropped": dropped[i] / total,
                "coefficients": [
                    [float(v) for v in cast(Tensor, a.coefficients).detach().flatten().cpu()]
                    for a in (getattr(act, "inner", act) for act in acts)
                    if getattr(a, "coefficients", None) is not None
                ],
            }
        )
    return out


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
