"""Keep freed tensor memory inside the process, so that a training step does not page-fault its tensors in.

torch's CPU allocator is glibc's malloc, which by default hands blocks of ≳128 KiB back to the
kernel (mmap/munmap, heap trimming) as soon as they are freed. A fitting step allocates and frees
the same few-MB activations every step, so each new tensor is fresh pages: on this lab's 2-core
CPU that was ~2,000-11,000 page faults and 1.2-1.7× the wall time of a stacked Adam step
(benchmarks/RESULTS.md). Raising glibc's mmap and trim thresholds keeps the blocks on
malloc's free lists for reuse; the price is that the process keeps its peak heap until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 << 20  # glibc's ceiling on 64-bit; larger blocks are still mmapped
TRIM_THRESHOLD = 1 << 30

_DONE = {"on": False}


def keep_freed_memory() -> bool:
    """Tell glibc malloc to reuse freed blocks up to 32 MiB instead of unmapping them; True if it took effect.

    Idempotent; a no-op (False) off Linux/glibc.
    """
    if _DONE["on"]:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    _DONE["on"] = ok
    return ok
