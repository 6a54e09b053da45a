"""Network calculus (Berner, Grohs, Kutyniok, Petersen; docs/theory.md §2, §7): build big networks from small ones.

Every operation is exact and sparse, and its size effect is the classical one:
- ``compose(outer, inner)``: outer ∘ inner, merging inner's last and outer's first affine layer
  (depth L1 + L2 - 1; no new neurons).
- ``parallel(*nets)``: x -> (f_1(x), ..., f_k(x)) on a shared input; equal depths (see ``extend_depth``).
  Neurons, weights and biases add up.
- ``block_parallel(*nets)``: (x_1, ..., x_k) -> (f_1(x_1), ..., f_k(x_k)) on separate inputs.
- ``post_affine(net, W, b)`` / ``pre_affine(net, W, b)``: x -> W f(x) + b / x -> f(W x + b).
- ``affine_combination(nets, coeffs, bias)``: Σ_k c_k f_k + b (equal depths, equal output dims).
- ``sum_networks(*nets)``: Σ_k f_k.
- ``identity(dim, depth, activation)``: the identity map of the given depth (affine layers), through
  ReLU-type units u = ReLU(u) - ReLU(-u); ``activation`` may be ReLU, a PolyReLU with only a_0, a_1
  nonzero (a_1 != 0), or the identity activation. 2*dim neurons per hidden layer.
- ``extend_depth(net, depth, activation)``: the same function at a larger depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from theory.activation import Activation, relu
from theory.activation import identity as identity_activation
from theory.exact_numbers import Exact, exact
from theory.network import Affine, Network


def _affine_after(outer: Affine, inner: Affine) -> Affine:
    """outer ∘ inner as one affine map: W = W_o W_i, b = W_o b_i + b_o (sparse products)."""
    if outer.in_dim != inner.out_dim:
        raise ValueError(f"cannot compose: outer takes {outer.in_dim} inputs, inner gives {inner.out_dim}")
    rows, bias = [], []
    for row, b in zip(outer.rows, outer.bias, strict=True):
        new: dict[int, Exact] = {}
        nb = b
        for k, w in row.items():
            nb = nb + w * inner.bias[k]
            for j, v in inner.rows[k].items():
                new[j] = new.get(j, 0) + w * v
        rows.append({j: v for j, v in new.items() if v != 0})
        bias.append(nb)
    return Affine(inner.in_dim, tuple(rows), tuple(bias))


def compose(outer: Network, inner: Network) -> Network:
    """outer ∘ inner; depth L_outer + L_inner - 1, neurons add up."""
    merged = _affine_after(outer.affines[0], inner.affines[-1])
    return Network(
        (*inner.affines[:-1], merged, *outer.affines[1:]),
        (*inner.activations, *outer.activations),
        (*inner.shared, *outer.shared),
    )


def _stack_layers(affines: Sequence[Affine], in_offsets: Sequence[int] | None, in_dim: int) -> Affine:
    """Stack rows of several affine maps; with ``in_offsets`` their inputs are disjoint blocks."""
    rows: list[dict[int, Exact]] = []
    bias: list[Exact] = []
    for k, aff in enumerate(affines):
        off = 0 if in_offsets is None else in_offsets[k]
        rows.extend({j + off: v for j, v in row.items()} for row in aff.rows)
        bias.extend(aff.bias)
    return Affine(in_dim, tuple(rows), tuple(bias))


def _same_depth(nets: Sequence[Network]) -> None:
    if not nets:
        raise ValueError("need at least one network")
    depths = {n.depth for n in nets}
    if len(depths) > 1:
        raise ValueError(f"networks have depths {sorted(depths)}: equalise them with extend_depth first")


def _stacked_shared(nets: Sequence[Network], l: int) -> bool:
    first = nets[0].activations[l][0]
    return all(n.shared[l] and n.activations[l][0] == first for n in nets)


def parallel(*nets: Network) -> Network:
    """x -> (f_1(x), ..., f_k(x)): same input, outputs stacked (Berner et al.'s P)."""
    _same_depth(nets)
    if len({n.in_dim for n in nets}) > 1:
        raise ValueError(f"parallel needs one input dimension, got {sorted({n.in_dim for n in nets})}")
    return _parallel(nets, separate_inputs=False)


def block_parallel(*nets: Network) -> Network:
    """(x_1, ..., x_k) -> (f_1(x_1), ..., f_k(x_k)): inputs concatenated, outputs stacked."""
    _same_depth(nets)
    return _parallel(nets, separate_inputs=True)


def _parallel(nets: Sequence[Network], separate_inputs: bool) -> Network:
    affines = []
    for l in range(nets[0].depth):
        layer = [n.affines[l] for n in nets]
        if l == 0 and not separate_inputs:
            offsets, in_dim = None, nets[0].in_dim
        else:
            dims = [a.in_dim for a in layer]
            offsets = [sum(dims[:k]) for k in range(len(dims))]
            in_dim = sum(dims)
        affines.append(_stack_layers(layer, offsets, in_dim))
    acts = [tuple(a for n in nets for a in n.activations[l]) for l in range(nets[0].depth - 1)]
    shared = [_stacked_shared(nets, l) for l in range(nets[0].depth - 1)]
    return Network(affines, acts, shared)


def post_affine(net: Network, W: Sequence[Sequence[object]], b=None) -> Network:
    """x -> W f(x) + b, merged into the last affine layer."""
    return compose(Network([Affine.from_dense(W, b)], []), net)


def pre_affine(net: Network, W: Sequence[Sequence[object]], b=None) -> Network:
    """x -> f(W x + b), merged into the first affine layer."""
    return compose(net, Network([Affine.from_dense(W, b)], []))


def affine_combination(nets: Sequence[Network], coeffs: Sequence[object], bias=None) -> Network:
    """Σ_k c_k f_k(x) + b for networks of equal depth, input and output dimension."""
    nets = list(nets)
    if len(coeffs) != len(nets):
        raise ValueError(f"{len(nets)} networks need {len(nets)} coefficients, got {len(coeffs)}")
    dims = {n.out_dim for n in nets}
    if len(dims) > 1:
        raise ValueError(f"affine_combination needs equal output dimensions, got {sorted(dims)}")
    m = dims.pop()
    coeffs = [exact(c) for c in coeffs]
    rows = [{k * m + i: c for k, c in enumerate(coeffs) if c != 0} for i in range(m)]
    bias = [0] * m if bias is None else (list(bias) if isinstance(bias, Sequence) else [bias] * m)
    combiner = Network([Affine.from_rows(m * len(nets), rows, bias)], [])
    return compose(combiner, parallel(*nets))


def sum_networks(*nets: Network) -> Network:
    """Σ_k f_k(x)."""
    return affine_combination(nets, [1] * len(nets))


def _carry_weights(activation: Activation) -> tuple[Exact, Exact]:
    """(a_0, a_1) such that activation(u) = a_0 + a_1 ReLU(u), or an error if it is not of that form."""
    if activation.kind == "identity":
        return Fraction(0), Fraction(1)
    c = activation.relu_coefficients
    if c is None or len(c) < 2 or c[1] == 0 or any(v != 0 for v in c[2:]):
        raise ValueError(
            "identity networks need ReLU, identity, or a PolyReLU a_0 + a_1 ReLU (a_1 != 0); "
            f"got {activation.describe()}"
        )
    return c[0], c[1]


def identity(dim: int, depth: int, activation: Activation | None = None) -> Network:
    """The identity on R^dim with ``depth`` affine layers: u = (σ(u) - σ(-u)) / a_1 for σ = a_0 + a_1 ReLU."""
    if depth < 1 or dim < 1:
        raise ValueError(f"identity needs dim >= 1 and depth >= 1, got dim={dim}, depth={depth}")
    if depth == 1:
        return Network([Affine(dim, tuple({i: Fraction(1)} for i in range(dim)), (Fraction(0),) * dim)], [])
    activation = relu() if activation is None else activation
    if activation.kind == "identity":
        one = Affine(dim, tuple({i: Fraction(1)} for i in range(dim)), (Fraction(0),) * dim)
        return Network([one] * depth, [identity_activation()] * (depth - 1))
    a0, a1 = _carry_weights(activation)
    # neuron 2i sees +u_i, neuron 2i+1 sees -u_i; u_i = (h_{2i} - h_{2i+1}) / a_1, the a_0 cancel
    first = Affine(
        dim, tuple({i // 2: Fraction(1 if i % 2 == 0 else -1)} for i in range(2 * dim)), (Fraction(0),) * (2 * dim)
    )
    inv = 1 / a1
    middle_rows = tuple(
        {2 * (i // 2): inv if i % 2 == 0 else -inv, 2 * (i // 2) + 1: -inv if i % 2 == 0 else inv}
        for i in range(2 * dim)
    )
    middle = Affine(2 * dim, middle_rows, (Fraction(0),) * (2 * dim))
    last = Affine(2 * dim, tuple({2 * i: inv, 2 * i + 1: -inv} for i in range(dim)), (Fraction(0),) * dim)
    return Network([first, *([middle] * (depth - 2)), last], [activation] * (depth - 1))


def extend_depth(net: Network, depth: int, activation: Activation | None = None) -> Network:
    """The same function with ``depth`` affine layers (identity layers composed after it)."""
    if depth < net.depth:
        raise ValueError(f"cannot shrink depth {net.depth} to {depth}")
    if depth == net.depth:
        return net
    return compose(identity(net.out_dim, depth - net.depth + 1, activation), net)
