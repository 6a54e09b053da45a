"""The ReLU twin's distance to f_N in 1-D, certified on every piece (docs/theory.md §5, step 5).

The twin f̃_N replaces each exact product by a Yarotsky product; its hidden layers have rational weights,
so on [0, 1] each last-hidden unit is an exact piecewise-linear function (``theory.pl``), and its readout
Σ_j w_j g_j has exact, possibly irrational, weights w_j = Σ_a q_{a,j}·a over atoms a (Taylor
coefficients, ``theory.polynomial.linear_atoms``). f_N is an exact polynomial with atom coefficients on
every partition cell. Between consecutive breakpoints of both, f̃_N − f_N = Σ_a a·(L_a − p_a) with L_a
linear and p_a a rational polynomial, so on each interval it is one polynomial whose coefficients are
enclosed by balls around the atoms. On an interval of centre c and radius r,

    |h(c)|  ≤  sup |h|  ≤  |h(c)| + Σ_{k≥1} |h_k| r^k     (h_k the Taylor coefficients of h at c),

and intervals whose upper end could hold the maximum are bisected until the global upper end is
within ``rtol`` of the global lower end, or ``max_pieces`` is reached (``certified_error.tighten``).
The result is a certified [lower, upper] of sup_{[0,1]} |f̃_N − f_N|, not a sample.
"""

from __future__ import annotations

from fractions import Fraction

from flint import arb

from theory.network import Network
from theory.pl.piecewise_linear import PiecewiseLinear
from theory.pl.propagation import hidden_to_pl
from theory.polynomial import linear_atoms
from theory.sobolev.approximant import Approximant
from theory.sobolev.certified_error import AtomBalls, Interval, SupError, tighten
from theory.sobolev.jets import ball, lower, upper


def twin_error(
    net: Network, approximant: Approximant, rtol: Fraction = Fraction(1, 100), max_pieces: int = 100_000
) -> SupError:
    """Certified [lower, upper] of sup_{[0,1]} |net − f_N| for a 1-input ReLU network (module docstring)."""
    if approximant.d != 1 or net.in_dim != 1:
        raise ValueError("the exact twin error needs d = 1")
    atoms = AtomBalls()
    readout = _readout(net)
    breaks = set(approximant.partition.breakpoints_1d())
    for pl in readout.values():
        breaks |= set(pl.xs)
    xs = sorted(b for b in breaks if 0 <= b <= 1)
    pieces = [(a, b) for a, b in zip(xs, xs[1:], strict=False)]
    cells = approximant.partition.breakpoints_1d()
    polys = {}
    for lo, hi in zip(cells, cells[1:], strict=False):
        polys[(lo, hi)] = approximant.on_cell(((lo, hi),))

    def coefficients(piece: Interval) -> list[arb]:
        """h = net − f_N on ``piece``, as ball coefficients in powers of (x − centre)."""
        a, b = piece
        c = (a + b) / 2
        cell = next(k for k in polys if k[0] <= a and b <= k[1])
        out: list[arb] = []
        for atom in set(readout) | set(polys[cell].parts):
            terms = _shifted(polys[cell].parts[atom].terms, c) if atom in polys[cell].parts else {}
            coeffs = [-terms.get(k, Fraction(0)) for k in range(max(terms, default=0) + 1)] or [Fraction(0)]
            if atom in readout:
                pl = readout[atom]
                y0, y1 = pl.values_at([a, b])
                coeffs[0] += (y0 + y1) / 2
                coeffs += [Fraction(0)] * (2 - len(coeffs))
                coeffs[1] += (y1 - y0) / (b - a)
            value = atoms[atom]
            out += [ball(0)] * (len(coeffs) - len(out))
            for k, q in enumerate(coeffs):
                out[k] += value * ball(q)
        return out

    def enclose(piece: Interval) -> tuple[arb, arb, None]:
        h = coefficients(piece)
        r = ball((piece[1] - piece[0]) / 2)
        hi = abs(h[0])
        for k, hk in enumerate(h[1:], start=1):
            hi += abs(hk) * r**k
        return abs(h[0]), hi, None

    live = tighten(pieces, enclose, rtol, max_pieces)
    best_lo = max(lower(lo) for lo, _, _ in live.values())
    worst = max(live, key=lambda p: upper(live[p][1]))
    return SupError(max(best_lo, Fraction(0)), upper(live[worst][1]), len(pieces), (worst,))


def _readout(net: Network) -> dict[object, PiecewiseLinear]:
    """atom -> the rational PL function it multiplies in the network's one output (bias in ``ONE``)."""
    if net.out_dim != 1:
        raise ValueError("the exact twin error needs one output")
    hidden = hidden_to_pl(net, 0, 1)
    last = net.affines[-1]
    terms: dict[object, list] = {}
    for j, w in last.rows[0].items():
        for atom, q in linear_atoms(w).items():
            terms.setdefault(atom, []).append((q, hidden[j]))
    out = {}
    for atom, parts in terms.items():
        out[atom] = PiecewiseLinear.combine(parts)
    for atom, q in linear_atoms(last.bias[0]).items():
        base = out.get(atom, PiecewiseLinear.constant(0, 0, 1))
        out[atom] = base + q
    return out


def _shifted(terms: dict, c: Fraction) -> dict[int, Fraction]:
    """p(c + h) as {k: coefficient of h^k}, for p given as {(k,): coefficient of x^k}."""
    out: dict[int, Fraction] = {}
    for (k,), q in terms.items():
        binom = 1
        for j in range(k + 1):  # x^k = Σ_j C(k, j) c^{k−j} h^j
            out[j] = out.get(j, Fraction(0)) + q * binom * c ** (k - j)
            binom = binom * (k - j) // (j + 1)
    return out
