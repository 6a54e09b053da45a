"""Variable projection for the readout (docs/theory.md §7): the output layer solved exactly.

A network's output is linear in its readout, f(x) = Φ(x)·w + b with Φ the last hidden layer, so for
fixed hidden weights the best (w, b) in least squares is one linear solve. :func:`solve_readout`
returns θ with that readout. Its training loss is the *floor* of the trained features: no optimiser
can reach lower without moving the hidden layers, so trained loss − floor is pure optimisation error
in the readout, and the floor's own error is what the features can express.
"""

from __future__ import annotations

import torch
from torch import Tensor

from approx.fitting.models import Architecture


def solve_readout(arch: Architecture, theta: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """θ (M, P) with each model's readout replaced by the least-squares solution on (x, y), in float64."""
    with torch.no_grad():
        phi = arch.features(theta, x).double()
        design = torch.cat([phi, torch.ones_like(phi[..., :1])], -1)  # (M, N, width + 1)
        target = y.double().expand(theta.shape[0], -1)[..., None]
        if design.device.type == "cpu":  # rank-revealing (SVD) solve: dead or duplicate units are fine
            coef = torch.linalg.lstsq(design, target, driver="gelsd").solution[..., 0]
        else:
            coef = (torch.linalg.pinv(design) @ target)[..., 0]
        out = theta.clone()
        out[:, arch.readout_slice()] = coef.to(theta.dtype)
        return out
