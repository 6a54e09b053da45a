"""Theorem 3 (docs/theory.md §5): a PolyReLU network that *is* the Sobolev approximant f_N, and its ReLU twin.

[paper] For f ∈ F_{n,d} and ε ∈ (0,1) some PolyReLU network of size O(ε^{−d/n}) is ε-close to f.
[lab, precise] For every N ≥ 1 the network built here equals f_N = Σ_m φ_m P_m exactly on [0,1]^d
(checked on every cell, docs/theory.md §5.1), so ‖f − net‖∞ ≤ (dρ)^n/n!·N^{−n}·‖f‖_n ≤ 2^d d^n/n!·N^{−n}·‖f‖
(``theory.sobolev.approximant``). Its neuron count is exactly
    4d(N+1) + 2d + (N+1)^d · Σ_{j<n} C(j+d−1, d−1) · cost(d+j)         (``closed_form_sizes``)
with cost(F) the neurons of a product tree of F factors padded to L = ⌈log2(d+n−1)⌉ levels, i.e.
O((d+n)·(N+1)^d·C(n−1+d, d)) = O(ε^{−d/n}) with N ≈ ε^{−1/n}; depth L + 2 affine layers = O(log(d+n)).
(Optimality of the ε^{−d/n} rate holds under continuous parameter selection only; very deep ReLU
networks with discontinuous weight selection beat it — docs/theory.md §5.)

Architecture (Berner et al.'s calculus, ``theory.calculus``, for the ReLU twin; the exact forms are
written layer by layer with the same architecture, so that 10^5 units build in seconds):
1. features, one hidden layer of ReLU units shared by all terms: ψ_{k,m_k}(x_k) = ψ(3N x_k − 3m_k)
   from 4 units each, and x_k = ReLU(x_k) − ReLU(−x_k);
2. for each term (m, α) with |α| < n, the factors ψ_{1,m_1}..ψ_{d,m_d} and α_k copies of
   x_k − m_k/N are multiplied by a binary tree: a product is xy = ((x+y)² − (x−y)²)/4 with
   u² = ReLU(u)² + ReLU(−u)² (4 ReLU² units), an odd factor out is carried by u = ReLU(u) − ReLU(−u);
3. the output is Σ_{m,α} c_{m,α}·term, with the exact Taylor coefficients c_{m,α} (``taylor``).
Forms: ``per_neuron`` (each unit PolyReLU e_1 or e_2, order r = 2), ``shared`` (every hidden layer
uses one vector a, default (0,1,1), by the scaling trick: each unit becomes |{i ≥ 1: a_i ≠ 0}| units),
and ``relu`` (Yarotsky products of squaring depth m instead of exact ones: the ReLU counterpart).

The ReLU twin's error against f_N: a Yarotsky product is exactly 0 when a factor is 0, so a term
vanishes wherever one of its ψ does, and at most 2^d nodes m are active at any x. With factor bounds
B (ψ ≤ 1, |x_k − m_k/N| ≤ ρ/N on the support) and product error δ = M²4^{−m} for inputs |·| ≤ M, a
product node's error obeys E ≤ δ + B_a E_b + B_b E_a + E_a E_b, so
    |f_N − f̃_N| ≤ 2^d Σ_{|α|<n} (‖D^α f‖∞/α!) · E_α(m)                  (``relu_error_bound``).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from functools import cached_property

import mpmath
import sympy
from flint import arb

from theory.activation import polyrelu, relu, relu_power
from theory.calculus import block_parallel, compose, identity, parallel
from theory.certificate import Check, certify
from theory.exact_numbers import exact, to_mpf
from theory.intervals import NotSmooth
from theory.network import Affine, Network, Sizes
from theory.sobolev import taylor_check
from theory.sobolev.approximant import Approximant
from theory.sobolev.cell_polynomials import NotSeparable, cell_polynomials
from theory.sobolev.certified_error import AtomBalls, SupError, sup_error
from theory.sobolev.jets import compile_jet, point_jets
from theory.sobolev.jets import lower as ball_lower
from theory.sobolev.partition import Partition
from theory.sobolev.target import SobolevTarget
from theory.sobolev.taylor import TaylorTable
from theory.sobolev.taylor_check import CoefficientCheck
from theory.sobolev.twin_error import twin_error
from theory.theorem1 import to_polyrelu
from theory.yarotsky import product_bound, product_network, square_error

Q = Fraction
FORMS = ("per_neuron", "shared", "relu")
DEFAULT_SHARED = (Q(0), Q(1), Q(1))
PRODUCT_BOUND_M = Q(2)  # Yarotsky product input bound: |factors| ≤ 1 plus small errors


# --------------------------------------------------------------------------- small networks


def exact_product() -> Network:
    """(x, y) ↦ xy = (ReLU(s)² + ReLU(−s)² − ReLU(t)² − ReLU(t')²)/4, s = x+y, t = x−y, t' = y−x."""
    one = Q(1)
    first = Affine(2, ({0: one, 1: one}, {0: -one, 1: -one}, {0: one, 1: -one}, {0: -one, 1: one}), (Q(0),) * 4)
    last = Affine(4, ({0: Q(1, 4), 1: Q(1, 4), 2: Q(-1, 4), 3: Q(-1, 4)},), (Q(0),))
    return Network([first, last], [relu_power(2)])


def exact_carry() -> Network:
    """u ↦ ReLU(u) − ReLU(−u) = u."""
    return identity(1, 2, relu())


def product_tree(factors: int, levels: int, product: Network, carry: Network) -> Network:
    """R^factors → R: pairwise products, level by level; an odd factor out (or a finished value) is carried."""
    if factors < 1 or factors > 2**levels:
        raise ValueError(f"{factors} factors do not fit a tree of {levels} levels")
    if levels == 0:
        return Network([Affine(1, ({0: Q(1)},), (Q(0),))], [])
    net = block_parallel(*([product] * (factors // 2) + [carry] * (factors % 2)))
    c = (factors + 1) // 2
    for _ in range(levels - 1):
        net = compose(block_parallel(*([product] * (c // 2) + [carry] * (c % 2))), net)
        c = (c + 1) // 2
    return net


def tree_levels(d: int, n: int) -> int:
    return math.ceil(math.log2(d + n - 1)) if d + n - 1 > 1 else 0


def feature_network(partition: Partition) -> Network:
    """x ↦ (ψ_{k,m}(x_k) for k < d, m ≤ N; x_0..x_{d−1}): one hidden ReLU layer (docs/theory.md §5 step 1)."""
    N, d, psi, s = partition.N, partition.d, partition.psi, partition.scale
    rows: list[dict[int, Fraction]] = []
    bias: list[Fraction] = []
    out_rows: list[dict[int, Fraction]] = []
    for k in range(d):
        for m in range(N + 1):
            start = len(rows)
            for b in psi.breaks:  # ReLU(sN x_k − s m − b)
                rows.append({k: Q(s * N)})
                bias.append(Q(-s * m) - b)
            out_rows.append({start + i: w for i, w in enumerate(psi.weights)})
    for k in range(d):
        start = len(rows)
        rows += [{k: Q(1)}, {k: Q(-1)}]
        bias += [Q(0), Q(0)]
        out_rows.append({start: Q(1), start + 1: Q(-1)})
    first = Affine(d, tuple(rows), tuple(bias))
    last = Affine(len(rows), tuple(out_rows), (Q(0),) * len(out_rows))
    return Network([first, last], [relu()])


@dataclass(frozen=True)
class ConstructionSizes:
    """The construction's size from its closed form (docs/theory.md §5): no network is built."""

    neurons: int
    hidden_layers: int
    depth: int
    width: int | None  # None when a product network has more than one hidden layer
    terms: int


def closed_form_sizes(
    N: int, d: int, n: int, product_neurons: int = 4, carry_neurons: int = 2, factor: int = 1, product_layers: int = 1
) -> ConstructionSizes:
    """Neurons, hidden layers and (for one-layer products) width of the construction, without building it.

    ``factor`` multiplies every hidden unit (the shared form's |{i ≥ 1: a_i ≠ 0}|); ``product_layers``
    is the number of hidden layers of one product network (1 for the exact product).
    """
    L = tree_levels(d, n)
    first = 4 * d * (N + 1) + 2 * d
    per_level = [0] * L
    for j in range(n):
        count = (N + 1) ** d * math.comb(j + d - 1, d - 1)
        c = d + j
        for i in range(L):
            per_level[i] += count * (product_neurons * (c // 2) + carry_neurons * (c % 2))
            c = (c + 1) // 2
    layers = [first, *per_level]
    return ConstructionSizes(
        neurons=factor * sum(layers),
        hidden_layers=L * product_layers + 1,
        depth=L * product_layers + 2,
        width=factor * max(layers) if product_layers == 1 else None,
        terms=(N + 1) ** d * math.comb(n - 1 + d, d),
    )


# --------------------------------------------------------------------------- the construction


@dataclass(frozen=True)
class TermBlocks:
    """Where each term (m, α) lives in the per-neuron network: its product tree is a block of units.

    ``inputs[t]``: the first-layer units term t reads (its ψ_{k,m_k} hats and the identity units);
    ``ranges[l][t]``: its units ``range(*ranges[l][t])`` in product layer l (layer l + 2 of the network).
    Term t's tree is zero wherever φ_{m_t} is, which is what lets an evaluator skip it there.
    """

    inputs: list[tuple[int, ...]]
    ranges: list[list[tuple[int, int]]]


@dataclass
class Theorem3Network:
    """The built network with what it realises: f_N (exactly) for the PolyReLU forms, ≈ f_N for ``relu``."""

    target: SobolevTarget
    N: int
    form: str
    network: Network
    approximant: Approximant
    terms: list[tuple[tuple[int, ...], tuple[int, ...]]]
    squaring_depth: int | None = None
    shared: tuple | None = None
    build_seconds: float = 0.0
    blocks: TermBlocks | None = None  # per_neuron form only

    @cached_property
    def sizes(self) -> Sizes:
        return self.network.sizes()

    def to_torch(self, sparse: bool | None = None):
        """The float64 torch twin (``theory.export.to_torch``): a ``LayeredNetwork`` module."""
        from theory.export import to_torch  # the one bridge to torch, imported only when asked for

        return to_torch(self.network, sparse=sparse)

    def closed_form(self) -> ConstructionSizes:
        d, n = self.target.d, self.target.n
        if self.form == "relu":
            assert self.squaring_depth is not None  # the ReLU form always records its depth
            product = _yarotsky_product(self.squaring_depth)
            h = product.depth - 1
            return closed_form_sizes(self.N, d, n, product.sizes().neurons, 2 * h, product_layers=h)
        factor = 1 if self.form == "per_neuron" or self.shared is None else sum(a != 0 for a in self.shared[1:])
        return closed_form_sizes(self.N, d, n, factor=factor)


def _yarotsky_product(m: int) -> Network:
    return product_network(m, PRODUCT_BOUND_M)


def build(
    target: SobolevTarget,
    N: int,
    form: str = "per_neuron",
    shared: Sequence[object] = DEFAULT_SHARED,
    squaring_depth: int | None = None,
    partition: Partition | None = None,
    table: TaylorTable | None = None,
) -> Theorem3Network:
    """The network of docs/theory.md §5 for ``target`` on the grid of size N (see the module docstring)."""
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; valid: {', '.join(FORMS)}")
    if not isinstance(N, int) or N < 1:
        raise ValueError(f"grid size N must be an integer >= 1, got {N!r}")
    start = time.perf_counter()
    partition = partition or Partition(N, target.d)
    table = table or TaylorTable(target, N)
    approximant = Approximant(target, N, partition, table)
    levels = tree_levels(target.d, target.n)
    shared_vec = None
    blocks = None
    if form == "relu":
        if squaring_depth is None:
            squaring_depth = relu_squaring_depth(approximant)
        net, terms = _assemble_relu(partition, table, levels, squaring_depth)
    else:
        net, terms, blocks = _assemble_exact(partition, table, levels)
        if form == "shared":
            blocks = None  # to_polyrelu rewrites the units
            shared_vec = tuple(exact(a) for a in shared)
            net = to_polyrelu(net, len(shared_vec) - 1, shared_vec).target
    return Theorem3Network(
        target=target,
        N=N,
        form=form,
        network=net,
        approximant=approximant,
        terms=terms,
        squaring_depth=squaring_depth if form == "relu" else None,
        shared=shared_vec,
        build_seconds=time.perf_counter() - start,
        blocks=blocks,
    )


def _assemble_relu(partition: Partition, table: TaylorTable, levels: int, squaring_depth: int):
    """The ReLU twin with the calculus: features, then per term a tree of Yarotsky products, then Σ c·term."""
    N, d = partition.N, partition.d
    product = _yarotsky_product(squaring_depth)
    carry = identity(1, product.depth, relu())
    trees = {F: product_tree(F, levels, product, carry) for F in {d + sum(a) for a in table.alphas}}
    n_feat = d * (N + 1) + d
    terms, term_nets, weights = [], [], []
    for m in partition.nodes():
        for alpha in table.alphas:
            rows = [{k * (N + 1) + mk: Q(1)} for k, mk in enumerate(m)]
            bias = [Q(0)] * d
            for k, ak in enumerate(alpha):
                rows += [{d * (N + 1) + k: Q(1)}] * ak
                bias += [Q(-m[k], N)] * ak
            select = Network([Affine(n_feat, tuple(rows), tuple(bias))], [])
            term_nets.append(compose(trees[d + sum(alpha)], select))
            terms.append((m, alpha))
            weights.append(table.exact(m, alpha))  # a term with c = 0 stays, so sizes are the closed form's
    body = parallel(*term_nets)
    # the output layer holds the exact (possibly irrational) Taylor coefficients, built directly
    out = Network([Affine(len(weights), ({t: w for t, w in enumerate(weights) if w != 0},), (Q(0),))], [])
    return compose(out, compose(body, feature_network(partition))), terms


E1, E2 = polyrelu((0, 1, 0)), polyrelu((0, 0, 1))  # ReLU and ReLU² as PolyReLU of order 2


def _assemble_exact(partition: Partition, table: TaylorTable, levels: int):
    """The per-neuron PolyReLU network, layer by layer (the same architecture as the calculus assembly
    of ``build(..., form="relu")`` with exact products, written directly so that 10^5 units build fast).

    A *handle* is a linear form (dict unit -> weight, constant) over the previous layer's units that
    equals one factor or partial product of one term.
    """
    features = feature_network(partition)
    N, d = partition.N, partition.d
    first, combine = features.affines
    hidden1 = first.out_dim
    affines, acts = [first], [[E1] * hidden1]
    terms, handles = [], []
    for m in partition.nodes():
        for alpha in table.alphas:
            hs = [(combine.rows[k * (N + 1) + mk], Q(0)) for k, mk in enumerate(m)]
            for k, ak in enumerate(alpha):
                hs += [(combine.rows[d * (N + 1) + k], Q(-m[k], N))] * ak
            terms.append((m, alpha))
            handles.append(hs)
    inputs = [tuple(sorted({j for row, _ in hs for j in row})) for hs in handles]  # first-layer units per term
    width, ranges = hidden1, []
    for _ in range(levels):
        rows: list[dict[int, Fraction]] = []
        bias: list[Fraction] = []
        layer: list = []
        new_handles, level_ranges = [], []
        for hs in handles:
            start = len(rows)
            nh = []
            for i in range(0, len(hs) - 1, 2):
                (ra, ca), (rb, cb) = hs[i], hs[i + 1]
                s, t = _lin(ra, rb, 1), _lin(ra, rb, -1)
                j = len(rows)
                rows += [s, _neg(s), t, _neg(t)]
                bias += [ca + cb, -(ca + cb), ca - cb, cb - ca]
                layer += [E2] * 4
                nh.append(({j: Q(1, 4), j + 1: Q(1, 4), j + 2: Q(-1, 4), j + 3: Q(-1, 4)}, Q(0)))
            if len(hs) % 2:
                r, c = hs[-1]
                j = len(rows)
                rows += [r, _neg(r)]
                bias += [c, -c]
                layer += [E1] * 2
                nh.append(({j: Q(1), j + 1: Q(-1)}, Q(0)))
            new_handles.append(nh)
            level_ranges.append((start, len(rows)))
        affines.append(Affine(width, tuple(rows), tuple(bias)))
        acts.append(layer)
        handles, width = new_handles, len(rows)
        ranges.append(level_ranges)
    out_row: dict[int, object] = {}
    out_bias = Q(0)
    for (m, alpha), hs in zip(terms, handles, strict=True):
        c = table.exact(m, alpha)
        if c == 0:
            continue
        (row, const) = hs[0]
        out_bias = out_bias + _times(c, const) if const else out_bias
        for j, w in row.items():
            out_row[j] = _times(c, w)
    affines.append(Affine(width, (out_row,), (out_bias,)))
    return Network(affines, acts), terms, TermBlocks(inputs, ranges)


def _times(c, w: Fraction):
    """c·w for an exact coefficient c and a rational w; an unevaluated SymPy product (cheap, still exact)."""
    if isinstance(c, Fraction) or w == 1:
        return c * w
    return sympy.Mul(sympy.Rational(w.numerator, w.denominator), c, evaluate=False)


def _lin(a: dict, b: dict, sign: int) -> dict:
    out = dict(a)
    for j, v in b.items():
        out[j] = out.get(j, 0) + sign * v
    return {j: v for j, v in out.items() if v != 0}


def _neg(a: dict) -> dict:
    return {j: -v for j, v in a.items()}


# --------------------------------------------------------------------------- the ReLU twin's error


def tree_error(factors: int, levels: int, delta: Fraction, bounds: Sequence[Fraction], M: Fraction) -> Fraction:
    """Composed error of an approximate product tree with exact leaves of magnitude ≤ ``bounds``."""
    vals = [(Q(b), Q(0)) for b in bounds]  # (magnitude bound, error bound)
    for _ in range(levels):
        nxt = []
        for i in range(0, len(vals) - 1, 2):
            (ba, ea), (bb, eb) = vals[i], vals[i + 1]
            if ba + ea > M or bb + eb > M:
                raise ValueError(f"product inputs may exceed the bound M = {M}: raise the squaring depth")
            nxt.append((ba * bb, delta + ba * eb + bb * ea + ea * eb))
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
    return vals[0][1]


def relu_error_bound(approximant: Approximant, m: int) -> Fraction:
    """Certified sup |f_N − f̃_N| of the ReLU twin with squaring depth m (module docstring)."""
    target, N = approximant.target, approximant.N
    d, n = target.d, target.n
    rho = approximant.partition.certify().support_radius_times_N
    if rho is None:
        raise ValueError("the partition's ψ is not compactly supported: no error bound")
    rho = rho / N
    delta = product_bound(PRODUCT_BOUND_M, square_error(m))
    L = tree_levels(d, n)
    total = Q(0)
    for alpha in approximant.table.alphas:
        c_max = target.norm.per_alpha[alpha][1] / math.prod(math.factorial(a) for a in alpha)
        bounds = [Q(1)] * d + [rho] * sum(alpha)
        total += c_max * tree_error(d + sum(alpha), L, delta, bounds, PRODUCT_BOUND_M)
    return 2**d * total


def relu_squaring_depth(approximant: Approximant, eps: Fraction | None = None, max_m: int = 40) -> int:
    """The least m whose certified |f_N − f̃_N| ≤ eps (default: the certified bound of |f − f_N|)."""
    eps = approximant.certified_bound().bound if eps is None else eps
    for m in range(1, max_m + 1):
        try:
            if relu_error_bound(approximant, m) <= eps:
                return m
        except ValueError:
            continue
    raise ValueError(f"no squaring depth <= {max_m} reaches accuracy {float(eps):.3g}")


# --------------------------------------------------------------------------- checks and certificates


def hidden_values(net: Network, x: Sequence[Fraction]) -> list[Fraction]:
    """The last hidden layer at an exact point (rational hidden layers: pure Fraction arithmetic)."""
    h = [Fraction(v) for v in x]
    for aff, layer in zip(net.affines[:-1], net.activations, strict=True):
        h = [act(z) for act, z in zip(layer, aff(h), strict=True)]
    return h


def value_mp(net: Network, x: Sequence[Fraction], dps: int = 30):
    """net(x): hidden layers exactly, then the (possibly irrational) output weights to ``dps`` digits."""
    h = hidden_values(net, x)
    last = net.affines[-1]
    with mpmath.workdps(dps):
        row, b = last.rows[0], last.bias[0]
        total = to_mpf(b, dps)
        for j, w in row.items():
            if h[j]:
                total += to_mpf(w, dps) * to_mpf(h[j])
        return +total


@dataclass(frozen=True)
class CellCheck:
    """``check_network``'s findings: cells compared with f_N (all of them unless ``sampled``), the Taylor
    coefficients on a second path, and the certified enclosure of sup|f − net| (§5.1–§5.3)."""

    cells_checked: int
    cells_total: int | None  # None: the network has no cell polynomials (``why`` says why)
    sampled: bool
    differ: int
    why: str
    coefficients: CoefficientCheck | None = None
    error: SupError | None = None

    @property
    def exact(self) -> bool:
        """Every cell compared, and none differs."""
        return self.cells_total is not None and not self.sampled and self.differ == 0


def check_network(net: Network, approximant: Approximant, sample: int | None = None, seed: int = 0) -> CellCheck:
    """Network ≡ f_N on every cell, Taylor coefficients on an independent path, and a certified
    [lower, upper] of sup_{[0,1]^d} |f − net| from the network's own cell polynomials (§5.1–§5.3).

    ``sample`` compares only that many random cells with f_N: the result then says so and its
    ``exact`` is False whatever it finds. The error enclosure always covers every cell.
    """
    partition = approximant.partition
    try:
        cells = cell_polynomials(net, partition.breakpoints_1d())
    except NotSeparable as err:
        return CellCheck(0, None, False, 0, f"no cell polynomials: {err}")
    boxes = list(cells.cells())
    sampled = sample is not None and sample < len(boxes)
    chosen = random.Random(seed).sample(boxes, sample) if sample is not None and sampled else boxes
    differ = [box for box, poly in chosen if not poly.equals(approximant.on_cell(box))]
    why = f"the network differs from f_N on {len(differ)} cells, e.g. {_show_box(differ[0])}" if differ else ""
    atoms = AtomBalls()
    coefficients = taylor_check.compare(approximant.table, atoms)
    degree = max((p.degree for _, poly in boxes for p in poly.parts.values()), default=0)
    error = sup_error(approximant.target, boxes, max(degree, 1), atoms)
    return CellCheck(len(chosen), len(boxes), sampled, len(differ), why, coefficients, error)


def _show_box(box) -> str:
    return " x ".join(f"[{a}, {b}]" for a, b in box)


def certify_case(
    text: str,
    d: int,
    n: int,
    N: int,
    form: str = "per_neuron",
    sample: int | None = None,
    partition: Partition | None = None,
    table: TaylorTable | None = None,
    mutate=None,
    mutate_error=None,
):
    """One Theorem 3 certificate: sizes = closed form, network ≡ f_N on every cell, coefficients agree
    with an independent path, and the certified sup|f − net| is ≤ the bound (§5.1–§5.3).

    ``partition`` (a wrong ψ), ``table`` (wrong Taylor coefficients) or ``mutate`` (a function
    Network -> Network) break the construction on purpose, and ``mutate_error`` (SupError -> SupError)
    the error enclosure; the reference f_N is always the standard one, built independently.
    """
    target = SobolevTarget.parse(text, d, n)
    reference = Approximant(target, N)
    where = "on every cell" if sample is None else f"on a random sample of {sample} cells (not a proof)"
    statement = (
        f"For f = {text} on [0,1]^{d} (n = {n}) and N = {N}, the {form.replace('_', '-')} PolyReLU network equals "
        f"f_N = Σ_m φ_m P_m {where}; its neurons, depth and width equal the closed form; and the certified "
        f"sup|f − net| is ≤ (dρ)^n/n!·N^-n·‖f‖_n ≤ 2^d d^n/n!·N^-n·‖f‖ (docs/theory.md §5)."
    )
    bound = reference.certified_bound()

    def check() -> Check:
        built = build(target, N, form, partition=partition, table=table)
        net = built.network if mutate is None else mutate(built.network)
        sizes = built.sizes
        closed = built.closed_form()
        size_ok = (sizes.neurons, sizes.depth, sizes.width) == (closed.neurons, closed.depth, closed.width)
        result = check_network(net, reference, sample)
        if mutate_error is not None:
            result = dataclasses.replace(result, error=mutate_error(result.error))
        coeffs, error = result.coefficients, result.error
        sound = enclosure_problem(error, result.cells_total, net, target)
        within = error is not None and not sound and error.upper <= bound.bound
        holds = (
            bound.partition_holds
            and size_ok
            and result.exact
            and coeffs is not None
            and coeffs.holds
            and within
            and bound.bound <= bound.bound_paper
        )
        parts = _details(result, size_ok, closed, sound, within, bound)
        return Check(
            holds=bool(holds),
            measured_error=None if error is None else f"[{error.lower}, {error.upper}]",
            sizes=sizes.as_dict(),
            details="; ".join(parts),
        )

    return certify(
        f"theorem3 d={d} n={n} N={N} {form} f={text}",
        statement,
        "the network's exact polynomial on every cell (pairwise ReLU cancellation, separable first layer) vs f_N; "
        "Taylor coefficients vs jets; ball-arithmetic Taylor models for sup|f - net|",
        check,
        params={"target": text, "d": d, "n": n, "N": N, "form": form, "sample": sample},
        error_bound=bound.bound,  # exact: a rounded decimal could fall below the bound it stands for
    )


def _details(result, size_ok: bool, closed, sound: str | None, within: bool, bound) -> list[str]:
    """What a Theorem 3 certificate checked, one clause per check, for its details line."""
    coeffs, error = result.coefficients, result.error
    cells = (
        f"{'sampled ' if result.sampled else 'every cell: '}{result.cells_checked} of "
        f"{result.cells_total} cells checked exactly, {result.differ} differ"
    )
    parts = [cells if result.cells_total else result.why]
    if result.why and result.cells_total:
        parts.append(result.why)
    parts.append(f"sizes {'=' if size_ok else '!='} closed form {asdict(closed)}")
    if coeffs is not None:
        how = "exactly" if coeffs.exact else f"to within balls of radius {coeffs.radius:.1e}"
        parts.append(f"Taylor coefficients vs jets: {coeffs.checked} compared {how}, {coeffs.differ} differ")
    if sound:
        parts.append(f"the error enclosure is not sound: {sound}")
    if error is not None:
        parts.append(
            f"certified sup|f - net| in [{float(error.lower):.4e}, {float(error.upper):.4e}] "
            f"{'<=' if within else '> !'} bound {float(bound.bound):.4e} "
            f"{'<=' if bound.bound <= bound.bound_paper else '>'} paper bound "
            f"{float(bound.bound_paper):.4e}"
        )
    return parts


#: rational points per axis at which an error enclosure must contain the exact |f − net|
ENCLOSURE_POINTS = 5


def enclosure_problem(error: SupError | None, cells_total: int | None, net: Network, target: SobolevTarget) -> str:
    """Why the enclosure [lower, upper] of sup|f − net| cannot be right, or "" if it passes every check:
    lower ≤ upper, every cell enclosed, and |f(x) − net(x)| ≤ upper at a grid of rational points (the
    network evaluated at 30 digits, f in ball arithmetic). The enclosure is computed upstream; a
    certificate that trusts it unchecked would certify whatever it is handed."""
    if error is None:
        return "no enclosure"
    if not error.lower <= error.upper:
        return f"lower {float(error.lower):.4e} > upper {float(error.upper):.4e}"
    if cells_total is None or error.cells != cells_total:
        return f"{error.cells} cells enclosed of {cells_total}"
    f = compile_jet(target.expr, target.symbols)  # f as written: independent of its kinks' lifted form
    # off every grid node m/N (where f_N interpolates f and the error is 0) and off the cell breaks
    axis = [Fraction(k, ENCLOSURE_POINTS) + Fraction(1, 37) for k in range(ENCLOSURE_POINTS)]
    for x in itertools.product(axis, repeat=target.d):
        try:
            exact_f = f(point_jets(target.d, 0, list(x))).c[0]
        except NotSmooth:  # x on a kink: the other points decide
            continue
        gap = abs(exact_f - ball_of(value_mp(net, list(x))))
        if ball_lower(gap) > error.upper:
            at = ", ".join(map(str, x))
            return f"|f − net| at x = ({at}) is {float(ball_lower(gap)):.4e} > upper {float(error.upper):.4e}"
    return ""


def ball_of(value) -> arb:
    """An mpmath value of 30 digits as a ball wide enough to hold the exact value."""
    return arb(mpmath.nstr(value, 35)) + arb(0, mpmath.mpf(10) ** -25 * (1 + abs(value)))


def breakpoint_grid(partition: Partition, max_points: int = 4000) -> list[tuple[Fraction, ...]]:
    """A rational grid through every breakpoint of the partition, each piece refined evenly while the
    grid stays within ``max_points`` (for sampled checks of networks that are not cellwise polynomial)."""
    pts = partition.breakpoints_1d()
    per_piece = max(1, int(max_points ** (1 / partition.d)) // max(1, len(pts) - 1))
    axis = sorted(
        {a + (b - a) * Fraction(i, per_piece) for a, b in zip(pts[:-1], pts[1:], strict=True) for i in range(per_piece)}
        | {Fraction(1)}
    )
    return list(itertools.product(axis, repeat=partition.d))


def certify_relu_twin(text: str, d: int, n: int, N: int, grid_points: int = 400, mutate=None):
    """The ReLU twin (Yarotsky products): |f̃_N − f_N| ≤ its composed bound ≤ the PolyReLU bound; in 1-D
    the distance is certified on every piece (``theory.sobolev.twin_error``), in d ≥ 2 it is sampled.
    ``mutate`` (Network -> Network) breaks the twin on purpose."""
    target = SobolevTarget.parse(text, d, n)
    approximant = Approximant(target, N)
    eps = approximant.certified_bound().bound
    m = relu_squaring_depth(approximant, eps)
    bound = relu_error_bound(approximant, m)

    def check() -> Check:
        built = build(target, N, "relu", squaring_depth=m)
        net = built.network if mutate is None else mutate(built.network)
        if d == 1:
            error = twin_error(net, approximant)
            worst, measured = to_mpf(error.upper), f"[{error.lower}, {error.upper}]"
            how = (
                f"|f~_N - f_N| certified on every piece ({error.cells} pieces, exact PL engine) in "
                f"[{float(error.lower):.4e}, {float(error.upper):.4e}]"
            )
        else:
            grid = breakpoint_grid(approximant.partition, grid_points)
            worst = max(abs(value_mp(net, x) - approximant.value_mp(x)) for x in grid)
            measured = f"{float(worst):.6e}"
            how = f"|f~_N - f_N| sampled at {len(grid)} grid points (a sample, not a proof) = {float(worst):.4e}"
        closed = built.closed_form()
        size_ok = built.sizes.neurons == closed.neurons and built.sizes.depth == closed.depth
        below, inside = worst <= to_mpf(bound), bound <= eps
        holds = bool(below and inside and size_ok)
        return Check(
            holds=holds,
            measured_error=measured,
            sizes=built.sizes.as_dict(),
            details=f"squaring depth m = {built.squaring_depth}; {how} {'<=' if below else '> !'} composed bound "
            f"{float(bound):.4e} {'<=' if inside else '> !'} eps {float(eps):.4e}; "
            f"neurons {built.sizes.neurons} ({'=' if size_ok else '!='} closed form {closed.neurons})",
        )

    method = (
        "exact PL pieces of the twin vs f_N's cell polynomials, ball-enclosed atoms"
        if d == 1
        else ("exact hidden layers at grid points, 30-digit output weights")
    )
    return certify(
        f"theorem3 relu twin d={d} n={n} N={N} f={text}",
        f"Replacing each exact product by a Yarotsky product of squaring depth m gives a ReLU network within the "
        f"composed bound 2^d Σ_α ‖D^α f‖/α!·E_α(m) of f_N, the least m making it <= the PolyReLU bound (N = {N}).",
        f"{method}; composed product-tree bound",
        check,
        params={"target": text, "d": d, "n": n, "N": N, "squaring_depth": m},
        error_bound=bound,
    )


#: (target, d, n, N) of ``polylab verify``'s theorem3 group: d = 1 with n = 1, 2, 3 and d = 2 with n = 2 (N up to 10),
#: smooth and kinked
VERIFY_CASES = (
    ("sin(pi*x0)", 1, 1, 4),
    ("exp(x0)*cos(3*x0)", 1, 1, 4),
    ("sin(pi*x0)", 1, 2, 4),
    ("1/(1+x0**2)", 1, 2, 5),
    ("exp(x0)", 1, 3, 3),
    ("sin(2*x0)+x0**4", 1, 3, 3),
    ("sin(pi*x0)*exp(x1)", 2, 2, 2),
    ("x0**2*x1+cos(x0-x1)", 2, 2, 2),
    ("sin(pi*x0)*cos(pi*x1)", 2, 2, 8),
    ("abs(x0-3/10)**(5/2)", 1, 2, 10),  # kinked W^{2,∞} targets (§5.4): a node on the kink
    ("abs(x0-x1)**(5/2)", 2, 2, 4),
)


def certificates() -> list:
    out = [certify_case(t, d, n, N) for t, d, n, N in VERIFY_CASES]
    out.append(certify_case("sin(pi*x0)", 1, 2, 4, form="shared"))
    out.append(certify_case("sin(pi*x0)*exp(x1)", 2, 2, 2, form="shared"))
    out.append(certify_relu_twin("sin(pi*x0)", 1, 2, 4))
    out.append(certify_relu_twin("abs(x0-3/10)**(5/2)", 1, 2, 10))
    return out
