"""A mixture-of-experts FFN, OLMoE-style (docs/theory.md §6.2).

For a token x ∈ R^d, a router gives p = softmax(x W_r) over E experts. The token goes to the k
experts of largest p, with weights p_e / Σ_{e' ∈ top-k} p_{e'} (top-k renormalised), so

    MoE(x) = Σ_{e ∈ top-k(x)} w_e(x) · FFN_e(x).

Training adds two auxiliary losses (weights in ``MoEConfig``):

- load balance (Switch/OLMoE): E · Σ_e f_e P_e, where f_e is the fraction of the N·k assignments
  that go to e and P_e the mean router probability of e. It is 1 when routing is uniform;
- router z-loss (ST-MoE): the mean over tokens of (log Σ_e exp(logit_e))², which keeps logits small.

Dispatch is grouped: the N·k assignments are sorted by expert, so each expert's rows form one
contiguous slice, and each expert runs as one matrix product over its slice (a grouped GEMM, one group
at a time: no padding, so an unbalanced router costs no extra work). With a capacity factor c each
expert keeps at most ⌈c·N·k/E⌉ assignments, in token order; the rest are dropped, and that token gets
nothing from that expert (the residual stream still carries it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


@dataclass(frozen=True)
class MoEConfig:
    """E experts, top-k routing; ``capacity_factor = 0`` is dropless."""

    experts: int = 8
    top_k: int = 2
    capacity_factor: float = 0.0
    balance_weight: float = 0.01
    z_weight: float = 0.001

    def __post_init__(self):
        for name in ("experts", "top_k"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"moe.{name} must be a positive integer, got {v!r}")
        if self.top_k > self.experts:
            raise ValueError(f"moe.top_k={self.top_k} exceeds moe.experts={self.experts}")
        for name in ("capacity_factor", "balance_weight", "z_weight"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf:
                raise ValueError(f"moe.{name} must be a finite number >= 0, got {v!r}")


@dataclass(frozen=True)
class Routing:
    """Router output for N tokens: ``probs`` (N, E), the chosen ``experts`` (N, k), their ``weights`` (N, k)."""

    logits: Tensor
    probs: Tensor
    experts: Tensor
    weights: Tensor


def route(logits: Tensor, top_k: int) -> Routing:
    """Softmax over experts, the top-k of each token, and their probabilities renormalised to sum to 1."""
    probs = logits.to(torch.promote_types(logits.dtype, torch.float32)).softmax(-1)  # bf16 logits: in float32
    top, experts = probs.topk(top_k, dim=-1)
    return Routing(logits, probs, experts, (top / top.sum(-1, keepdim=True)).to(logits.dtype))


def balance_loss(routing: Routing) -> Tensor:
    """E · Σ_e f_e P_e: f_e the share of assignments routed to e, P_e the mean router probability of e."""
    n_experts = routing.probs.shape[-1]
    counts = torch.bincount(routing.experts.flatten(), minlength=n_experts)
    f = counts.to(routing.probs.dtype) / routing.experts.numel()
    return n_experts * (f * routing.probs.mean(0)).sum()


def z_loss(logits: Tensor) -> Tensor:
    """Mean over tokens of logsumexp(logits)²."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32)).logsumexp(-1).square().mean()


@dataclass(frozen=True)
class Dispatch:
    """The kept assignments sorted by expert: token index, expert, combine weight; ``counts[e]`` of them are
    expert e's, contiguous, so each expert reads one slice."""

    token: Tensor
    expert: Tensor
    weight: Tensor
    counts: tuple[int, ...]
    assignments: int  # N·k, kept or not

    @property
    def dropped(self) -> float:
        return 1 - self.token.numel() / self.assignments


def dispatch(routing: Routing, capacity_factor: float) -> Dispatch:
    """Sort the N·k assignments by expert (stable, so earlier tokens win a full expert's capacity)."""
    n, k = routing.experts.shape
    n_experts = routing.probs.shape[-1]
    flat = routing.experts.flatten()
    order = flat.argsort(stable=True)
    expert = flat[order]
    counts = torch.bincount(expert, minlength=n_experts)
    token, weight = order // k, routing.weights.flatten()[order]
    if capacity_factor == 0:  # dropless: every assignment is kept
        return Dispatch(token, expert, weight, tuple(counts.tolist()), n * k)
    capacity = math.ceil(capacity_factor * n * k / n_experts)
    slot = torch.arange(n * k, device=flat.device) - (counts.cumsum(0) - counts)[expert]
    keep = slot < capacity
    return Dispatch(token[keep], expert[keep], weight[keep], tuple(counts.clamp(max=capacity).tolist()), n * k)


class MoE(nn.Module):
    """E experts of width h behind a top-k router; SwiGLU experts when ``activation`` is None.

    ``activation`` builds one module per expert, so learned PolyCom coefficients are per expert.
    ``recompute`` checkpoints each expert's activation (as ``transformer.Recompute`` does a dense one).
    After each forward, ``aux_loss`` holds the weighted load-balance and z-losses and ``last`` the
    routing of that batch (detached), for the analyses.
    """

    def __init__(
        self,
        d_model: int,
        d_hidden: int,
        cfg: MoEConfig,
        activation: Callable[[], nn.Module] | None = None,
        recompute: bool = False,
    ):
        super().__init__()
        self.cfg, self.recompute = cfg, recompute
        e = cfg.experts
        self.router = nn.Linear(d_model, e, bias=False)
        self.w1 = nn.Parameter(torch.empty(e, d_model, d_hidden))
        self.w3 = nn.Parameter(torch.empty(e, d_model, d_hidden)) if activation is None else None
        self.w2 = nn.Parameter(torch.empty(e, d_hidden, d_model))
        self.acts = None if activation is None else nn.ModuleList(activation() for _ in range(e))
        for w in (self.w1, self.w3, self.w2):
            if w is not None:
                nn.init.normal_(w, std=0.02)
        self.aux_loss: Tensor | None = None
        self.last: tuple[Routing, Dispatch] | None = None

    def expert(self, e: int, x: Tensor) -> Tensor:
        """Expert e on its rows x (n_e, d): FFN_e(x), two or three matrix products."""
        h = x @ self.w1[e].to(x.dtype)
        if self.acts is None:
            assert self.w3 is not None  # SwiGLU experts have their gate
            h = F.silu(h) * (x @ self.w3[e].to(x.dtype))
        elif self.recompute and torch.is_grad_enabled() and h.requires_grad:
            h = checkpoint(self.acts[e], h, use_reentrant=False)
        else:
            h = self.acts[e](h)
        return h @ self.w2[e].to(h.dtype)

    def _routed(self, flat: Tensor) -> tuple[Routing, Dispatch, tuple[Tensor, ...]]:
        """Routing, dispatch, and expert e's rows of ``flat`` as one contiguous slice each."""
        routing = route(self.router(flat), self.cfg.top_k)
        d = dispatch(routing, self.cfg.capacity_factor)
        return routing, d, flat.index_select(0, d.token).split(d.counts)

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        routing, d, rows = self._routed(flat)
        y = torch.cat([self.expert(e, part) for e, part in enumerate(rows)])  # a grouped GEMM, group by group
        out = torch.zeros_like(flat).index_add_(0, d.token, (y * d.weight[:, None].to(y.dtype)).to(flat.dtype))
        self.aux_loss = self.cfg.balance_weight * balance_loss(routing) + self.cfg.z_weight * z_loss(routing.logits)
        detached = Routing(*(t.detach() for t in (routing.logits, routing.probs, routing.experts, routing.weights)))
        self.last = (detached, d)
        return out.reshape(x.shape)

    def preactivations(self, x: Tensor) -> list[Tensor]:
        """Each expert's activation inputs x W1_e on the tokens routed (and kept) to it."""
        _, _, rows = self._routed(x.reshape(-1, x.shape[-1]))
        return [part @ self.w1[e].to(part.dtype) for e, part in enumerate(rows)]

    def expert_matrices(self) -> dict[str, Tensor]:
        """``{"w1": (E, d, h), "w2": (E, h, d)}`` and SwiGLU's ``w3``: the experts' weights."""
        return {n: w for n, w in (("w1", self.w1), ("w3", self.w3), ("w2", self.w2)) if w is not None}

    def activation_modules(self) -> list[nn.Module]:
        return [] if self.acts is None else list(self.acts)


def naive_moe(moe: MoE, x: Tensor) -> Tensor:
    """The same function token by token, expert by expert: the reference the batched dispatch is tested on."""
    flat = x.reshape(-1, x.shape[-1])
    routing = route(moe.router(flat), moe.cfg.top_k)
    rows = []
    for n in range(flat.shape[0]):
        acc = torch.zeros_like(flat[n])
        for e, w in zip(routing.experts[n].tolist(), routing.weights[n], strict=True):
            h = flat[n] @ moe.w1[e]
            if moe.w3 is not None:
                h = F.silu(h) * (flat[n] @ moe.w3[e])
            else:
                assert moe.acts is not None
                h = moe.acts[e](h[None])[0]
            acc = acc + w * (h @ moe.w2[e])
        rows.append(acc)
    return torch.stack(rows).reshape(x.shape)
