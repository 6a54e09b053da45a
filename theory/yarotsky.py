"""Yarotsky's ReLU constructions (docs/theory.md §4) as exact networks of the calculus (``theory.calculus``).

- ``hat_network()``: g(x) = 2ReLU(x) − 4ReLU(x − 1/2) + 2ReLU(x − 1), the hat on [0, 1].
- ``square_network(m)``: f_m(x) = x − Σ_{s=1..m} g_s(x)/4^s, g_s = g∘…∘g (s times); the PL interpolant
  of x² at k/2^m on [0, 1], with 0 ≤ f_m − x² ≤ 4^{−(m+1)}. Architecture: m hidden layers of width 4
  (three hat units for g_s and one accumulator carrying f_{s−1} ≥ 0 through ReLU unchanged).
- ``product_network(m, M)``: xy ≈ 2M²[f_m(|x+y|/2M) − f_m(|x|/2M) − f_m(|y|/2M)] for |x|, |y| ≤ M,
  |u| = ReLU(u) + ReLU(−u). If every squaring error lies in [lo, hi] the product error lies in
  [2M²(lo − 2hi), 2M²(hi − 2lo)] (``product_bound``); with [0, 4^{−(m+1)}] that is ≤ M²·4^{−m}.
- ``horner_network(a, m)``: p(t) = Σ a_i t^i on t ∈ [0, 1] by **Horner's scheme**
  v_n = a_n, v_k = a_k + t·v_{k+1}: the innermost step is affine (exact), every other one a product
  network, and only t is carried alongside (one ReLU unit per layer, t ≥ 0). Powers t^i are the
  case a = e_i (a chain of i − 1 products). ``horner_plan`` composes the errors
  E_k ≤ E_{k+1} + δ_prod(M_k), with M_k = max(1, Σ_{j>k} |a_j| + E_{k+1}) rounded up to a multiple of
  1/16 so the product's input bound holds and the weights stay short rationals.
- ``polyrelu_network(a, m)``: the ReLU approximant of PolyReLU_a on [−1, 1] (Lemma 2): t = ReLU(x) −
  ReLU(x − 1) = clip(x, 0, 1), then Horner. It equals σ̃(clip(x, −1, 1)) for every real x, which
  Theorem 2 relies on.

Every bound here is a composed, exact-rational bound; ``theory.lemma2`` certifies the 1-D pieces with
the exact engine (``theory.pl.propagation``) and checks the composed bounds against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from theory.activation import relu
from theory.calculus import block_parallel, compose, parallel, post_affine, pre_affine
from theory.network import Affine, Network
from theory.pl.piecewise_linear import as_fraction, trim

Q = Fraction
HAT = (Q(2), Q(-4), Q(2))  # g = 2ReLU(x) − 4ReLU(x − 1/2) + 2ReLU(x − 1)


def _affine(in_dim: int, rows: Sequence[dict[int, Fraction]], bias: Sequence[Fraction]) -> Affine:
    return Affine.from_rows(in_dim, rows, list(bias))


def _check_m(m: object) -> int:
    if isinstance(m, bool) or not isinstance(m, int) or m < 0:
        raise ValueError(f"the squaring depth m must be an integer >= 0, got {m!r}")
    return m


def hat_network(hat: Sequence[object] = HAT) -> Network:
    """g(x) = c_1 ReLU(x) + c_2 ReLU(x − 1/2) + c_3 ReLU(x − 1); Yarotsky's c = (2, −4, 2)."""
    c = [as_fraction(v) for v in hat]
    first = _affine(1, [{0: Q(1)}] * 3, [Q(0), Q(-1, 2), Q(-1)])
    return Network([first, _affine(3, [dict(enumerate(c))], [Q(0)])], [relu()])


def square_network(m: int, hat: Sequence[object] = HAT) -> Network:
    """f_m on [0, 1]: m hidden layers of width 4 (units g_{s−1}, g_{s−1} − 1/2, g_{s−1} − 1, f_{s−1})."""
    m = _check_m(m)
    if m == 0:
        return Network([_affine(1, [{0: Q(1)}], [Q(0)])], [])
    c = [as_fraction(v) for v in hat]
    shifts = [Q(0), Q(-1, 2), Q(-1)]
    affines = [_affine(1, [{0: Q(1)}] * 4, [*shifts, Q(0)])]
    for s in range(2, m + 1):
        g = dict(enumerate(c))  # g_{s−1} from the previous layer's three hat units
        acc = {3: Q(1), **{j: -v / 4 ** (s - 1) for j, v in g.items()}}  # f_{s−1} = f_{s−2} − g_{s−1}/4^{s−1}
        affines.append(_affine(4, [g, g, g, acc], [*shifts, Q(0)]))
    affines.append(_affine(4, [{3: Q(1), **{j: -v / 4**m for j, v in enumerate(c)}}], [Q(0)]))
    return Network(affines, [relu()] * m)


def square_error(m: int) -> tuple[Fraction, Fraction]:
    """Yarotsky's [min, max] of f_m − x² on [0, 1]: [0, 4^{−(m+1)}] (certified by ``theory.lemma2``)."""
    return Q(0), Q(1, 4 ** (_check_m(m) + 1))


def product_network(m: int, M: object = 1, hat: Sequence[object] = HAT) -> Network:
    """(x, y) ↦ 2M²[f_m(|x+y|/2M) − f_m(|x|/2M) − f_m(|y|/2M)] ≈ xy for |x|, |y| ≤ M."""
    return product_from(square_network(m, hat), M)


def product_from(f: Network, M: object) -> Network:
    """The product network around a given squarer f ≈ u² on [0, 1] (what ``product_bound`` is about)."""
    M = as_fraction(M)
    if M <= 0:
        raise ValueError(f"the product bound M must be positive, got {M}")
    one = Q(1)
    # hidden layer: ReLU(±(x+y)), ReLU(±x), ReLU(±y); then the three |·|/2M inputs of the squarers
    signs = [{0: one, 1: one}, {0: -one, 1: -one}, {0: one}, {0: -one}, {1: one}, {1: -one}]
    half = 1 / (2 * M)
    scale = _affine(6, [{0: half, 1: half}, {2: half, 3: half}, {4: half, 5: half}], [Q(0)] * 3)
    absolute = Network([_affine(2, signs, [Q(0)] * 6), scale], [relu()])
    combine = Network([_affine(3, [{0: 2 * M * M, 1: -2 * M * M, 2: -2 * M * M}], [Q(0)])], [])
    return compose(combine, compose(block_parallel(f, f, f), absolute))


def product_bound(M: object, square: tuple[Fraction, Fraction]) -> Fraction:
    """sup |Π(x, y) − xy| for |x|, |y| ≤ M, given that every f_m − u² lies in ``square`` = [lo, hi]."""
    M, (lo, hi) = as_fraction(M), square
    return 2 * M * M * max(hi - 2 * lo, 2 * hi - lo)


def carry_nonnegative(depth: int) -> Network:
    """u ↦ u for u ≥ 0 through ``depth − 1`` single ReLU units (ReLU(u) = u there)."""
    one = _affine(1, [{0: Q(1)}], [Q(0)])
    return Network([one] * depth, [relu()] * (depth - 1))


@dataclass(frozen=True)
class HornerPlan:
    """The Horner steps: M[k] is the product bound used at step k, E[k] the composed error bound of v_k."""

    a: tuple[Fraction, ...]
    m: int
    M: dict[int, Fraction]
    E: dict[int, Fraction]

    @property
    def bound(self) -> Fraction:
        return self.E[0] if self.E else Q(0)

    @property
    def products(self) -> int:
        return len(self.M)


def horner_plan(a: Sequence[object], m: int, square: tuple[Fraction, Fraction] | None = None) -> HornerPlan:
    """Product bounds M_k and error bounds E_k for Horner on [0, 1] (see the module docstring)."""
    a, m = trim(a), _check_m(m)
    square = square_error(m) if square is None else square
    n = len(a) - 1
    M: dict[int, Fraction] = {}
    E: dict[int, Fraction] = {}
    if n >= 2:
        E[n - 1] = Q(0)  # v_{n−1} = a_{n−1} + a_n t is affine, hence exact
        for k in range(n - 2, -1, -1):
            need = sum((abs(c) for c in a[k + 1 :]), Q(0)) + E[k + 1]
            M[k] = max(Q(1), Q(-((-need * 16) // 1), 16))  # rounded up to 1/16: short weights, same guarantee
            E[k] = E[k + 1] + product_bound(M[k], square)
    return HornerPlan(a, m, M, E)


def horner_network(a: Sequence[object], m: int, hat: Sequence[object] = HAT) -> Network:
    """p(t) = Σ a_i t^i for t ∈ [0, 1] by Horner's scheme with product networks of squaring depth m."""
    plan = horner_plan(a, m)
    a, n = plan.a, len(plan.a) - 1
    if n <= 1:
        return Network([_affine(1, [{0: a[1]} if n == 1 else {}], [a[0]])], [])
    state = Network([_affine(1, [{0: Q(1)}, {0: a[n]}], [Q(0), a[n - 1]])], [])  # t ↦ (t, v_{n−1})
    for k in range(n - 2, -1, -1):
        product = product_network(m, plan.M[k], hat)
        carry = pre_affine(carry_nonnegative(product.depth), [[1, 0]])
        step = post_affine(parallel(carry, product), [[1, 0], [0, 1]], [0, a[k]])  # (t, v) ↦ (t, a_k + t·v)
        state = compose(step, state)
    return post_affine(state, [[0, 1]])


def power_network(i: int, m: int, hat: Sequence[object] = HAT) -> Network:
    """t^i on [0, 1]: Horner with a = e_i, i.e. the chain t·(t·(…·t)) of i − 1 products."""
    if isinstance(i, bool) or not isinstance(i, int) or i < 0:
        raise ValueError(f"the power must be an integer >= 0, got {i!r}")
    return horner_network([0] * i + [1], m, hat)


def clip_unit_network() -> Network:
    """t = ReLU(x) − ReLU(x − 1) = clip(x, 0, 1): ReLU(x) on [−1, 1], and constant outside it."""
    first = _affine(1, [{0: Q(1)}, {0: Q(1)}], [Q(0), Q(-1)])
    return Network([first, _affine(2, [{0: Q(1), 1: Q(-1)}], [Q(0)])], [relu()])


def polyrelu_network(a: Sequence[object], m: int, hat: Sequence[object] = HAT) -> Network:
    """The ReLU approximant of PolyReLU_a(x) = Σ a_i ReLU(x)^i on [−1, 1] (Horner on clip(x, 0, 1))."""
    return compose(horner_network(a, m, hat), clip_unit_network())


def polyrelu_bound(a: Sequence[object], m: int, square: tuple[Fraction, Fraction] | None = None) -> Fraction:
    """The composed bound on sup_{[−1,1]} |polyrelu_network(a, m) − PolyReLU_a| (t is exact)."""
    return horner_plan(a, m, square).bound
