"""Sparse multivariate polynomials with exact rational coefficients (for cell-by-cell proofs, docs/theory.md §5).

``Poly`` maps an exponent tuple (one entry per variable) to a ``Fraction``; zero terms are never stored,
so equality of two polynomials is equality of dicts. Used to write f_N and a network's output on one
grid cell as explicit polynomials and compare them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import sympy

Monomial = tuple[int, ...]


class Poly:
    """Σ_β c_β x^β over Q in ``nvars`` variables."""

    __slots__ = ("nvars", "terms")

    def __init__(self, nvars: int, terms: Mapping[Monomial, Fraction] | None = None):
        self.nvars = nvars
        self.terms: dict[Monomial, Fraction] = {b: Fraction(c) for b, c in (terms or {}).items() if c != 0}

    @classmethod
    def constant(cls, nvars: int, c) -> Poly:
        return cls(nvars, {(0,) * nvars: Fraction(c)})

    @classmethod
    def affine(cls, coeffs: Sequence, const=0) -> Poly:
        """const + Σ_k coeffs[k] x_k."""
        n = len(coeffs)
        terms = {(0,) * n: Fraction(const)}
        for k, c in enumerate(coeffs):
            terms[tuple(int(i == k) for i in range(n))] = Fraction(c)
        return cls(n, terms)

    def __add__(self, other: Poly) -> Poly:
        out = dict(self.terms)
        for b, c in other.terms.items():
            out[b] = out.get(b, 0) + c
        return Poly(self.nvars, out)

    def __neg__(self) -> Poly:
        return Poly(self.nvars, {b: -c for b, c in self.terms.items()})

    def __sub__(self, other: Poly) -> Poly:
        return self + (-other)

    def scale(self, c) -> Poly:
        c = Fraction(c)
        return Poly(self.nvars, {b: c * v for b, v in self.terms.items()}) if c else Poly(self.nvars)

    def __mul__(self, other: Poly) -> Poly:
        out: dict[Monomial, Fraction] = {}
        for b1, c1 in self.terms.items():
            for b2, c2 in other.terms.items():
                b = tuple(i + j for i, j in zip(b1, b2, strict=True))
                out[b] = out.get(b, 0) + c1 * c2
        return Poly(self.nvars, out)

    def __pow__(self, k: int) -> Poly:
        out = Poly.constant(self.nvars, 1)
        for _ in range(k):
            out = out * self
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Poly) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(frozenset(self.terms.items()))

    def is_zero(self) -> bool:
        return not self.terms

    @property
    def degree(self) -> int:
        return max((sum(b) for b in self.terms), default=0)

    def __call__(self, x: Sequence) -> Fraction:
        total = Fraction(0)
        for b, c in self.terms.items():
            v = c
            for xi, e in zip(x, b, strict=True):
                if e:
                    v *= Fraction(xi) ** e
            total += v
        return total

    def leading(self) -> tuple[Monomial, Fraction]:
        """The largest monomial in a fixed (graded lexicographic) order, with its coefficient."""
        b = max(self.terms, key=lambda m: (sum(m), m))
        return b, self.terms[b]

    def range_on_box(self, box: Sequence[tuple[Fraction, Fraction]]) -> tuple[Fraction, Fraction]:
        """An exact enclosure [lo, hi] of the values on the box (tight for affine polynomials).

        Substitutes x_k = a_k + (b_k − a_k) t_k with t ∈ [0,1]^d; each non-constant monomial in t then
        lies in [0, 1], so its coefficient contributes to one end only.
        """
        if all(sum(m) <= 1 for m in self.terms):  # affine: the exact range, from the box's corners
            zero = (0,) * self.nvars
            lo = hi = self.terms.get(zero, Fraction(0))
            for mono, c in self.terms.items():
                if mono != zero:
                    a, b = box[mono.index(1)]
                    lo, hi = lo + min(c * a, c * b), hi + max(c * a, c * b)
            return lo, hi
        shifted = Poly.constant(self.nvars, 0)
        lin = [Poly.affine([int(i == k) * (b - a) for i in range(self.nvars)], a) for k, (a, b) in enumerate(box)]
        for mono, c in self.terms.items():
            term = Poly.constant(self.nvars, c)
            for k, e in enumerate(mono):
                if e:
                    term = term * lin[k] ** e
            shifted = shifted + term
        zero = (0,) * self.nvars
        c0 = shifted.terms.get(zero, Fraction(0))
        lo = c0 + sum((c for b, c in shifted.terms.items() if b != zero and c < 0), Fraction(0))
        hi = c0 + sum((c for b, c in shifted.terms.items() if b != zero and c > 0), Fraction(0))
        return lo, hi

    def __repr__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for b, c in sorted(self.terms.items(), key=lambda t: (-sum(t[0]), t[0])):
            mono = "*".join(f"x{k}" + (f"^{e}" if e > 1 else "") for k, e in enumerate(b) if e)
            parts.append(f"{c}" + (f"*{mono}" if mono else ""))
        return " + ".join(parts)


def product(polys: Iterable[Poly], nvars: int) -> Poly:
    out = Poly.constant(nvars, 1)
    for p in polys:
        out = out * p
    return out


ONE = "1"  # the atom of rational coefficients


def linear_atoms(value) -> dict[object, Fraction]:
    """An exact constant as Σ q_a·atom_a with rational q_a: rationals go to ``ONE``, a SymPy sum is
    split into its terms, and each term c·rest (c rational) becomes rest with coefficient c."""
    if isinstance(value, int | Fraction):
        return {ONE: Fraction(value)} if value else {}
    if value.is_Rational:
        return {ONE: Fraction(int(value.p), int(value.q))} if value else {}
    if value.is_Add:
        out: dict[object, Fraction] = {}
        for term in value.args:
            for a, c in linear_atoms(term).items():
                out[a] = out.get(a, 0) + c
        return {a: c for a, c in out.items() if c}
    coeff, rest = value.as_coeff_Mul()
    if rest.is_Rational:
        return linear_atoms(coeff * rest)
    q = Fraction(int(coeff.p), int(coeff.q))
    if rest.is_Add:  # an unevaluated c·(a + b): split the sum, so one number has one decomposition
        return {a: q * c for a, c in linear_atoms(rest).items()} if q else {}
    return {canonical_atom(rest): q} if q else {}


_ATOMS: dict[object, object] = {}  # atom -> its representative
_BY_VALUE: dict[str, list] = {}  # 40-digit value -> representatives with that value


def canonical_atom(atom):
    """One representative per exact value: ``exp(1)`` built unevaluated and ``E`` become one key.

    Atoms whose 40-digit values agree are merged only after SymPy proves their difference is 0.
    """
    if getattr(atom, "is_canonical_atom", False):
        return atom
    if atom in _ATOMS:
        return _ATOMS[atom]
    key = sympy.N(atom, 45).evalf(40).__str__()[:42]
    for rep in _BY_VALUE.get(key, []):
        if rep == atom or is_zero_constant(atom - rep):
            _ATOMS[atom] = rep
            return rep
    _BY_VALUE.setdefault(key, []).append(atom)
    _ATOMS[atom] = atom
    return atom


class AtomPoly:
    """Σ_a atom_a · p_a(x): a polynomial whose coefficients are Q-combinations of exact *atoms*.

    Atoms are exact constants that are not rational (e.g. ``pi*cos(pi*(1/8))``), kept as opaque keys
    (``linear_atoms``); rational coefficients are folded into the polynomial of the atom ``ONE``. Two
    AtomPolys are equal when every atom carries the same polynomial; ``residual`` lists where they
    differ, and ``is_zero_constant`` decides whether such a difference is nevertheless 0.
    """

    __slots__ = ("nvars", "parts")

    def __init__(self, nvars: int):
        self.nvars = nvars
        self.parts: dict[object, Poly] = {}

    def add(self, coefficient, poly: Poly) -> None:
        for atom, c in linear_atoms(coefficient).items():
            new = self.parts.get(atom, Poly(self.nvars)) + poly.scale(c)
            if new.is_zero():
                self.parts.pop(atom, None)
            else:
                self.parts[atom] = new

    def residual(self, other: AtomPoly) -> dict[object, Poly]:
        """atom -> (self − other)'s polynomial, only where nonzero."""
        out = {}
        for atom in set(self.parts) | set(other.parts):
            diff = self.parts.get(atom, Poly(self.nvars)) - other.parts.get(atom, Poly(self.nvars))
            if not diff.is_zero():
                out[atom] = diff
        return out

    def equals(self, other: AtomPoly) -> bool:
        """Exact equality: atom by atom, and where atoms differ, each monomial's constant is proven 0."""
        res = self.residual(other)
        if not res:
            return True
        monomials = {b for p in res.values() for b in p.terms}
        for b in monomials:
            total = sympy.Add(
                *(
                    sympy.Rational(p.terms[b].numerator, p.terms[b].denominator) * (1 if a == ONE else a)
                    for a, p in res.items()
                    if b in p.terms
                )
            )
            if not is_zero_constant(total):
                return False
        return True


def is_zero_constant(value) -> bool:
    """Exact test of a SymPy constant against 0: a clearly nonzero 50-digit value settles it, else SymPy."""
    approx = sympy.N(value, 50)
    if approx.is_number and abs(approx) > sympy.Float(10) ** -40:
        return False
    return bool(sympy.simplify(value) == 0)
