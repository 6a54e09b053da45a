"""A network's exact polynomial on every cell of [0,1]^d, in one pass (docs/theory.md §5.1).

It applies to networks of two kinds of layers, and proves exactly that a network is of that kind:
- a *separable* first hidden layer: each unit reads one coordinate, σ(a·x_k + b);
- later ReLU-type units that *cancel in pairs*. For every e ≥ 1 and every real z,
      ReLU(z)^e + (−1)^e ReLU(−z)^e = z^e,
  so Σ_e c_e ReLU(z)^e + Σ_e c'_e ReLU(−z)^e is the polynomial Σ_e c_e z^e exactly when
  c'_e = (−1)^e c_e for e ≥ 1 (and is not a polynomial otherwise).
The units of a layer are grouped by their pre-activation up to a nonzero scalar, and every row that
reads them (the next layer's, or the output's, one atom of the output weights at a time) must meet
that condition; otherwise :class:`NotSeparable` names the layer and the unit. Theorem 3's networks
pass: a product is xy = ((x+y)² − (x−y)²)/4 with u² = ReLU(u)² + ReLU(−u)², a carry is
ReLU(u) − ReLU(−u) = u.

Then the output is a polynomial P(x, g) in the coordinates and in *atoms* g: per coordinate k, the
part Σ_j w_j σ_j(a_j x_k + b_j) of a second-layer pre-activation that reads first-layer units with a
kink inside (0, 1), normalised up to a scalar so that one function read twice is one atom. (Units
without a kink in (0, 1) are polynomials of x_k on [0, 1] and are substituted.) P is expanded
exactly. A cell is a product of 1-D pieces between the first layer's kinks (and any extra
breakpoints asked for); on a piece every atom is a polynomial of its coordinate, and an atom that
vanishes there removes every monomial that contains it. So the work per monomial is the number of
cells where it is nonzero, not the number of cells.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from theory.exact_numbers import is_rational
from theory.network import Network
from theory.polynomial import AtomPoly, Poly, linear_atoms

Q = Fraction
ONE_Q = Fraction(1)
Mono = tuple[tuple[int, int], ...]  # ((variable, exponent), ...) sorted by variable
SPoly = dict[Mono, Fraction]  # variables 0..d−1 are the coordinates, d.. the atoms
UPoly = tuple[Fraction, ...]  # univariate, ascending; () is 0


class NotSeparable(ValueError):
    """The network is not of the kind above, so this method proves nothing about it."""


# --------------------------------------------------------------------------- sparse polynomials


def _add(acc: SPoly, p: SPoly, c: Fraction = ONE_Q) -> None:
    for m, v in p.items():
        s = acc.get(m, 0) + c * v
        if s:
            acc[m] = s
        else:
            acc.pop(m, None)


def _mono_mul(a: Mono, b: Mono) -> Mono:
    out = dict(a)
    for v, e in b:
        out[v] = out.get(v, 0) + e
    return tuple(sorted(out.items()))


def _mul(p: SPoly, q: SPoly) -> SPoly:
    out: SPoly = {}
    for a, u in p.items():
        for b, v in q.items():
            m = _mono_mul(a, b)
            s = out.get(m, 0) + u * v
            if s:
                out[m] = s
            else:
                out.pop(m)
    return out


def _normalised(p: SPoly) -> tuple[tuple, Fraction]:
    """(key, λ) with p = λ·(the polynomial named by key), the key's first coefficient being 1."""
    items = sorted(p.items())
    lam = items[0][1]
    return tuple((m, v / lam) for m, v in items), lam


def _umul(a: UPoly, b: UPoly) -> UPoly:
    if not a or not b:
        return ()
    out = [Q(0)] * (len(a) + len(b) - 1)
    for i, u in enumerate(a):
        for j, v in enumerate(b):
            out[i + j] += u * v
    return tuple(out)


def _upow(a: UPoly, e: int) -> UPoly:
    out: UPoly = (Q(1),)
    for _ in range(e):
        out = _umul(out, a)
    return out


def _uadd(a: UPoly, b: UPoly, c: Fraction = ONE_Q) -> UPoly:
    n = max(len(a), len(b))
    out = [(a[i] if i < len(a) else 0) + c * (b[i] if i < len(b) else 0) for i in range(n)]
    while out and out[-1] == 0:
        out.pop()
    return tuple(Q(v) for v in out)


# --------------------------------------------------------------------------- the first layer


@dataclass(frozen=True)
class _Unit:
    """A first-layer unit σ(a·x_axis + b), σ = c_0 + Σ_e c_e ReLU^e (relu=True) or Σ_e c_e z^e."""

    axis: int
    a: Fraction
    b: Fraction
    coeffs: tuple[Fraction, ...]
    relu: bool

    @property
    def kink(self) -> Fraction | None:
        """Where the unit's pre-activation crosses 0 inside (0, 1), if it is a ReLU-type unit."""
        if not self.relu or self.a == 0:
            return None
        x = -self.b / self.a
        return x if 0 < x < 1 else None

    def on_piece(self, lo: Fraction, hi: Fraction) -> UPoly:
        """The unit on [lo, hi] (no kink inside) as a polynomial of x_axis."""
        z = (self.b, self.a)
        if self.relu:
            mid = (lo + hi) / 2
            if self.a * mid + self.b <= 0:
                return _uadd((), (self.coeffs[0],))
        out: UPoly = ()
        for e, c in enumerate(self.coeffs):
            out = _uadd(out, _upow(z, e), c)
        return out


def _rational(v, what: str) -> Fraction:
    if type(v) is Fraction:
        return v
    if not is_rational(v):
        raise NotSeparable(f"{what} is irrational: this method needs rational hidden layers")
    return Q(v)


def _first_layer(net: Network) -> list[_Unit]:
    aff, acts = net.affines[0], net.activations[0]
    units = []
    for j, (row, b, act) in enumerate(zip(aff.rows, aff.bias, acts, strict=True)):
        if len(row) > 1:
            raise NotSeparable(f"unit {j} of hidden layer 1 reads {len(row)} coordinates, not one")
        ((axis, a),) = row.items() if row else ((0, 0),)
        relu, coeffs = act.series
        units.append(
            _Unit(
                axis,
                _rational(a, "a weight"),
                _rational(b, "a bias"),
                tuple(_rational(c, "an activation coefficient") for c in coeffs),
                relu,
            )
        )
    return units


# --------------------------------------------------------------------------- the polynomial circuit


class _Layer:
    """A hidden layer's units, grouped by pre-activation up to a scalar: unit j = λ_j·Q_{group_j}."""

    def __init__(self, pre: Sequence[SPoly], acts, index: int):
        self.index = index
        self.group: list[int] = []
        self.scale: list[Fraction] = []
        self.forms: list[SPoly] = []
        self.constant: list[Fraction | None] = []  # σ(z) where z is a constant
        self.coeffs, self.relu = [], []
        keys: dict[tuple, int] = {}
        for z, act in zip(pre, acts, strict=True):
            relu = act.relu_coefficients is not None
            c = tuple(
                _rational(v, "an activation coefficient")
                for v in (act.relu_coefficients if relu else act.polynomial_coefficients)
            )
            self.coeffs.append(c)
            self.relu.append(relu)
            if all(m == () for m in z):  # constant pre-activation: the unit is a constant
                z0 = z.get((), Q(0))
                t = max(z0, Q(0)) if relu else z0
                self.constant.append(sum((cv * t**e for e, cv in enumerate(c)), Q(0)))
                self.group.append(-1)
                self.scale.append(Q(0))
                continue
            key, lam = _normalised(z)
            if key not in keys:
                keys[key] = len(self.forms)
                self.forms.append(dict(key))
            self.constant.append(None)
            self.group.append(keys[key])
            self.scale.append(lam)
        self._powers: dict[tuple[int, int], SPoly] = {}

    def power(self, g: int, e: int) -> SPoly:
        if (g, e) not in self._powers:
            self._powers[g, e] = {(): Q(1)} if e == 0 else _mul(self.power(g, e - 1), self.forms[g])
        return self._powers[g, e]

    def read(self, row: dict[int, Fraction], bias: Fraction, reader: str) -> SPoly:
        """b + Σ_j w_j σ_j(z_j) as a polynomial of this layer's forms; NotSeparable if it is not one."""
        out: SPoly = {(): bias} if bias else {}
        plus: dict[int, dict[int, Fraction]] = {}
        minus: dict[int, dict[int, Fraction]] = {}
        for j, w in row.items():
            c = self.coeffs[j]
            const = self.constant[j]
            if const is not None:
                _add(out, {(): const}, w)
                continue
            g, lam = self.group[j], self.scale[j]
            if c[0]:
                _add(out, {(): c[0] * w})
            side = plus if (lam > 0 or not self.relu[j]) else minus
            acc = side.setdefault(g, {})
            for e in range(1, len(c)):
                if c[e]:
                    # ReLU(λQ)^e = |λ|^e ReLU(±Q)^e; a polynomial unit is (λQ)^e on both sides
                    acc[e] = acc.get(e, 0) + w * c[e] * (abs(lam) ** e if self.relu[j] else lam**e)
            if not self.relu[j]:  # polynomial units need no partner: count them on both sides
                m = minus.setdefault(g, {})
                for e in range(1, len(c)):
                    if c[e]:
                        m[e] = m.get(e, 0) + (-1) ** e * w * c[e] * lam**e
        for g in set(plus) | set(minus):
            p, m = plus.get(g, {}), minus.get(g, {})
            for e in set(p) | set(m):
                if m.get(e, 0) != (-1) ** e * p.get(e, 0):
                    first = next(j for j in row if self.group[j] == g)
                    raise NotSeparable(
                        f"{reader} reads unit {first} of hidden layer {self.index + 1} without the partner that "
                        f"cancels its kink (power {e}): not a polynomial there"
                    )
            for e, coeff in p.items():  # Σ_e c⁺_e ReLU(Q)^e + (−1)^e c⁺_e ReLU(−Q)^e = Σ_e c⁺_e Q^e
                if coeff:
                    _add(out, self.power(g, e), coeff)
        return out


@dataclass(frozen=True)
class Atom:
    """Σ_j w_j σ_j(x_axis) over first-layer units with a kink in (0, 1), normalised (first w_j = 1)."""

    axis: int
    weights: tuple[tuple[int, Fraction], ...]


class Circuit:
    """The network as a polynomial of coordinates and atoms (module docstring); built exactly."""

    def __init__(self, net: Network):
        if net.depth < 2:
            raise NotSeparable("the network has no hidden layer")
        self.d = net.in_dim
        self.units = _first_layer(net)
        self._whole = [u.on_piece(Q(0), Q(1)) if u.kink is None else None for u in self.units]
        self.atoms: list[Atom] = []
        self._atom_ids: dict[Atom, int] = {}
        consumers = net.affines[1]
        pre = (
            [self._read_first(row, b) for row, b in zip(consumers.rows, consumers.bias, strict=True)]
            if net.depth > 2
            else []
        )
        for l in range(1, net.depth - 1):
            layer = _Layer(pre, net.activations[l], l)
            nxt = net.affines[l + 1]
            if l < net.depth - 2:
                pre = [
                    layer.read(
                        {j: _rational(w, "a weight") for j, w in row.items()},
                        _rational(b, "a bias"),
                        f"unit {i} of hidden layer {l + 2}",
                    )
                    for i, (row, b) in enumerate(zip(nxt.rows, nxt.bias, strict=True))
                ]
        last = net.affines[-1]
        self.outputs: list[dict[object, SPoly]] = []  # per output: atom of the output weights -> SPoly
        for o, (row, b) in enumerate(zip(last.rows, last.bias, strict=True)):
            per_atom: dict[object, dict[int, Fraction]] = {}
            for j, w in row.items():
                for atom, c in linear_atoms(w).items():
                    per_atom.setdefault(atom, {})[j] = c
            out: dict[object, SPoly] = {}
            for atom, bias_part in linear_atoms(b).items():
                out[atom] = {(): bias_part}
            for atom, weights in per_atom.items():
                if net.depth == 2:
                    value = self._read_first(weights, Q(0))
                else:
                    value = layer.read(weights, Q(0), f"output {o} (atom {atom})")
                _add(out.setdefault(atom, {}), value)
            self.outputs.append({a: p for a, p in out.items() if p})

    def _read_first(self, row: Mapping[int, object], bias) -> SPoly:
        out: SPoly = {(): _rational(bias, "a bias")} if bias else {}
        by_axis: dict[int, list[tuple[int, Fraction]]] = {}
        for j, w in row.items():
            w = _rational(w, "a weight")
            u = self.units[j]
            whole = self._whole[j]
            if whole is not None:  # no kink: a polynomial of x_axis on all of [0, 1]
                for e, c in enumerate(whole):
                    if c:
                        _add(out, {((u.axis, e),) if e else (): c}, w)
            else:
                by_axis.setdefault(u.axis, []).append((j, w))
        for axis, items in sorted(by_axis.items()):
            items.sort()
            lam = items[0][1]
            atom = Atom(axis, tuple((j, w / lam) for j, w in items))
            if atom not in self._atom_ids:
                self._atom_ids[atom] = len(self.atoms)
                self.atoms.append(atom)
            _add(out, {((self.d + self._atom_ids[atom], 1),): lam})
        return out

    def breakpoints(self, axis: int) -> set[Fraction]:
        return {u.kink for u in self.units if u.axis == axis and u.kink is not None}


# --------------------------------------------------------------------------- cells


Box = tuple[tuple[Fraction, Fraction], ...]


@dataclass(frozen=True)
class CellPolynomials:
    """Output ``output`` of the network on every cell of a grid of 1-D pieces, exactly."""

    pieces: tuple[tuple[tuple[Fraction, Fraction], ...], ...]
    polys: dict[tuple[int, ...], AtomPoly]

    def cells(self) -> Iterator[tuple[Box, AtomPoly]]:
        for idx in itertools.product(*(range(len(p)) for p in self.pieces)):
            yield tuple(self.pieces[k][i] for k, i in enumerate(idx)), self.polys.get(idx) or AtomPoly(len(idx))


def cell_polynomials(net: Network, extra_breakpoints: Iterable[Fraction] = (), output: int = 0) -> CellPolynomials:
    """The network's exact polynomial on every cell (module docstring); NotSeparable if the method fails."""
    circuit = Circuit(net)
    d = circuit.d
    extra = {Q(x) for x in extra_breakpoints if 0 < x < 1}
    pieces = []
    for k in range(d):
        pts = sorted({Q(0), Q(1)} | extra | circuit.breakpoints(k))
        pieces.append(tuple(zip(pts[:-1], pts[1:], strict=True)))
    # each atom on each piece of its axis: None where it is 0
    atom_on: list[list[UPoly | None]] = []
    for atom in circuit.atoms:
        vals = []
        for lo, hi in pieces[atom.axis]:
            p: UPoly = ()
            for j, w in atom.weights:
                p = _uadd(p, circuit.units[j].on_piece(lo, hi), w)
            vals.append(p or None)
        atom_on.append(vals)
    cache: dict[tuple, UPoly | None] = {}

    def axis_factor(axis: int, part: Mono, i: int) -> UPoly | None:
        key = (axis, part, i)
        if key not in cache:
            f: UPoly = (Q(1),)
            for v, e in part:
                g = (Q(0), Q(1)) if v < d else atom_on[v - d][i]
                if g is None:  # an atom that is zero on this piece
                    f = ()
                    break
                f = _umul(f, _upow(g, e))
            cache[key] = f or None
        return cache[key]

    raw: dict[tuple[int, ...], dict[object, dict[tuple[int, ...], Fraction]]] = {}
    for weight_atom, poly in circuit.outputs[output].items():
        for mono, c in poly.items():
            parts: list[list[tuple[int, int]]] = [[] for _ in range(d)]
            for v, e in mono:
                parts[v if v < d else circuit.atoms[v - d].axis].append((v, e))
            per_axis = []
            for k in range(d):
                part = tuple(parts[k])
                facs = [(i, axis_factor(k, part, i)) for i in range(len(pieces[k]))]
                per_axis.append([(i, f) for i, f in facs if f is not None])
            for combo in itertools.product(*per_axis):
                idx = tuple(i for i, _ in combo)
                terms = raw.setdefault(idx, {}).setdefault(weight_atom, {})
                for exps in itertools.product(*(range(len(f)) for _, f in combo)):
                    value = c
                    for (_, f), e in zip(combo, exps, strict=True):
                        value *= f[e]
                    if value:
                        terms[exps] = terms.get(exps, Q(0)) + value
    polys = {}
    for idx, per_atom in raw.items():
        ap = AtomPoly(d)
        for weight_atom, terms in per_atom.items():
            poly_of_atom = Poly(d, terms)
            if not poly_of_atom.is_zero():
                ap.parts[weight_atom] = poly_of_atom
        polys[idx] = ap
    return CellPolynomials(tuple(pieces), polys)


__all__ = ["Atom", "CellPolynomials", "Circuit", "NotSeparable", "cell_polynomials"]
