"""Starting parameters: the uniform default, or breakpoints placed where the data are (docs/theory.md §7).

A ReLU-type unit (ReLU, ReLU^k, PolyReLU) is a polynomial on each side of the hyperplane where its
pre-activation vanishes. With the uniform default U(±1/√fan_in) many of those breakpoints fall outside
[0,1]^d, and a Gauss–Newton step cannot move a breakpoint that no data point sees. ``"kinks"``:

- first layer: unit j gets a random unit direction u_j and its hyperplane passes through the point c_j
  of an equidistributed set in the (rescaled) domain [−1,1]^d (evenly spaced midpoints in 1-D,
  scrambled Sobol points otherwise), so every breakpoint lies inside the domain;
- smooth activations with a knee or step (GELU, tanh, SiLU; ``"auto"`` tries this start beside the
  uniform one, approx/fitting/portfolio.py): the same hyperplanes, scaled so the pre-activation
  changes by 1 over :data:`KNEE_CELLS` cells of the grid (slope w^{1/d}/(2·KNEE_CELLS) in the
  rescaled domain): σ's knee or step sits at every grid point, as sharp as the grid is fine. Unit
  directions alone make every unit a wide, smooth function, nearly collinear with the rest, so new
  units add little a readout can use (benchmarks/smooth_knees.py);
- deeper layers: uniform weights, and each unit's bias makes its pre-activation vanish at its own
  Sobol point of the domain, so its breakpoint surface passes through the data too;
- PolyReLU coefficients start at a = e_r, i.e. σ = ReLU^r: a shallow network is then a spline of
  degree r with those knots (one truncated power (±(x − c_j))_+^r per unit), whose least-squares
  readout already approximates a smooth f to O(h^{r+1}) (docs/theory.md §7). The paper's start
  a_i = 1/r puts a first-order kink at every knot, and its best readout is only O(h²).
- the readout as in the default; weights stay O(1/√fan_in), so pre-activations stay O(1).

The start is worth keeping: an Adam phase at the default learning rate moves every breakpoint at
once and loses it, so :data:`approx.fitting.train.KINKS_SCHEDULE` solves the readout first and then
runs Levenberg–Marquardt, whose accepted steps only lower the loss.

Row m depends on seed m alone, as for :meth:`approx.fitting.models.Architecture.init`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from approx.fitting.models import Activation, Architecture

INITS = ("uniform", "kinks", "auto")
#: a smooth unit's knee spans about this many cells of the kinks grid (its pre-activation changes by 1)
KNEE_CELLS = 16


def resolve(scheme: str, activation: Activation) -> str:
    """The scheme a network of ``activation`` starts from: ``"auto"`` picks kinks for families with
    breakpoints (approx/activations/table.py), uniform for the rest."""
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; valid: {', '.join(INITS)}")
    if scheme == "auto":
        return "kinks" if activation.family.kinked else "uniform"
    return scheme


def initial_parameters(
    arch: Architecture, seeds: list[int], scheme: str = "uniform", dtype=torch.float64, device: str = "cpu"
) -> Tensor:
    """theta (M, P) for ``seeds`` under ``scheme`` (one of :data:`INITS`)."""
    scheme = resolve(scheme, arch.activation)
    theta = arch.init(seeds, torch.float64, "cpu")
    if scheme == "kinks":
        theta = torch.stack([_kinks(arch, row, seed) for row, seed in zip(theta, seeds, strict=True)])
    return theta.to(device=device, dtype=dtype)


def _kinks(arch: Architecture, row: Tensor, seed: int) -> Tensor:
    row = row.clone()
    g = torch.Generator().manual_seed(int(seed) + 7919)  # a stream apart from the uniform weights'
    blocks = arch.unpack(row[None])
    w, d = arch.width, arch.d_in
    u = torch.randn(d, w, generator=g, dtype=torch.float64)
    u = u / u.norm(dim=0, keepdim=True)
    if d == 1:
        centres = (-1 + (2 * torch.arange(w, dtype=torch.float64) + 1) / w)[:, None]
    else:
        centres = 2 * torch.quasirandom.SobolEngine(d, scramble=True, seed=int(seed)).draw(w, dtype=torch.float64) - 1
    scale = 1.0 if arch.activation.family.kinked else w ** (1 / d) / (2 * KNEE_CELLS)  # ReLU types: any scale
    blocks["W0"][0].copy_(scale * u)
    blocks["b0"][0].copy_(-scale * (centres * u.T).sum(1))
    if arch.activation.family.spline_start:
        for layer in range(arch.depth):
            a = blocks[f"a{layer}"][0]
            a.zero_()
            a[..., -1] = 1.0  # σ = ReLU^r: the spline start
    points = torch.quasirandom.SobolEngine(d, scramble=True, seed=int(seed) + 1).draw(w, dtype=torch.float64)
    for layer in range(1, arch.depth):
        bound = 1 / math.sqrt(w)
        W = (torch.rand(w, w, generator=g, dtype=torch.float64) * 2 - 1) * bound
        blocks[f"W{layer}"][0].copy_(W)
        blocks[f"b{layer}"][0].zero_()
        below = Architecture(d, w, layer, arch.activation)  # the layers under this one, any readout
        prefix = torch.cat([row[: below.size - w - 1], torch.zeros(w + 1, dtype=row.dtype)])
        feats = below.features(prefix[None], points)[0]  # (w points, w units)
        blocks[f"b{layer}"][0].copy_(-(feats * W.T).sum(1))  # unit j vanishes at point j
    return row
