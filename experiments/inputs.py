"""Bounded, typed reads of everything the lab reads from the user: configs, CSVs, JSON run files.

Every read checks, before it reads a byte, that the path is a regular file (not a FIFO that would
block, a device such as /dev/zero that never ends, or a folder), reads at most its size cap, and
decodes UTF-8 with a clear error. Parsers are bounded too: TOML and JSON nested too deep, and CSV
fields over the csv module's limit, are refused. Every failure is a :class:`UserError` of one line
naming the file.
"""

from __future__ import annotations

import json
import os
import stat
import tomllib
from pathlib import Path
from typing import Any

from experiments.user_errors import UserError

CONFIG_BYTES = 1 << 20  # a config is a page or two; a megabyte is generous
TABLE_BYTES = 1 << 30  # results.csv of a very large sweep
RECORD_BYTES = 64 << 20  # JSON run records
MAX_NESTING = 64  # brackets and braces deep: configs and records are a few levels


def read_text(path: str | os.PathLike, what: str, limit: int) -> str:
    """The UTF-8 text of the regular file ``path`` (at most ``limit`` bytes), or one line saying why not."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, device or socket)"
        raise UserError(f"{what} {path} is {kind}")
    if info.st_size > limit:
        raise UserError(f"{what} {path} has {info.st_size:,} bytes (at most {limit:,})")
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except OSError as err:
        raise UserError(f"cannot read {what} {path}: {err.strerror}") from None
    if len(raw) > limit:  # it grew while we looked
        raise UserError(f"{what} {path} has more than {limit:,} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{what} {path} is not UTF-8 text (byte {err.start}); save it as UTF-8") from None


def nesting(text: str) -> int:
    """The deepest nesting of [ and { outside quoted strings (an upper bound is all that is needed)."""
    depth = deepest = 0
    quote = ""
    escaped = False
    for ch in text:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\" and quote == '"':
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _check_nesting(text: str, what: str, path: Path) -> None:
    if nesting(text) > MAX_NESTING:
        raise UserError(f"{what} {path} is nested more than {MAX_NESTING} levels deep")


def read_toml(path: str | os.PathLike, what: str = "config") -> tuple[dict[str, Any], str]:
    """(table, text) of a TOML file, bounded (:func:`read_text`, nesting)."""
    path = Path(path)
    text = read_text(path, what, CONFIG_BYTES)
    _check_nesting(text, what, path)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}") from None


def read_json(path: str | os.PathLike, what: str = "record", limit: int = RECORD_BYTES) -> Any:
    """The JSON value in ``path``, bounded; bare NaN and Infinity (not JSON) are refused."""
    path = Path(path)
    text = read_text(path, what, limit)
    _check_nesting(text, what, path)

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except ValueError as err:
        raise UserError(f"{path}: not valid JSON ({err})") from None
