"""Exact scalars for the lab's networks (docs/theory.md §2): rationals fast, algebraic numbers when needed.

API
- ``Exact``: ``fractions.Fraction`` (every rational) or a constant real ``sympy.Expr`` (e.g. ``sqrt(2)``).
- ``exact(value, floats="exact")``: the one entry point. ints, Fractions, SymPy rationals -> Fraction;
  a float -> the binary fraction it *is* (``floats="refuse"`` raises instead); a constant real SymPy
  expression or a string such as ``"1/3"`` or ``"sqrt(2)/2"`` (read by :mod:`theory.expression`) -> Fraction
  when rational, else kept symbolic. Anything else (NaN, symbols, complex, malformed strings) ->
  ``ValueError``, one line.
- ``is_rational(v)``, ``to_sympy(v)``, ``to_float(v)``.
- ``is_nonnegative(v)``: the exact sign test behind ReLU on algebraic values.
- ``random_rational(rng, low, high, denominator)``: exact random points and weights.

Rationals stay ``Fraction`` so exact evaluation never enters SymPy in its inner loop.
"""

from __future__ import annotations

import math
import random
from fractions import Fraction
from numbers import Integral, Rational
from typing import SupportsFloat, TypeAlias, cast

import mpmath
import sympy

from theory.expression import parse

Exact: TypeAlias = Fraction | sympy.Expr

FLOAT_POLICIES = ("exact", "refuse")


def exact(value: object, floats: str = "exact") -> Exact:
    """``value`` as an exact number; floats become their exact binary fraction, never a rounded one."""
    if floats not in FLOAT_POLICIES:
        raise ValueError(f"unknown float policy {floats!r}; valid: {', '.join(FLOAT_POLICIES)}")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise ValueError(f"a weight must be a number, got the bool {value!r}")
    if isinstance(value, Integral | Rational) and not isinstance(value, sympy.Basic):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, float) or type(value).__name__ in ("float64", "float32", "float16"):
        value = float(cast(SupportsFloat, value))  # a NumPy float: exactly its value
        if not math.isfinite(value):
            raise ValueError(f"a weight must be finite, got {value!r}")
        if floats == "refuse":
            raise ValueError(f"float weight {value!r} refused: pass an exact value (int, Fraction, '1/3', SymPy)")
        return Fraction(value)  # the binary fraction the float is, exactly
    if isinstance(value, str):
        value = parse(value, 0)  # the lab's strict grammar, with no variables: a constant
    if isinstance(value, sympy.Basic):
        if not isinstance(value, sympy.Expr) or value.free_symbols:
            raise ValueError(f"a weight must be a constant number, got {value}")
        if value.is_Rational:
            return Fraction(int(value.p), int(value.q))
        if value.is_Float:  # a SymPy Float is a binary fraction of its own precision: keep all of it
            if floats == "refuse":
                raise ValueError(f"float weight {value} refused: pass an exact value (int, Fraction, '1/3', SymPy)")
            if not value.is_finite:
                raise ValueError(f"a weight must be finite, got {value}")
            q = sympy.Rational(value)
            return Fraction(int(q.p), int(q.q))
        if value.has(sympy.Float):
            raise ValueError(f"{value} mixes floats into a symbolic number: write it exactly")
        if value.is_real is not True or not value.is_finite:
            raise ValueError(f"a weight must be a finite real number, got {value}")
        return value
    raise ValueError(f"cannot read {value!r} ({type(value).__name__}) as an exact number")


def is_rational(value: Exact) -> bool:
    return isinstance(value, Fraction)


def to_sympy(value: Exact) -> sympy.Expr:
    if isinstance(value, Fraction):
        return sympy.Rational(value.numerator, value.denominator)
    return value


def to_mpf(value: Exact, dps: int = 30) -> mpmath.mpf:
    """``value`` in mpmath at the working precision: p/q correctly rounded, a SymPy number to ``dps`` digits."""
    if isinstance(value, Fraction):
        return mpmath.mpf(value.numerator) / value.denominator
    return mpmath.mpf(str(sympy.N(value, dps + 5)))


def to_float(value: Exact) -> float:
    """The nearest float (correctly rounded for Fractions)."""
    if isinstance(value, Fraction):
        return float(value)
    return float(sympy.N(value, 30))


def is_nonnegative(value: Exact) -> bool:
    """Exact ``value >= 0``. For algebraic values a numeric sign is trusted only away from 0.

    Near 0 SymPy decides equality exactly; either answer gives ReLU the same value at 0, which is
    why ``relu`` may use this test without worrying about ties.
    """
    if isinstance(value, Fraction):
        return value >= 0
    for digits in (30, 100, 300):
        approx = sympy.N(value, digits)
        if approx.is_zero is not True and abs(approx) > sympy.Float(10) ** (5 - digits):
            return bool(approx > 0)
    if value.equals(0):
        return True
    raise ValueError(f"cannot decide the sign of {value}")


def random_rational(rng: random.Random, low: Fraction | int = -1, high: Fraction | int = 1, denominator: int = 1000):
    """A random rational in [low, high] with the given denominator grid (exact, reproducible)."""
    low, high = Fraction(low), Fraction(high)
    steps = int((high - low) * denominator)
    return low + Fraction(rng.randint(0, steps), denominator)
