"""Evaluate an exported Theorem 3 network at many points, term block by term block (docs/theory.md §5).

The per-neuron network is a feature layer (hats ψ_{k,m} and the identity), then one product tree per
term (m, α), then Σ_t c_t · tree_t. A layer-by-layer pass costs points × width, and the width is
(N+1)^d × (terms per node) × (units per tree): 10^4-10^5 for the networks of the scale benchmark.
At a point x, φ_m(x) = 0 unless m is one of the 2^d corners of x's grid cell, and the tree of a
term with φ_m(x) = 0 is exactly zero there (one of its factors is ψ_{k,m_k}(x_k) = 0 and the products
are exact). So, grouped by grid cell, the points need only the rows and columns of the exported
weights that belong to the 2^d × (terms per node) active trees: the same weights and arithmetic,
points × (active units) work. A skipped tree's units need not be zero, but its output is, exactly,
for the construction's weights (and to rounding in the layered pass; the tests compare the two).
"""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import scipy.sparse as sp
import torch

from approx.layered import LayeredNetwork, SparseLinear
from theory.theorem3 import Theorem3Network


def _csr(affine: torch.nn.Linear | SparseLinear) -> sp.csr_matrix:
    w = affine.weight.detach().to(torch.float64).cpu()
    if w.is_sparse:
        w = w.coalesce()
        i = w.indices().numpy()
        return sp.csr_matrix((w.values().numpy(), (i[0], i[1])), shape=tuple(w.shape))
    return sp.csr_matrix(w.numpy())


def _coeffs(c: torch.Tensor | None) -> np.ndarray | None:
    return None if c is None else c.detach().to(torch.float64).cpu().numpy()


def _horner(z: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Σ_i c[..., i] z^i, c (k,) or (units, k) against z (points, units)."""
    y = np.broadcast_to(c[..., -1], z.shape).copy()
    for i in range(c.shape[-1] - 2, -1, -1):
        y = y * z + c[..., i]
    return y


def active_nodes(built: Theorem3Network) -> list[list[int]]:
    """For cell i of an axis ([i/N, (i+1)/N]), the nodes m whose ψ(sN x − s m) is not identically 0 on it."""
    part = built.approximant.partition
    rho, s, N = part.psi.support_radius(), part.scale, part.N
    return [[m for m in range(N + 1) if s * m - rho < s * (i + 1) and s * m + rho > s * i] for i in range(N)]


class BlockEvaluator:
    """``BlockEvaluator(built, module)(X)``: the exported per-neuron network at the rows of X (numpy, float64)."""

    def __init__(self, built: Theorem3Network, module: LayeredNetwork):
        if built.blocks is None:
            raise ValueError(f"block evaluation needs the per_neuron form, got {built.form!r}")
        self.N, self.d = built.N, built.target.d
        self.weights = [_csr(a) for a in module.layers]
        self.biases = [a.bias.detach().to(torch.float64).cpu().numpy() for a in module.layers]
        self.acts = [(_coeffs(a.relu_coeffs), _coeffs(a.poly_coeffs)) for a in module.pointwise]
        if len(self.weights) != len(built.blocks.ranges) + 2:
            raise ValueError("the module does not have the layers of this construction")
        self.inputs = built.blocks.inputs
        self.ranges = built.blocks.ranges
        self.terms_at: dict[tuple[int, ...], list[int]] = {}
        for t, (m, _) in enumerate(built.terms):
            self.terms_at.setdefault(tuple(m), []).append(t)
        self.axis_nodes = active_nodes(built)

    def _activation(self, layer: int, z: np.ndarray, units: np.ndarray) -> np.ndarray:
        relu_c, poly_c = self.acts[layer]
        y = np.zeros_like(z)
        for c, v in ((relu_c, np.maximum(z, 0.0)), (poly_c, z)):
            if c is not None:
                y = y + _horner(v, c[units] if c.ndim == 2 else c)
        return y

    def units(self, cell: tuple[int, ...]) -> list[np.ndarray]:
        """The units to evaluate on a cell, per layer: the active terms' inputs and tree blocks, and the output."""
        terms = [t for m in itertools.product(*(self.axis_nodes[i] for i in cell)) for t in self.terms_at.get(m, [])]
        first = np.unique(np.fromiter((j for t in terms for j in self.inputs[t]), dtype=np.int64))
        blocks = [np.concatenate([np.arange(*layer[t]) for t in terms]) for layer in self.ranges]
        return [first, *blocks, np.zeros(1, dtype=np.int64)]

    def _cell_pass(self, X: np.ndarray, units: list[np.ndarray]) -> np.ndarray:
        h, cols = X, np.arange(self.d)
        for layer, rows in enumerate(units):
            w = self.weights[layer][rows][:, cols].toarray()
            h = h @ w.T + self.biases[layer][rows]
            if layer < len(self.acts):
                h = self._activation(layer, h, rows)
            cols = rows
        return h[:, 0]

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise ValueError(f"points must have shape (n, {self.d}), got {X.shape}")
        cells = np.clip(np.floor(X * self.N).astype(np.int64), 0, self.N - 1)
        keys = np.ravel_multi_index(cells.T, (self.N,) * self.d)
        order = np.argsort(keys, kind="stable")
        bounds = np.flatnonzero(np.diff(keys[order])) + 1
        out = np.empty(len(X))
        for group in np.split(order, bounds):
            if len(group):
                cell = tuple(int(c) for c in cells[group[0]])
                out[group] = self._cell_pass(X[group], self.units(cell))
        return out


def exact_zero_outside(built: Theorem3Network, x: tuple[Fraction, ...]) -> bool:
    """True if every node the evaluator skips at x has φ_m(x) = 0 exactly (what the skipping relies on)."""
    part = built.approximant.partition
    cell = tuple(min(int(Fraction(xk) * built.N), built.N - 1) for xk in x)
    kept = set(itertools.product(*(active_nodes(built)[i] for i in cell)))
    return all(m in kept for m in part.active(x))
