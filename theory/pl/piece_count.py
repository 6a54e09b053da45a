"""The piece-count lower bound for ReLU networks approximating x² (docs/theory.md §4, Theorem 2 lower bound).

Three facts, each certified in ``theory.theorem2``:

1. **Pieces.** A 1-input ReLU network with hidden widths W_1..W_L is linear on at most Π_l (W_l + 1)
   pieces of an interval (``theory.pl.propagation.piece_bound``; docs/theory.md quotes the looser (2W)^L).
2. **Gap.** On a piece of length h every line ℓ has max |x² − ℓ| ≥ h²/8: for e = x² − ℓ the second
   difference e(u) − 2e(u + h/2) + e(u + h) = h²/2 (lines have none), so some |e| ≥ h²/8. N pieces
   cover [0, 1], one has h ≥ 1/N, so **every PL function with N pieces has error ≥ 1/(8N²)**.
   The bound is sharp: the interpolant at k/N shifted down by 1/(8N²) attains it (``shifted_interpolant``).
3. **Consequences.** Error ≤ ε forces N ≥ N_min(ε) = ⌈1/√(8ε)⌉, hence
   - at L hidden layers, width ≥ W_min(L, ε) = min{W : (W + 1)^L ≥ N_min};
   - at any depth, neurons ≥ ⌈log₂ N_min⌉ (since W + 1 ≤ 2^W for integers W ≥ 1), i.e. Ω(ln(1/ε)).

Yarotsky's f_m shifted down by 4^{−(m+1)}/2 has N = 2^m pieces and error exactly 1/(8N²): it meets the
gap bound with 4m neurons where the neuron bound asks for ⌈log₂ 2^m⌉ = m, so that bound is tight up to 4.
"""

from __future__ import annotations

from fractions import Fraction
from math import isqrt

from theory.activation import relu
from theory.network import Affine, Network
from theory.pl.piecewise_linear import PiecewiseLinear, as_fraction

Q = Fraction


def min_pieces(eps: object) -> int:
    """N_min = the least N with 1/(8N²) ≤ ε (exact integer arithmetic)."""
    eps = as_fraction(eps)
    if eps <= 0:
        raise ValueError(f"eps must be positive, got {eps}")
    # 8 N² ε ≥ 1  ⇔  N² ≥ q / (8 p) for ε = p/q
    need = Q(1) / (8 * eps)
    n = isqrt(need.numerator // need.denominator)
    while n * n < need:
        n += 1
    while n > 1 and (n - 1) ** 2 >= need:
        n -= 1
    return max(n, 1)


def min_width(hidden_layers: int, eps: object) -> int:
    """W_min(L, ε): the least width W with (W + 1)^L ≥ N_min(ε)."""
    if hidden_layers < 1:
        raise ValueError(f"need at least one hidden layer, got {hidden_layers}")
    need, w = min_pieces(eps), 1
    while (w + 1) ** hidden_layers < need:
        w += 1
    return w


def min_neurons(eps: object) -> int:
    """The least neuron count any ReLU network (any depth) can have with error ≤ ε against x² on [0, 1]."""
    return (min_pieces(eps) - 1).bit_length()


def gap(pieces: int) -> Fraction:
    """1/(8N²): the least sup error of any PL function with N pieces against x² on [0, 1]."""
    return Q(1, 8 * pieces * pieces)


def shifted_interpolant(pieces: int) -> PiecewiseLinear:
    """The interpolant of x² at k/N shifted down by 1/(8N²): error exactly 1/(8N²) (the gap is sharp)."""
    nodes = [Q(k, pieces) for k in range(pieces + 1)]
    return PiecewiseLinear(tuple(nodes), tuple(x * x - gap(pieces) for x in nodes))


def shallow_network(f: PiecewiseLinear) -> Network:
    """One hidden layer realising a PL function on [x_0, x_N] with N ReLU units (width = pieces):

    f(x) = f(x_0) + s_0 ReLU(x − x_0) + Σ_{k≥1} (s_k − s_{k−1}) ReLU(x − x_k)."""
    f = f.simplify()
    xs, s = f.xs, f.slopes
    first = Affine.from_rows(1, [{0: Q(1)}] * len(s), [-x for x in xs[:-1]])
    coeffs = [s[0], *(s[k] - s[k - 1] for k in range(1, len(s)))]
    return Network([first, Affine.from_rows(len(s), [dict(enumerate(coeffs))], [f.ys[0]])], [relu()])
