"""A small decoder-only transformer whose FFN is the object of study (docs/theory.md §6), nanoGPT-style.

    x_0 = Embed(tokens)
    x_{l+1} = x_l' + FFN(RMSNorm(x_l')),   x_l' = x_l + Attn(RMSNorm(x_l))      (pre-norm)
    logits = RMSNorm(x_L) Embedᵀ                                                  (tied head)

Attention is causal ``scaled_dot_product_attention`` with rotary positions. The FFN is the paper's
ungated ρ(x W1) W2 with any activation of ``approx.activations``, or the gated SwiGLU baseline. The
widths are matched as in the paper (§1, "FFN placement"): SwiGLU has three d×h matrices, the
ungated FFN two d×(3h/2) ones, so both hold exactly 3dh weights when h is even. With ``moe`` set,
every FFN is a mixture of such experts (``approx.transformer.moe``, §6.2), each matched the same way.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from approx import activations
from approx.transformer.ffn import FFN, SwiGLU
from approx.transformer.moe import MoE, MoEConfig

GATED = "swiglu"


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the model. ``ffn`` is ``"swiglu"`` or an activation name for the ungated FFN.

    ``swiglu_hidden`` is h, the SwiGLU width; an ungated FFN gets 3h/2 so the counts match. With
    ``moe`` (an ``MoEConfig`` or its table) each FFN is E experts of that width behind a router.
    ``recompute_activation`` wraps the activation in ``torch.utils.checkpoint`` (as the released
    PolyNorm code does): its intermediate tensors are recomputed in the backward instead of kept.
    """

    vocab_size: int = 256
    context: int = 128
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    swiglu_hidden: int = 344
    ffn: str = "relu"
    activation_kwargs: dict = field(default_factory=dict)
    recompute_activation: bool = False
    moe: MoEConfig | None = None

    def __post_init__(self):
        if isinstance(self.moe, dict):
            try:
                object.__setattr__(self, "moe", MoEConfig(**self.moe))
            except TypeError as err:
                raise ValueError(f"bad [model.moe] table: {err}") from None
        elif self.moe is not None and not isinstance(self.moe, MoEConfig):
            raise ValueError(f"model.moe must be a table, got {self.moe!r}")
        for name in ("vocab_size", "context", "d_model", "n_layers", "n_heads", "swiglu_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name} must be a positive integer, got {value!r}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"model.d_model={self.d_model} must split into n_heads={self.n_heads} heads of even size (rotary)"
            )
        if self.swiglu_hidden % 2:
            raise ValueError(f"model.swiglu_hidden must be even for exact ×3/2 matching, got {self.swiglu_hidden}")
        if self.ffn != GATED and self.ffn not in activations.names():
            raise ValueError(f"unknown ffn {self.ffn!r}; valid: {GATED}, {', '.join(activations.names())}")

    @property
    def ffn_hidden(self) -> int:
        """h for SwiGLU, 3h/2 for an ungated FFN: both hold 3·d·h weights (docs/theory.md §1)."""
        return self.swiglu_hidden if self.ffn == GATED else 3 * self.swiglu_hidden // 2

    def with_(self, **changes) -> ModelConfig:
        return ModelConfig(**{**asdict(self), **changes})


class Recompute(nn.Module):
    """Run ``inner`` under activation checkpointing: keep only its input, recompute the rest in the backward."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            return checkpoint(self.inner, x, use_reentrant=False)
        return self.inner(x)


def rotary_tables(context: int, head_dim: int, base: float = 10000.0) -> tuple[Tensor, Tensor]:
    """cos and sin of the angles t·θ_j, θ_j = base^(−2j/head_dim): shape (context, head_dim/2)."""
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(context, dtype=torch.float32), theta)
    return angles.cos(), angles.sin()


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each pair (x_{2j}, x_{2j+1}) of a (B, H, T, D) tensor by its position's angle."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    T = x.shape[-2]
    c, s = cos[:T].to(x.dtype), sin[:T].to(x.dtype)
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    cos: Tensor
    sin: Tensor

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        cos, sin = rotary_tables(cfg.context, cfg.d_model // cfg.n_heads)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = (t.view(B, T, self.n_heads, C // self.n_heads).transpose(1, 2) for t in self.qkv(x).split(C, -1))
        q, k = apply_rotary(q, self.cos, self.sin), apply_rotary(k, self.cos, self.sin)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(B, T, C))


def make_activation(cfg: ModelConfig) -> nn.Module:
    act = activations.get(cfg.ffn, **cfg.activation_kwargs)
    return Recompute(act) if cfg.recompute_activation else act


def make_ffn(cfg: ModelConfig) -> nn.Module:
    """SwiGLU of width h, or FFN ρ(x W1) W2 of width 3h/2 with ρ = ``activations.get(cfg.ffn)``; or E of them."""
    if cfg.moe is not None:
        act = None if cfg.ffn == GATED else lambda: activations.get(cfg.ffn, **cfg.activation_kwargs)
        return MoE(cfg.d_model, cfg.ffn_hidden, cfg.moe, act, cfg.recompute_activation)
    if cfg.ffn == GATED:
        return SwiGLU(cfg.d_model, cfg.ffn_hidden)
    return FFN(cfg.d_model, cfg.ffn_hidden, make_activation(cfg))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.norm1 = nn.RMSNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.norm2 = nn.RMSNorm(cfg.d_model)
        self.ffn = make_ffn(cfg)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class Transformer(nn.Module):
    """Decoder-only LM. ``forward(tokens)`` returns logits; ``hidden_states`` the output of every layer."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.RMSNorm(cfg.d_model)
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2: scale residual projections by 1/√(2L)
            if name.endswith(("proj.weight", "w2.weight", "ffn.w2")):
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)

    def hidden_states(self, tokens: Tensor) -> list[Tensor]:
        """[x_0, x_1, ..., x_L]: the embedding and the residual stream after each block."""
        if tokens.shape[-1] > self.cfg.context:
            raise ValueError(f"sequence length {tokens.shape[-1]} exceeds the context {self.cfg.context}")
        xs = [self.embed(tokens)]
        for block in self.blocks:
            xs.append(block(xs[-1]))
        return xs

    def forward(self, tokens: Tensor, targets: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Logits (B, T, V) and, given targets, the mean next-token cross-entropy in nats."""
        x = self.hidden_states(tokens)[-1]
        logits = F.linear(self.norm(x), self.embed.weight)  # tied head
        loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return logits, loss

    def moe_layers(self) -> list[MoE]:
        return [b.ffn for b in self.blocks if isinstance(b.ffn, MoE)]

    def aux_loss(self) -> Tensor | float:
        """The MoE layers' weighted auxiliary losses from the last forward; 0 for a dense model."""
        return sum((m.aux_loss for m in self.moe_layers() if m.aux_loss is not None), 0.0)

    def activation_modules(self) -> list[nn.Module]:
        """The FFN activations (unwrapped from ``Recompute``), layer by layer and expert by expert; [] for SwiGLU."""
        out = []
        for block in self.blocks:
            ffn = block.ffn
            acts = ffn.activation_modules() if isinstance(ffn, MoE) else [a for a in [getattr(ffn, "act", None)] if a]
            out += [act.inner if isinstance(act, Recompute) else act for act in acts]
        return out


def parameter_counts(model: Transformer) -> dict[str, int]:
    """Every size measure of docs/theory.md §2 that applies here, split so the FFN match can be read off.

    ``ffn_weights`` is equal across variants by construction; ``activation_coefficients`` is the
    PolyCom extra (r+1 per layer, per expert); ``total`` is ``sum(p.numel())``. For an MoE,
    ``ffn_active`` counts the router and k of the E experts' weights: what one token uses.
    """
    blocks = cast(list[Block], list(model.blocks))
    coeff = sum(p.numel() for m in model.activation_modules() for p in m.parameters())
    ffn = sum(p.numel() for b in blocks for p in b.ffn.parameters()) - coeff
    total = sum(p.numel() for p in model.parameters())
    active = ffn
    for moe in model.moe_layers():
        experts = sum(w.numel() for w in moe.expert_matrices().values())
        active -= experts - experts * moe.cfg.top_k // moe.cfg.experts
    return {
        "total": total,
        "ffn_weights": ffn,
        "ffn_active": active,
        "router": sum(m.router.weight.numel() for m in model.moe_layers()),
        "activation_coefficients": coeff,
        "attention": sum(p.numel() for b in blocks for p in b.attn.parameters()),
        "embedding": model.embed.weight.numel(),
        "norms": sum(p.numel() for n, p in model.named_parameters() if "norm" in n),
    }
