"""What the lab may write to, checked before any work starts.

Every file the lab writes is a regular file that it replaces atomically (experiments/atomic_io.py)
or its folder's lock (experiments/output_lock.py). So:

- an output folder (``--out``) is a folder, or a path where one can be made; the folder the user
  names is taken as given, but nothing *inside* it is followed through a symbolic link;
- an output file (``--json``, ``--plot``, ``--csv``) is absent or a regular file, never a symbolic
  link, a device, a FIFO or a folder; its folder exists (or can be made) and is writable;
- every name fits the file system (NAME_MAX bytes a component, PATH_MAX bytes in all).

Each check raises a :class:`UserError` of one line. A folder downloaded from elsewhere can hold
symlinks and special files; these rules stop the lab from writing through them.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from experiments.user_errors import UserError

NAME_MAX = 255  # bytes in one path component (Linux, macOS)
PATH_MAX = 4096


def _check_length(path: Path) -> None:
    raw = os.fsencode(path)
    if len(raw) >= PATH_MAX:
        raise UserError(f"path of {len(raw)} bytes is longer than the file system allows ({PATH_MAX - 1})")
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UserError(f"path component {part[:40]!r}... is longer than {NAME_MAX} bytes")


def folder(path: str | os.PathLike) -> Path:
    """``path`` as an output folder: not empty, not a file, every component of legal length."""
    if not str(path).strip():
        raise UserError("the output folder is empty; name a folder, e.g. --out results/run1")
    out = Path(path)
    _check_length(out.absolute())
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} exists and is not a folder; --out names a folder")
    if out.exists():
        if not os.access(out, os.W_OK | os.X_OK):
            raise UserError(f"{out} is not writable")
    else:
        ancestor = next(p for p in out.absolute().parents if p.exists())
        if not ancestor.is_dir() or not os.access(ancestor, os.W_OK | os.X_OK):
            raise UserError(f"cannot create {out}: {ancestor} is not a writable folder")
    return out


def file(path: str | os.PathLike) -> Path:
    """``path`` as an output file given by the user: checked before the work that fills it."""
    if not str(path).strip():
        raise UserError("an output file name is empty")
    target = Path(path)
    _check_length(target.absolute())
    check_target(target)
    parent = target.parent
    if parent.exists():
        if not parent.is_dir():
            raise UserError(f"cannot write {target}: {parent} is not a folder")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UserError(f"cannot write {target}: {parent} is not writable")
    else:
        folder(parent)
    return target


def check_target(path: Path) -> None:
    """``path`` is absent or a regular file, and its folder is no symbolic link (``lstat``: nothing followed)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise UserError(f"cannot write {path}: {err.strerror}") from None
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = _kind(info.st_mode)
        raise UserError(f"{path} is {kind}; the lab writes only regular files (remove it or choose another name)")
    if os.path.islink(path.parent) and path.parent != Path("."):
        raise UserError(f"{path.parent} is a symbolic link; the lab never writes through one")


def inside(out: Path, relative: str) -> Path:
    """``out / relative`` after checking that no folder between them is a symbolic link."""
    path = out
    for part in Path(relative).parts[:-1]:
        path = path / part
        if path.is_symlink():
            raise UserError(f"{path} is a symbolic link; the lab never writes through one (remove it)")
        if path.exists() and not path.is_dir():
            raise UserError(f"{path} is not a folder")
    return out / relative


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


_UNSAFE = re.compile(r"[^A-Za-z0-9._+=-]+")


def slug(name: str, limit: int = 80) -> str:
    """A file-name-safe form of ``name`` (a target, an activation): short enough for any file system.

    Long names keep a prefix and gain a hash, so two long names never collide.
    """
    import hashlib

    text = _UNSAFE.sub("_", name).strip("._") or "unnamed"
    if len(text) <= limit:
        return text
    return f"{text[: limit - 17]}_{hashlib.sha256(name.encode()).hexdigest()[:16]}"
