"""Function-preserving growth: a deeper or a wider network that starts exactly where a smaller fit ended.

- :func:`deepen` inserts a hidden layer before the readout that is the identity on the data's range:
  z ↦ σ(z + c) with c_j = margin − min_x z_j(x) ≥ 0, so that σ(z + c) = z + c wherever σ is the
  identity beyond its margin (ReLU, PolyReLU at a = e₁, a polynomial at a = e₁: exactly; GELU beyond
  9: to 1e-18), and the readout's bias takes back w·c. The depth-(L+1) network equals the depth-L
  one on every point where z + c ≥ margin, in particular on x (docs/theory.md §7).
- :func:`widen` adds units to every hidden layer with fresh incoming weights and zero outgoing ones
  (Net2Net's function-preserving growth, in its simplest form): the wider network computes the same
  function everywhere, for any pointwise activation. PolyNorm normalises over the layer, so a new
  unit changes every old one. There, with ρ = old/new width, the old pre-activations are scaled by
  1/√ρ and the coefficients a_i (i ≥ 1) by √ρ, and the new units start quiet (incoming weights and
  biases times :data:`QUIET`). Then N(h) is unchanged and N(h^i) sees ε·ρ^{i−1} in place of ε; with
  the quiet units' share, the network moves by a relative ~ε/mean(h^{2i}) + QUIET² (docs/theory.md §7).

Each returns a new architecture and parameter rows; the rows of a stack grow together.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from approx.fitting.models import Architecture


def can_deepen(arch: Architecture) -> bool:
    """True when a layer of the activation can be the identity on the data's range."""
    return arch.activation.family.identity_margin is not None


def deepen(arch: Architecture, theta: Tensor, x: Tensor) -> tuple[Architecture, Tensor]:
    """The depth-(L+1) architecture and rows computing what ``theta`` computes at the points ``x``.

    ``x`` (N, d) or (M, N, d): the points the identity must hold on (training points, or a grid of
    the domain to hold on all of it).
    """
    margin = arch.activation.family.identity_margin
    if margin is None:
        raise ValueError(f"{arch.activation.label}: no layer of it is the identity, so it cannot be deepened")
    deeper = dataclasses.replace(arch, depth=arch.depth + 1)
    M, L, w = theta.shape[0], arch.depth, arch.width
    with torch.no_grad():
        z = arch.features(theta, x)  # (M, N, w): the last hidden layer, the new layer's input
        shift = (margin - z.amin(1)).clamp(min=margin)  # (M, w): z + shift >= margin on x
    old = arch.unpack(theta)
    out = torch.zeros(M, deeper.size, dtype=theta.dtype, device=theta.device)
    new = deeper.unpack(out)
    for name in old:  # layers 0..L-1 unchanged; the old readout becomes layer L+1's
        if name[1:] != str(L):
            new[name].copy_(old[name])
    new[f"W{L}"].copy_(torch.eye(w, dtype=theta.dtype, device=theta.device).expand(M, w, w))
    new[f"b{L}"].copy_(shift)
    if arch.activation.learnable:
        new[f"a{L}"][..., 1] = 1.0  # σ = ReLU (PolyReLU) or the identity (polynomial)
    W = old[f"W{L}"]  # (M, w, 1)
    new[f"W{L + 1}"].copy_(W)
    new[f"b{L + 1}"].copy_(old[f"b{L}"] - (shift[:, None, :] @ W)[:, 0])
    return deeper, out


#: the scale of a new PolyNorm unit's incoming weights and bias in :func:`widen`: small, so that the
#: layer's mean of h^{2i} barely moves, not zero, so that the new units are not a saddle LM cannot leave
QUIET = 1e-3


def can_widen(arch: Architecture) -> bool:
    """True for pointwise activations (a unit with zero outgoing weights changes no other unit) and for
    PolyNorm (nearly: :func:`widen`)."""
    from approx.activations import is_pointwise

    return arch.activation.family.layer_normalised or is_pointwise(arch.activation.module(arch.width))


def widen(
    arch: Architecture, theta: Tensor, width: int, seeds: list[int], quiet: float = QUIET
) -> tuple[Architecture, Tensor]:
    """The width-``width`` architecture and rows computing what ``theta`` computes: everywhere for a
    pointwise activation, and for PolyNorm up to ε's and the quiet units' share (module docstring).

    New units get the wider network's fresh start (row m from seed m) for their incoming weights and
    biases (times ``quiet`` for PolyNorm), and zero weights into the old units above them;
    per-neuron coefficients of a new unit are the mean of its layer's.
    """
    if width < arch.width:
        raise ValueError(f"widen to {width} units: the network already has {arch.width}")
    if not can_widen(arch):
        raise ValueError(f"{arch.activation.label} cannot be widened")
    normalised = arch.activation.family.layer_normalised
    wider = dataclasses.replace(arch, width=width)
    out = wider.init(seeds, theta.dtype, str(theta.device))  # the new units' fresh weights
    old, new = arch.unpack(theta), wider.unpack(out)
    w = arch.width
    for layer in range(arch.depth + 1):
        W = old[f"W{layer}"]  # (M, fan_in, fan_out)
        if layer > 0:
            new[f"W{layer}"][:, w:, :w] = 0.0  # new units below feed no old unit
        if layer == arch.depth:
            new[f"W{layer}"][:, w:, :] = 0.0  # nor the readout
        new[f"W{layer}"][:, : W.shape[1], : W.shape[2]] = W
        new[f"b{layer}"][:, : W.shape[2]] = old[f"b{layer}"]
        if normalised and layer < arch.depth:  # old h → h·√(width/w): N(h) exact again, N(h^i) nearly
            for block in (new[f"W{layer}"], new[f"b{layer}"][:, None]):
                block[..., :w] *= math.sqrt(width / w)
                block[..., w:] *= quiet
        a = old.get(f"a{layer}")
        if a is not None:
            per_neuron = a.dim() == 3  # (M, w, r+1); shared: (M, r+1)
            new[f"a{layer}"].copy_(
                torch.cat([a, a.mean(1, keepdim=True).expand(-1, width - w, -1)], 1) if per_neuron else a
            )
            if normalised:  # N(c^i h^i) = N(h^i)/√ρ with ε·ρ^{i−1} for ε, ρ = w/width
                new[f"a{layer}"][..., 1:] *= math.sqrt(w / width)
    return wider, out
