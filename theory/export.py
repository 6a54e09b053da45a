"""Export an exact network to a float64 torch module (``approx.layered``); the only torch in ``theory/``.

Each exact weight is rounded once to the nearest float (correctly rounded for rationals); nothing else
changes. A hidden layer whose neurons share one activation exports one shared coefficient vector
(the paper's convention), otherwise one row per neuron. For a network whose hidden layers are each
of one kind and one order, ``sum(p.numel() for p in module.parameters())`` equals
``net.sizes().dense_parameters`` (dense export).

API
- ``to_torch(net, dtype=torch.float64, sparse=None) -> LayeredNetwork``; ``sparse=None`` picks sparse
  COO weights for a layer when it has over 10^6 dense entries and under 10% of them nonzero.
- ``points_tensor(points, dtype)``: exact points as a float tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from approx.layered import LayeredNetwork, PointwiseActivation, SparseLinear
from theory.activation import Activation
from theory.exact_numbers import Exact, to_float
from theory.network import Affine, Network

SPARSE_MIN_ENTRIES = 1_000_000
SPARSE_MAX_DENSITY = 0.1


def _affine(aff: Affine, dtype: torch.dtype, sparse: bool | None) -> torch.nn.Module:
    nnz = aff.nonzero_weights
    if sparse is None:
        entries = aff.in_dim * aff.out_dim
        sparse = entries > SPARSE_MIN_ENTRIES and nnz < SPARSE_MAX_DENSITY * entries
    bias = torch.tensor([to_float(b) for b in aff.bias], dtype=dtype)
    rows, cols, vals = [], [], []
    for i, row in enumerate(aff.rows):
        for j, v in row.items():
            rows.append(i)
            cols.append(j)
            vals.append(to_float(v))
    if sparse:
        w = torch.sparse_coo_tensor(
            torch.tensor([rows, cols], dtype=torch.long).reshape(2, nnz),
            torch.tensor(vals, dtype=dtype),
            (aff.out_dim, aff.in_dim),
            check_invariants=True,
        )
        return SparseLinear(w, bias)
    lin = torch.nn.Linear(aff.in_dim, aff.out_dim, dtype=dtype)
    with torch.no_grad():
        weight = torch.zeros(aff.out_dim, aff.in_dim, dtype=dtype)
        if nnz:
            weight[torch.tensor(rows), torch.tensor(cols)] = torch.tensor(vals, dtype=dtype)
        lin.weight.copy_(weight)
        lin.bias.copy_(bias)
    return lin


def _rows(coeffs: Sequence[Sequence[Exact] | None], dtype: torch.dtype) -> torch.Tensor | None:
    """Stack coefficient rows (None = this neuron has none of this kind) padded with zeros."""
    if all(c is None for c in coeffs):
        return None
    k = max(len(c) for c in coeffs if c is not None)
    floats: dict[Sequence[Exact], list[float]] = {}  # neurons usually repeat a few vectors
    rows = []
    for c in coeffs:
        if c is None:
            rows.append([0.0] * k)
            continue
        if c not in floats:
            floats[c] = [to_float(v) for v in c] + [0.0] * (k - len(c))
        rows.append(floats[c])
    return torch.tensor(rows, dtype=dtype)


def _activation(layer: Sequence[Activation], shared: bool, dtype: torch.dtype) -> PointwiseActivation:
    unique = [layer[0]] if shared else list(layer)
    relu_rows = _rows([a.relu_coefficients for a in unique], dtype)
    poly_rows = _rows([a.polynomial_coefficients for a in unique], dtype)
    if shared:
        relu_rows = None if relu_rows is None else relu_rows[0]
        poly_rows = None if poly_rows is None else poly_rows[0]
    trainable = any(a.trainable for a in unique)
    return PointwiseActivation(relu_rows, poly_rows, trainable)


def to_torch(net: Network, dtype: torch.dtype = torch.float64, sparse: bool | None = None) -> LayeredNetwork:
    """The float twin of ``net``: same architecture, weights rounded to ``dtype``."""
    affines = [_affine(a, dtype, sparse) for a in net.affines]
    acts = [_activation(layer, s, dtype) for layer, s in zip(net.activations, net.shared, strict=True)]
    return LayeredNetwork(affines, acts)


def points_tensor(points: Sequence[Sequence[Exact]], dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.tensor([[to_float(v) for v in p] for p in points], dtype=dtype)
