"""Networks trained on a fixed sparsity pattern: a construction's nonzeros are the only parameters (docs/theory.md §7).

``PatternNetwork.of(layered)`` takes a :class:`approx.layered.LayeredNetwork` (a construction exported
by ``theory.export``) and keeps, per affine map, the positions of its nonzero weights and biases. Those
values are the parameters; every other entry is zero for good, so the parameter count *is* the
construction's nonzero count, and training cannot leave the pattern. The activations (PolyReLU e_1/e_2,
ReLU, ReLU²) keep their coefficients. A layer multiplies densely (faster at the widths trained here)
and sparsely above :data:`DENSE_ENTRIES` entries, where a dense weight would not fit.

``random_like`` draws new values on the same pattern; ``solve_readout`` sets the last layer's values to
the least-squares solution on given points; ``train`` runs Adam, then ``torch.optim.LBFGS`` with a
strong-Wolfe line search, on the mean squared error.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import cast

import torch
from torch import Tensor, nn

from approx.layered import LayeredNetwork, SparseLinear

DENSE_ENTRIES = 4_000_000  # a layer with more entries than this multiplies sparse


class PatternLinear(nn.Module):
    """z = W x + b where only W[rows, cols] and b[bias_rows] may be nonzero."""

    index: Tensor
    bias_index: Tensor

    def __init__(self, shape: tuple[int, int], index: Tensor, values: Tensor, bias_index: Tensor, bias: Tensor):
        super().__init__()
        self.shape = shape
        self.register_buffer("index", index)
        self.register_buffer("bias_index", bias_index)
        self.values = nn.Parameter(values)
        self.bias = nn.Parameter(bias)

    @classmethod
    def of(cls, affine: nn.Linear | SparseLinear) -> PatternLinear:
        weight = affine.weight.detach()
        weight = weight.coalesce().to_dense() if weight.is_sparse else weight
        bias = affine.bias.detach()
        index = weight.nonzero().T
        bias_index = bias.nonzero().reshape(-1)
        shape = (int(weight.shape[0]), int(weight.shape[1]))
        return cls(shape, index, weight[index[0], index[1]].clone(), bias_index, bias[bias_index].clone())

    @property
    def count(self) -> int:
        return self.values.numel() + self.bias.numel()

    def weight(self) -> Tensor:
        """W, dense: a dense product beats a sparse one at these widths; sparse above DENSE_ENTRIES."""
        if self.shape[0] * self.shape[1] > DENSE_ENTRIES:
            return torch.sparse_coo_tensor(self.index, self.values, self.shape, check_invariants=False).coalesce()
        return self.values.new_zeros(self.shape).index_put((self.index[0], self.index[1]), self.values)

    def forward(self, x: Tensor) -> Tensor:
        flat = x.reshape(-1, x.shape[-1])
        weight = self.weight()
        z = torch.sparse.mm(weight, flat.T).T if weight.is_sparse else flat @ weight.T
        z = z.index_add(1, self.bias_index, self.bias.expand(len(flat), -1))
        return z.reshape(*x.shape[:-1], self.shape[0])


class PatternNetwork(nn.Module):
    """A layered network whose trainable entries are the nonzeros of a given one (module docstring)."""

    def __init__(self, linears: list[PatternLinear], activations: list[nn.Module]):
        super().__init__()
        self.linears = nn.ModuleList(linears)
        self.activations = nn.ModuleList(activations)
        for p in self.activations.parameters():
            p.requires_grad_(False)  # the activation coefficients are part of the construction

    @classmethod
    def of(cls, net: LayeredNetwork) -> PatternNetwork:
        affines = [a for a in net.affines if isinstance(a, nn.Linear | SparseLinear)]
        if len(affines) != len(net.affines):
            raise TypeError("a pattern network is built from nn.Linear / SparseLinear layers")
        return cls([PatternLinear.of(a) for a in affines], list(net.activations))

    @property
    def layers(self) -> list[PatternLinear]:
        """The affine maps, typed (``self.linears`` is the ModuleList that registers them)."""
        return [cast(PatternLinear, m) for m in self.linears]

    @property
    def count(self) -> int:
        """Trainable entries: the nonzero weights and biases of the pattern."""
        return sum(layer.count for layer in self.layers)

    def hidden(self, x: Tensor) -> Tensor:
        """The last hidden layer's outputs (the readout's inputs)."""
        for linear, act in zip(self.layers[:-1], self.activations, strict=True):
            x = act(linear(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.layers[-1](self.hidden(x))


def random_like(net: PatternNetwork, seed: int) -> PatternNetwork:
    """The same pattern with new values: N(0, 1/k) for weights, k the mean nonzeros per row; biases N(0, 1)·0.1."""
    gen = torch.Generator().manual_seed(seed)
    linears = []
    for layer in net.layers:
        per_row = max(1.0, layer.values.numel() / max(1, len(torch.unique(layer.index[0]))))
        values = torch.randn(layer.values.shape, generator=gen, dtype=layer.values.dtype) / math.sqrt(per_row)
        bias = 0.1 * torch.randn(layer.bias.shape, generator=gen, dtype=layer.bias.dtype)
        linears.append(PatternLinear(layer.shape, layer.index, values, layer.bias_index, bias))
    return PatternNetwork(linears, list(net.activations))


def solve_readout(net: PatternNetwork, x: Tensor, y: Tensor) -> None:
    """Set the last layer's values and bias to the least-squares fit of y on its nonzero inputs (in place).

    The readout is linear in its values, so this is the best last layer for the hidden features
    on these points (scalar output).
    """
    last = net.layers[-1]
    if last.shape[0] != 1:
        raise ValueError("solve_readout needs a scalar output")
    with torch.no_grad():
        h = net.hidden(x).reshape(len(x), -1)
        columns = [h[:, last.index[1]]]
        if last.bias.numel():
            columns.append(torch.ones(len(x), 1, dtype=h.dtype))
        A = torch.cat(columns, dim=1)
        solution = torch.linalg.lstsq(A, y.reshape(-1, 1).to(A.dtype), driver="gelsd").solution.reshape(-1)
        last.values.copy_(solution[: last.values.numel()])
        if last.bias.numel():
            last.bias.copy_(solution[-1:])


@dataclass(frozen=True)
class Schedule:
    """Adam for ``adam`` steps at ``lr``, then up to ``lbfgs`` strong-Wolfe L-BFGS iterations."""

    adam: int = 1000
    lr: float = 1e-3
    lbfgs: int = 1000


def train(net: PatternNetwork, x: Tensor, y: Tensor, schedule: Schedule = Schedule()) -> float:
    """Minimise the mean squared error on (x, y) inside the pattern; returns the seconds taken."""
    params = [p for p in net.parameters() if p.requires_grad]
    y = y.reshape(-1)

    def loss() -> Tensor:
        return (net(x).reshape(-1) - y).square().mean()

    start = time.perf_counter()
    opt = torch.optim.Adam(params, lr=schedule.lr)
    for _ in range(schedule.adam):
        opt.zero_grad()
        loss().backward()
        opt.step()
    if schedule.lbfgs:
        lb = torch.optim.LBFGS(
            params,
            lr=1.0,
            max_iter=schedule.lbfgs,
            history_size=50,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-14,
            tolerance_change=1e-16,
        )

        def closure() -> Tensor:
            lb.zero_grad()
            value = loss()
            value.backward()
            return value

        lb.step(closure)
    return time.perf_counter() - start


__all__ = ["PatternLinear", "PatternNetwork", "Schedule", "random_like", "solve_readout", "train"]
