"""One writer per output folder: an advisory ``fcntl.flock`` on ``OUT/.lock``.

The lock file holds the writer's PID. The kernel drops a flock when its holder dies, so a lock that
can be taken while the file still names a PID was left by a killed run: it is taken over, with a
note. A second live writer is refused with an error naming the holder.

The lock is the one file the lab opens in place rather than replacing atomically, so it is opened
without following a symlink (``O_NOFOLLOW``) and must be a regular file with one link: a results
folder from elsewhere could otherwise name a file of the user's as its ``.lock`` and have it truncated.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from experiments import output_paths
from experiments.user_errors import UserError


class FolderInUse(UserError):
    """Another live process holds the output folder (a user error)."""


@contextlib.contextmanager
def hold(out: str | os.PathLike, log=print) -> Iterator[Path]:
    """Hold ``out`` for writing for the duration of the block; ``out`` is created if needed."""
    out = output_paths.folder(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ".lock"
    fd = _open_lock(path)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd) or "unknown"
            raise FolderInUse(
                f"{out} is in use by another polylab run (PID {holder}); wait for it or choose another --out"
            ) from None
        stale = _read(fd)
        if stale and stale != str(os.getpid()):
            log(f"note: {path} named PID {stale}, which no longer holds it (a killed run); taking it over")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        try:
            yield out
        finally:
            os.ftruncate(fd, 0)  # a clean exit leaves no PID behind
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open_lock(path: Path) -> int:
    """``path`` opened read-write (created if absent), refusing symlinks, special and hard-linked files."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as err:
        if os.path.islink(path):
            raise UserError(f"{path} is a symbolic link; the lab never writes through one (remove it)") from None
        raise UserError(f"cannot open the lock file {path}: {err.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        what = "not a regular file" if not stat.S_ISREG(info.st_mode) else f"a file with {info.st_nlink} hard links"
        raise UserError(f"{path} is {what}; the lab writes its lock only to a plain file of its own (remove it)")
    return fd


def _read(fd: int) -> str:
    return os.pread(fd, 64, 0).decode(errors="replace").strip()
