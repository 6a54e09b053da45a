"""Byte-level text corpus for the transformer study: no downloads, a deterministic split by file.

The default corpus is the standard library's own ``.py`` sources, read from the running
interpreter's install (``sysconfig``'s ``stdlib`` path, without ``site-packages``). A file goes to
validation when the first 8 bytes of SHA-256 of its relative path, mod 100, fall below
``val_percent``: the split depends only on the names, never on listing order or on the machine.
A single text file cannot be split by file; its last ``val_percent`` % of bytes are validation.
Tokens are bytes (vocabulary 256); files are joined with a NUL separator.
"""

from __future__ import annotations

import hashlib
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

STDLIB = "stdlib"
MAX_FILE_BYTES = 1 << 30  # one corpus file; a larger one (or /dev/zero) is refused, not read
SEPARATOR = b"\0"
TEXT_SUFFIXES = (".py", ".txt", ".md", ".rst", ".c", ".h", ".toml", ".json", ".cfg", ".ini", ".html", ".css", ".js")


@dataclass(frozen=True)
class Corpus:
    """Train and validation bytes as uint8 tensors, and where they came from."""

    train: Tensor
    val: Tensor
    source: str
    train_files: int
    val_files: int

    def describe(self) -> dict:
        return {
            "source": self.source,
            "train_bytes": int(self.train.numel()),
            "val_bytes": int(self.val.numel()),
            "train_files": self.train_files,
            "val_files": self.val_files,
        }


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def in_validation(relative_path: str, val_percent: int) -> bool:
    """The split rule: SHA-256 of the relative path (POSIX form), first 8 bytes mod 100 < val_percent."""
    digest = hashlib.sha256(relative_path.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < val_percent


def list_files(root: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Text files under ``root`` sorted by relative path, skipping ``site-packages`` and hidden folders."""
    files = [
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in suffixes
        and "site-packages" not in p.relative_to(root).parts
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _join(chunks: list[bytes], limit: int | None) -> Tensor:
    data = SEPARATOR.join(chunks)
    if limit is not None:
        data = data[:limit]
    return torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.zeros(0, dtype=torch.uint8)


def load_corpus(
    corpus: str | Path = STDLIB,
    val_percent: int = 10,
    max_train_bytes: int | None = None,
    max_val_bytes: int | None = None,
) -> Corpus:
    """Load ``corpus`` (``"stdlib"``, a text file, or a directory of text files) split by file.

    ``max_*_bytes`` keep a prefix of each side (files in sorted order) so small presets load fast.
    """
    if isinstance(val_percent, bool) or not isinstance(val_percent, int) or not 1 <= val_percent <= 50:
        raise ValueError(f"data.val_percent must be an integer in 1..50, got {val_percent!r}")
    for name, value in (("max_train_bytes", max_train_bytes), ("max_val_bytes", max_val_bytes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"data.{name} must be a positive integer, got {value!r}")
    if corpus == STDLIB:
        suffixes: tuple[str, ...]
        root, suffixes, source = stdlib_root(), (".py",), f"stdlib sources at {stdlib_root()}"
    else:
        root = Path(corpus).expanduser()
        if not root.exists():
            raise ValueError(f"corpus {str(corpus)!r} does not exist")
        if not (root.is_file() or root.is_dir()):
            raise ValueError(f"corpus {str(corpus)!r} is neither a regular file nor a folder (a FIFO or device?)")
        if root.is_file():
            if root.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"corpus file {str(root)!r} is larger than {MAX_FILE_BYTES:,} bytes")
            data = root.read_bytes()
            cut = len(data) - len(data) * val_percent // 100
            if cut < 2 or len(data) - cut < 2:
                raise ValueError(f"corpus file {str(root)!r} is too small to split ({len(data)} bytes)")
            return Corpus(_join([data[:cut]], max_train_bytes), _join([data[cut:]], max_val_bytes), str(root), 1, 1)
        suffixes, source = TEXT_SUFFIXES, str(root)
    train: list[Path] = []
    val: list[Path] = []
    for path in list_files(root, suffixes):
        (val if in_validation(path.relative_to(root).as_posix(), val_percent) else train).append(path)
    if not train or not val:
        raise ValueError(
            f"corpus {source!r} needs text files on both sides of the split, found {len(train) + len(val)}"
        )

    def read(paths: list[Path], limit: int | None) -> list[bytes]:
        chunks, size = [], 0
        for p in paths:  # stop reading once the prefix is long enough; skip what is not a plain file
            if not p.is_file() or p.stat().st_size > MAX_FILE_BYTES:
                continue
            chunks.append(p.read_bytes())
            size += len(chunks[-1]) + 1
            if limit is not None and size >= limit:
                break
        return chunks

    return Corpus(
        _join(read(train, max_train_bytes), max_train_bytes),
        _join(read(val, max_val_bytes), max_val_bytes),
        source,
        len(train),
        len(val),
    )


def random_batches(data: Tensor, batch_size: int, context: int, seed: int):
    """Endless (inputs, targets) batches of random windows; the order depends only on ``seed``.

    Every activation trained with the same seed therefore sees the same bytes in the same order.
    """
    if data.numel() <= context + 1:
        raise ValueError(f"corpus side of {data.numel()} bytes is shorter than context + 1 = {context + 1}")
    gen = torch.Generator().manual_seed(seed)
    offsets = torch.arange(context + 1)
    while True:
        starts = torch.randint(0, data.numel() - context - 1, (batch_size,), generator=gen)
        windows = data[starts[:, None] + offsets].long()
        yield windows[:, :-1], windows[:, 1:]


def fixed_batches(data: Tensor, n_batches: int, batch_size: int, context: int) -> list[tuple[Tensor, Tensor]]:
    """``n_batches`` evenly spaced, non-random windows: the same validation set at every evaluation."""
    if data.numel() <= context + 1:
        raise ValueError(f"corpus side of {data.numel()} bytes is shorter than context + 1 = {context + 1}")
    count = n_batches * batch_size
    starts = torch.linspace(0, data.numel() - context - 1, count).long()
    windows = data[starts[:, None] + torch.arange(context + 1)].long()
    return [(w[:, :-1], w[:, 1:]) for w in windows.split(batch_size)]
