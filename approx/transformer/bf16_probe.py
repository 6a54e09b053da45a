"""How close a trained PolyCom comes to the edge of bf16 (docs/theory.md §6.3).

bf16 keeps float32's 8 exponent bits but only 8 significant bits, so its largest finite value is
about 3.4·10^38 and its unit roundoff 2^-8. A PolyCom of order r forms ρ(x)^r (type I) or x^r and,
inside the RMS norm, (x^r)² (type II), so an input of magnitude m overflows once m^r, or m^(2r),
passes that value. The probe feeds an activation the pre-activations a trained model really sees and
evaluates it twice, in bf16 and in float64:

- **overflow**: the share of outputs that are not finite in bf16;
- **imprecise**: the share of finite bf16 outputs that differ from float64 by more than 2^-4 (16 bf16
  roundoffs) times max(|float64 output|, its RMS). This is how PolyNorm fails: an infinite (x^i)² makes
  the RMS scale 1/√∞ = 0, so the output is finite and wrong (the activation saturates silently);
- **first overflowing order**: the smallest r ≤ ``MAX_ORDER`` at which the same activation with order r
  (and its default coefficients) overflows in bf16 on any of these inputs, or None;
- **first imprecise order**: the same for more than ``SHARE`` of the outputs being imprecise.

The probe runs on whatever device holds the inputs: CPU bf16, or CUDA when the model is there.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from approx.activations import MAX_ORDER, PolyCom

TOLERANCE = 2.0**-4
SHARE = 0.01


@dataclass(frozen=True)
class Probe:
    elements: int
    max_abs_input: float
    overflow: float
    imprecise: float
    first_overflowing_order: int | None
    first_imprecise_order: int | None

    def as_dict(self) -> dict:
        return asdict(self)


def _in(act: nn.Module, dtype: torch.dtype) -> nn.Module:
    return copy.deepcopy(act).to(dtype)


def with_order(act: PolyCom, order: int) -> nn.Module:
    """The same kind of PolyCom at another order, with that order's default coefficients."""
    twin = copy.deepcopy(act)
    twin.order = order
    init = torch.full((order + 1,), 1.0 / order, device=act.coefficients.device)
    init[0] = 0.0
    twin.coefficients = nn.Parameter(init)
    return twin


def errors(act: nn.Module, x: Tensor) -> tuple[float, float]:
    """(overflow share, imprecise share) of ``act`` in bf16 against float64 on the rows ``x``."""
    with torch.no_grad():
        ref = _in(act, torch.float64)(x.double())
        low = _in(act, torch.bfloat16)(x.to(torch.bfloat16)).double()
    finite = torch.isfinite(low)
    scale = torch.maximum(ref.abs(), ref.square().mean().sqrt())
    imprecise = finite & ((low - ref).abs() > TOLERANCE * scale)
    n = max(x.numel(), 1)
    return float((~finite).sum()) / n, float(imprecise.sum()) / n


def probe(act: PolyCom, x: Tensor) -> Probe:
    """Overflow and precision of ``act`` in bf16 on inputs ``x`` (rows of features, zero rows dropped)."""
    x = x.detach().reshape(-1, x.shape[-1])
    x = x[x.abs().amax(-1) > 0]  # an MoE expert's padding rows are exactly zero
    overflow, imprecise = errors(act, x)
    by_order = {r: errors(with_order(act, r), x) for r in range(1, MAX_ORDER + 1)}
    return Probe(
        elements=x.numel(),
        max_abs_input=float(x.abs().max()) if x.numel() else 0.0,
        overflow=overflow,
        imprecise=imprecise,
        first_overflowing_order=next((r for r, (o, _) in by_order.items() if o > 0), None),
        first_imprecise_order=next((r for r, (_, i) in by_order.items() if i > SHARE), None),
    )


def preactivations(model, batches: list[tuple[Tensor, Tensor]], device: str = "cpu") -> list[tuple[nn.Module, Tensor]]:
    """(activation, the inputs it sees on ``batches``) for every activation of a transformer, expert by expert."""
    pairs: list[tuple[nn.Module, list[Tensor]]] = []
    hooks = []

    def keep(i: int, x: Tensor) -> None:
        pairs[i][1].append(x.detach().reshape(-1, x.shape[-1]))

    for block in model.blocks:
        ffn = block.ffn
        if hasattr(ffn, "preactivations") and ffn.activation_modules():  # MoE: experts see the rows routed to them
            first = len(pairs)
            pairs += [(a, []) for a in ffn.activation_modules()]

            def routed(m, args, first=first) -> None:  # a pre-hook that returns None leaves the input alone
                for e, h in enumerate(m.preactivations(args[0])):
                    keep(first + e, h)

            hooks.append(ffn.register_forward_pre_hook(routed))
        elif getattr(ffn, "act", None) is not None:
            i = len(pairs)
            pairs.append((getattr(ffn.act, "inner", ffn.act), []))
            hooks.append(ffn.act.register_forward_pre_hook(lambda _m, args, i=i: keep(i, args[0])))
    model.eval()
    try:
        with torch.no_grad():
            for x, _ in batches:
                model(x.to(device))
    finally:
        for h in hooks:
            h.remove()
        model.train()
    return [(a, torch.cat(xs)) for a, xs in pairs]


def model_probe(model, batches: list[tuple[Tensor, Tensor]], device: str = "cpu") -> list[dict]:
    """``probe`` of every PolyCom activation of ``model`` (layer by layer, expert by expert) on its real inputs."""
    return [probe(a, x).as_dict() for a, x in preactivations(model, batches, device) if isinstance(a, PolyCom)]
