"""Atomic file writes: write a sibling temp file, fsync, then ``os.replace`` (a reader never sees half a file).

Temp files are named ``.NAME.XXXX.tmp``: hidden, and never matching a reader's ``*.json`` or
``*.csv``. A killed writer can leave one behind; :func:`remove_temp_files` clears them, and each
writer calls it once it holds its folder (experiments/output_lock.py).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from experiments import output_paths
from experiments.faults import checkpoint
from experiments.user_errors import UserError

TEMP_SUFFIX = ".tmp"
# ours (.NAME.XXXXXXXX.tmp) and the older form that kept NAME's suffix (.NAME.XXXXXXXX.csv)
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}(\.tmp|\.json|\.csv|\.toml|\.md|\.png|\.svg|\.pdf)$")


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temp files a killed writer left in ``folder`` and its subfolders; returns them."""
    stray = [p for p in Path(folder).rglob(".*") if p.is_file() and _TEMP_NAME.match(p.name)]
    for p in stray:
        p.unlink(missing_ok=True)
    return stray


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temp path next to ``path``, then move it into place atomically.

    ``path`` must be absent or a regular file in a folder that is no symbolic link
    (experiments/output_paths.py), checked before writing and again just before the move.
    """
    path = Path(path)
    output_paths.check_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        checkpoint(f"write:{path.name}")
        output_paths.check_target(path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _new_temp(path: Path) -> Path:
    """A fresh ``.NAME.XXXXXXXX.tmp`` beside ``path``, created with the mode ``open`` would give a new
    file (0o666 less the umask; ``mkstemp``'s 0o600 would hide results from the rest of a group)."""
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp


def write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: _write(tmp, text))


def _write(tmp: Path, text: str) -> None:
    tmp.write_text(text)


def strict(data: Any) -> Any:
    """``data`` with every non-finite float replaced by None: strict JSON has no NaN or Infinity."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [strict(v) for v in data]
    return data


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """``data`` as strict JSON (non-finite numbers become null), atomically."""
    return write_text(path, json.dumps(strict(data), indent=2, default=str, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """``rows`` (dicts with the same keys) as CSV with a header, atomically; floats to 7 significant digits."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: f"{v:.6e}" if isinstance(v, float) else v for k, v in row.items()} for row in rows)
    return write_text(path, buf.getvalue())


def save_figure(fig, path: str | os.PathLike, **kwargs) -> Path:
    """``fig.savefig`` atomically; the format follows ``path``'s suffix."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    if fmt not in fig.canvas.get_supported_filetypes():
        supported = ", ".join(sorted(fig.canvas.get_supported_filetypes()))
        raise UserError(f"{path}: format {fmt!r} is not supported (supported: {supported})")
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, bbox_inches="tight", **kwargs))
