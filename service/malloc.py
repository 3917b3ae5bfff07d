"""How the server process asks glibc's malloc to give freed memory back to the system.

CPython takes every object above 512 bytes from malloc. glibc serves a request of at least
M_MMAP_THRESHOLD bytes (128 KiB at first) with its own mmap, unmapped again on free — but each time such
a block is freed it raises the threshold to that block's size (up to 32 MiB), so after the first large
response, 400 kB rows and 4 MiB pages come from the heap arenas instead. Freed heap memory goes back only
from the top of an arena, so one live small object above a freed region keeps it resident: RSS then
stays at its peak after a burst of large reads, although Python has freed everything.

Setting the thresholds explicitly turns the dynamic adjustment off: large blocks always come from mmap
and return on free, and heap tops are trimmed once 4 MiB are free. Nothing is done without glibc.

Measured (a server process: Import of 200 posts of 400 kB, then a GetPost of each, which fills the
64 MiB cache and evicts): RSS afterwards 84 → 235-272 MB as glibc behaves by default, 84 → 177-182 MB
with these thresholds (the cache's 64 MiB included). What did not work: a fixed threshold of 512 KiB or
1 MiB (258-269 MB: the 400 kB rows still come from the heap), and ``malloc_trim(0)`` once a second from
a thread (245 MB). The cost: every large block is mapped and faulted in afresh, about +60 % server CPU
for responses of several MB (a 4 MB ListPosts page + a 3 MB BatchGet: 24-32 → 42-54 ms of CPU); calls
with small payloads are unaffected. WELLSPRING_MALLOC_RETURN_FREED=0 keeps glibc's default.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("wellspring")

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own initial value, kept fixed
TRIM_THRESHOLD_BYTES = 4 * 1024 * 1024


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def return_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds (see the module docstring); False if this is not glibc."""
    libc = _libc()
    if libc is None:
        return False
    done = bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    done = bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and done
    if not done:
        log.warning("mallopt refused the memory thresholds; freed memory may stay resident")
    return done
