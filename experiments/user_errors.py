"""User errors and the validators that raise them.

``polylab`` prints a ``UserError`` (or an ``OSError``: a missing file, a full disk) as one line and
exits 2. Every other exception is a bug and keeps its traceback. ``theory`` and ``approx`` raise
``ValueError`` on bad arguments, as Python libraries do; a command marks where it validates what the
user gave with ``user_input()``, and a ``ValueError`` raised there becomes the user's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real


class UserError(ValueError):
    """Bad input from the user: a config, an argument, a file. The message is the whole story."""


@contextmanager
def user_input(where: str = "") -> Iterator[None]:
    """Validate user input inside: a ``ValueError`` raised there is re-raised as a ``UserError``,
    its message prefixed with ``where`` (a config's path, say) when given."""
    try:
        yield
    except ValueError as err:
        if isinstance(err, UserError) and not where:
            raise
        raise UserError(f"{where}: {err}" if where else str(err)) from None


def require_int(name: str, value: object, lo: int | None = None, hi: int | None = None) -> int:
    """``value`` as an int in lo..hi (bools refused), or a ``UserError`` naming ``name`` and the range."""
    if isinstance(value, Integral) and not isinstance(value, bool):
        number = int(value)
        if (lo is None or number >= lo) and (hi is None or number <= hi):
            return number
    span = f"{'' if lo is None else lo}..{'' if hi is None else hi}"
    raise UserError(f"{name} must be an integer in {span}, got {value!r}")


def require_number(
    name: str, value: object, lo: float = -math.inf, hi: float = math.inf, *, open_lo: bool = False
) -> float:
    """``value`` as a finite float with lo ≤ value ≤ hi (lo < value with ``open_lo``), or a ``UserError``."""
    if isinstance(value, Real) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number) and (number > lo if open_lo else number >= lo) and number <= hi:
            return number
    bound = f"{'>' if open_lo else '>='} {lo}" if hi == math.inf else f"in [{lo}, {hi}]"
    raise UserError(f"{name} must be a finite number {bound}, got {value!r}")


def require_choice(name: str, value: object, choices: tuple[str, ...] | list[str]) -> str:
    """``value`` if it is one of ``choices``, or a ``UserError`` listing them."""
    if not isinstance(value, str) or value not in choices:
        raise UserError(f"unknown {name} {value!r}; valid: {', '.join(choices)}")
    return value
