"""A Ctrl-C held back where a KeyboardInterrupt would be lost or mangled.

Two places cannot take one:
- a C extension's module initialisation: python-flint's Cython modules run code strings in which
  CPython prints the interrupt and goes on (a traceback, then exit 0 or a broken import), and an
  interrupt that passes through such a string makes the interpreter kill itself with SIGINT at exit,
  whatever its exit code;
- a fork (the kernel build's compiler, ``git`` for provenance): an interrupt raised in the at-fork
  hooks (``logging``'s lock) is printed as "ignored" and the run goes on.
Holding the signal over the block turns each into an ordinary KeyboardInterrupt after it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def interrupts_held() -> Iterator[None]:
    """Run the block with SIGINT recorded instead of raised; raise KeyboardInterrupt after it if one came.

    Outside the main thread (where no signal handler can be set) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, _frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt
