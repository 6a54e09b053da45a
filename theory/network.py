"""Exact feed-forward networks and their sizes (docs/theory.md §2), in the style of Berner et al.

A network is x -> A_1 -> σ_1 -> A_2 -> σ_2 -> ... -> A_L: L affine layers, an activation after every
one but the last. Weights are exact (``theory.exact_numbers``) and stored sparsely, one dict per row,
so networks with 10^5 neurons stay cheap; rational networks evaluate in pure ``Fraction`` arithmetic.

API
- ``Affine(in_dim, rows, bias)``: z_i = b_i + Σ_j W_ij x_j, ``rows[i] = {j: W_ij}`` with no zeros.
  ``Affine.from_dense(W, b)``, ``Affine.from_rows(in_dim, rows, bias)`` (both convert exactly,
  ``floats="refuse"`` to reject floats), ``.dense()``, ``.columns()``, ``aff(x)``.
- ``Network(affines, activations, shared=None)``: ``activations[l]`` is one ``Activation`` per neuron
  of hidden layer l (or a single ``Activation`` for all). ``shared[l]`` says the layer stores one
  coefficient vector (the paper's convention) rather than one per neuron; by default a layer is
  shared when all its neurons have the same activation. ``Network.build(...)`` is a friendlier
  constructor (dense matrices, one activation per layer).
  - ``net(x)``: exact outputs at an exact point; ``net.evaluate_many(points)``.
  - ``net.closed_form(symbols)``: SymPy expressions with ``ReLU`` (small networks only).
  - ``net.sizes()`` -> ``Sizes``; ``net.is_rational``; ``net.in_dim``, ``net.out_dim``, ``net.depth``.
  - ``net.with_affine(l, aff)``: copy with one affine layer replaced;
    ``net.perturbed(l, row, column, delta)``: copy with W_l[row, column] (column None: the bias) + delta.
    Both exist to break constructions on purpose and see the certificates fail.
- ``Sizes``: depth (affine layers), hidden_layers, width (largest hidden layer), neurons (hidden units),
  nonzero_weights, nonzero_biases, nonzero_parameters (their sum, Yarotsky's count),
  activation_coefficients, dense_parameters (what ``sum(p.numel())`` of the dense torch export gives).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction

import sympy

from theory.activation import Activation
from theory.exact_numbers import Exact, exact, is_rational, to_sympy

CLOSED_FORM_MAX_NEURONS = 64  # past this a SymPy closed form is a giant tree: evaluate exactly instead


@dataclass(frozen=True, eq=False)
class Affine:
    """z = W x + b with exact, sparse rows."""

    in_dim: int
    rows: tuple[dict[int, Exact], ...]
    bias: tuple[Exact, ...]

    def __post_init__(self):
        if len(self.rows) != len(self.bias):
            raise ValueError(f"affine layer has {len(self.rows)} rows but {len(self.bias)} biases")
        if self.in_dim < 1 or not self.rows:
            raise ValueError(f"affine layer needs in_dim >= 1 and >= 1 row, got {self.in_dim}x{len(self.rows)}")

    @property
    def out_dim(self) -> int:
        return len(self.rows)

    @classmethod
    def from_rows(cls, in_dim: int, rows: Iterable[Mapping[int, object]], bias=None, floats: str = "exact") -> Affine:
        """Rows as ``{column: value}`` dicts; values converted exactly, zeros dropped, columns checked."""
        clean = []
        for i, row in enumerate(rows):
            out = {}
            for j, v in row.items():
                if not 0 <= j < in_dim:
                    raise ValueError(f"row {i} has column {j} outside 0..{in_dim - 1}")
                v = exact(v, floats)
                if v != 0:
                    out[int(j)] = v
            clean.append(out)
        bias = [0] * len(clean) if bias is None else list(bias)
        return cls(int(in_dim), tuple(clean), tuple(exact(b, floats) for b in bias))

    @classmethod
    def from_dense(cls, W: Sequence[Sequence[object]], b=None, floats: str = "exact") -> Affine:
        W = [list(row) for row in W]
        if not W or not W[0] or any(len(row) != len(W[0]) for row in W):
            raise ValueError("weight matrix must be a non-empty rectangle (list of equal-length rows)")
        return cls.from_rows(len(W[0]), [dict(enumerate(row)) for row in W], b, floats)

    def dense(self) -> list[list[Exact]]:
        zero = Fraction(0)
        return [[row.get(j, zero) for j in range(self.in_dim)] for row in self.rows]

    def columns(self) -> list[dict[int, Exact]]:
        """Column view: ``columns()[j] = {i: W_ij}``."""
        cols: list[dict[int, Exact]] = [{} for _ in range(self.in_dim)]
        for i, row in enumerate(self.rows):
            for j, v in row.items():
                cols[j][i] = v
        return cols

    def __call__(self, x: Sequence[Exact]) -> list[Exact]:
        return [
            b + sum((v * x[j] for j, v in row.items()), Fraction(0))
            for row, b in zip(self.rows, self.bias, strict=True)
        ]

    @property
    def nonzero_weights(self) -> int:
        return sum(len(row) for row in self.rows)

    @property
    def nonzero_biases(self) -> int:
        return sum(1 for b in self.bias if b != 0)

    def is_rational(self) -> bool:
        return all(is_rational(b) for b in self.bias) and all(is_rational(v) for row in self.rows for v in row.values())


@dataclass(frozen=True)
class Sizes:
    """Every size measure of docs/theory.md §2; ``depth`` counts affine layers."""

    in_dim: int
    out_dim: int
    depth: int
    hidden_layers: int
    width: int
    neurons: int
    nonzero_weights: int
    nonzero_biases: int
    nonzero_parameters: int
    activation_coefficients: int
    dense_parameters: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def same_network(a: Network, b: Network) -> bool:
    """Exactly the same layers: weights, biases and activations (not merely the same function)."""
    if len(a.affines) != len(b.affines) or a.activations != b.activations:
        return False
    pairs = zip(a.affines, b.affines, strict=True)
    return all((x.in_dim, x.rows, x.bias) == (y.in_dim, y.rows, y.bias) for x, y in pairs)


class Network:
    """x -> A_1 -> σ_1 -> ... -> σ_{L-1} -> A_L with exact sparse affine layers and per-neuron activations."""

    __slots__ = ("affines", "activations", "shared", "_rational")

    def __init__(
        self,
        affines: Sequence[Affine],
        activations: Sequence[Sequence[Activation] | Activation],
        shared: Sequence[bool] | None = None,
    ):
        affines = tuple(affines)
        if not affines:
            raise ValueError("a network needs at least one affine layer")
        if len(activations) != len(affines) - 1:
            raise ValueError(f"{len(affines)} affine layers need {len(affines) - 1} activation layers")
        acts = []
        for l, (aff, layer) in enumerate(zip(affines[:-1], activations, strict=True)):
            layer = (layer,) * aff.out_dim if isinstance(layer, Activation) else tuple(layer)
            if len(layer) != aff.out_dim:
                raise ValueError(f"hidden layer {l + 1} has {aff.out_dim} neurons but {len(layer)} activations")
            acts.append(layer)
        for l in range(1, len(affines)):
            if affines[l].in_dim != affines[l - 1].out_dim:
                raise ValueError(
                    f"affine layer {l + 1} takes {affines[l].in_dim} inputs "
                    f"but layer {l} gives {affines[l - 1].out_dim}"
                )
        uniform = [all(a == layer[0] for a in layer) for layer in acts]
        if shared is None:
            shared = uniform
        shared = tuple(bool(s) for s in shared)
        if len(shared) != len(acts):
            raise ValueError(f"shared needs one flag per hidden layer ({len(acts)}), got {len(shared)}")
        for l, (s, u) in enumerate(zip(shared, uniform, strict=True)):
            if s and not u:
                raise ValueError(f"hidden layer {l + 1} is marked shared but its neurons' activations differ")
        self.affines: tuple[Affine, ...] = affines
        self.activations: tuple[tuple[Activation, ...], ...] = tuple(acts)
        self.shared: tuple[bool, ...] = shared
        self._rational: bool | None = None

    @classmethod
    def build(cls, layers: Sequence[tuple], activations: Sequence, shared=None, floats: str = "exact") -> Network:
        """From dense ``[(W_1, b_1), ..., (W_L, b_L)]`` and one activation (or a list) per hidden layer."""
        return cls([Affine.from_dense(W, b, floats) for W, b in layers], activations, shared)

    # -- shape
    @property
    def in_dim(self) -> int:
        return self.affines[0].in_dim

    @property
    def out_dim(self) -> int:
        return self.affines[-1].out_dim

    @property
    def depth(self) -> int:
        """Number of affine layers (hidden layers + 1)."""
        return len(self.affines)

    @property
    def is_rational(self) -> bool:
        if self._rational is None:
            self._rational = all(a.is_rational() for a in self.affines) and all(
                all(is_rational(c) for c in act.coeffs) for layer in self.activations for act in set(layer)
            )
        return self._rational

    def with_affine(self, l: int, affine: Affine) -> Network:
        """A copy whose affine layer ``l`` (0-based) is replaced."""
        affines = list(self.affines)
        affines[l] = affine
        return Network(affines, self.activations, self.shared)

    def perturbed(self, l: int, row: int, column: int | None, delta: object) -> Network:
        """A copy with weight (l, row, column) or, for ``column=None``, bias (l, row) moved by ``delta``."""
        aff = self.affines[l]
        delta = exact(delta)
        rows, bias = [dict(r) for r in aff.rows], list(aff.bias)
        if column is None:
            bias[row] = bias[row] + delta
        else:
            rows[row][column] = rows[row].get(column, 0) + delta
            rows[row] = {j: v for j, v in rows[row].items() if v != 0}
        return self.with_affine(l, Affine(aff.in_dim, tuple(rows), tuple(bias)))

    # -- sizes
    def sizes(self) -> Sizes:
        hidden = [aff.out_dim for aff in self.affines[:-1]]
        weights = sum(a.nonzero_weights for a in self.affines)
        biases = sum(a.nonzero_biases for a in self.affines)
        coeffs = 0
        for layer, s in zip(self.activations, self.shared, strict=True):
            coeffs += layer[0].trainable if s else sum(a.trainable for a in layer)
        dense = sum(a.in_dim * a.out_dim + a.out_dim for a in self.affines) + coeffs
        return Sizes(
            in_dim=self.in_dim,
            out_dim=self.out_dim,
            depth=self.depth,
            hidden_layers=len(hidden),
            width=max(hidden, default=0),
            neurons=sum(hidden),
            nonzero_weights=weights,
            nonzero_biases=biases,
            nonzero_parameters=weights + biases,
            activation_coefficients=coeffs,
            dense_parameters=dense,
        )

    # -- exact evaluation
    def __call__(self, x: Sequence[object]) -> list[Exact]:
        """Exact outputs at the exact point ``x`` (floats are read as their exact binary fractions)."""
        if len(x) != self.in_dim:
            raise ValueError(f"network takes {self.in_dim} inputs, got {len(x)}")
        h = [exact(v) for v in x]
        symbolic = not (self.is_rational and all(is_rational(v) for v in h))
        if symbolic:
            h = [to_sympy(v) for v in h]
        for aff, layer in zip(self.affines[:-1], self.activations, strict=True):
            z = aff(h)
            if symbolic:  # keep algebraic values in a canonical, small form
                z = [sympy.expand(to_sympy(v)) for v in z]
            h = [act(v) for act, v in zip(layer, z, strict=True)]
        out = self.affines[-1](h)
        return [sympy.expand(to_sympy(v)) for v in out] if symbolic else out

    def evaluate_many(self, points: Iterable[Sequence[object]]) -> list[list[Exact]]:
        """``[net(x) for x in points]``; a rational network at rational points goes layer by layer over all
        points at once (pure Fraction arithmetic, no SymPy), which is how large grids are evaluated."""
        pts = [[exact(v) for v in p] for p in points]
        if any(len(p) != self.in_dim for p in pts):
            raise ValueError(f"network takes {self.in_dim} inputs")
        if not pts or not (self.is_rational and all(is_rational(v) for p in pts for v in p)):
            return [self(p) for p in pts]
        n = len(pts)
        h = [list(col) for col in zip(*pts, strict=True)]  # h[j]: unit j at every point
        for l, aff in enumerate(self.affines):
            out = []
            for i, (row, b) in enumerate(zip(aff.rows, aff.bias, strict=True)):
                z = [b] * n
                for j, w in row.items():
                    z = [zi + w * v for zi, v in zip(z, h[j], strict=True)]
                out.append([self.activations[l][i](v) for v in z] if l < len(self.activations) else z)
            h = out
        return [list(values) for values in zip(*h, strict=True)]

    # -- closed form
    def closed_form(self, symbols: Sequence[sympy.Symbol] | None = None, max_neurons: int = CLOSED_FORM_MAX_NEURONS):
        """The outputs as SymPy expressions in ``symbols`` (default x1..xd, real), ReLU kept as ``ReLU``."""
        if self.sizes().neurons > max_neurons:
            raise ValueError(
                f"closed form refused for {self.sizes().neurons} neurons (> {max_neurons}): evaluate exactly instead"
            )
        if symbols is None:
            symbols = sympy.symbols(f"x1:{self.in_dim + 1}", real=True)
        if len(symbols) != self.in_dim:
            raise ValueError(f"network takes {self.in_dim} inputs, got {len(symbols)} symbols")
        h = list(symbols)
        for aff, layer in zip(self.affines[:-1], self.activations, strict=True):
            z = _symbolic_affine(aff, h)
            h = [act.sympy(v) for act, v in zip(layer, z, strict=True)]
        return _symbolic_affine(self.affines[-1], h)

    def __repr__(self) -> str:
        s = self.sizes()
        kinds = sorted({a.describe() for layer in self.activations for a in set(layer)})
        return (
            f"Network({s.in_dim}->{s.out_dim}, depth={s.depth}, width={s.width}, neurons={s.neurons}, "
            f"activations={', '.join(kinds) or 'none'})"
        )


def _symbolic_affine(aff: Affine, h: Sequence[sympy.Expr]) -> list[sympy.Expr]:
    return [
        to_sympy(b) + sympy.Add(*(to_sympy(v) * h[j] for j, v in row.items()))
        for row, b in zip(aff.rows, aff.bias, strict=True)
    ]
