"""A bound in bytes on what one process may have alive in a store whose entries expire on their own."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

# What a stored page costs beyond its key and blob: Redis's key object, expiry entry and allocator
# rounding (the in-process store's ENTRY_OVERHEAD is of the same order).
PAGE_OVERHEAD = 160


class ExpiringBytes:
    """Admits writes of at most ``max_bytes`` within any ``hold_s`` seconds. If every admitted write
    expires within ``hold_s`` (its TTL), this process never has more than ``max_bytes`` of them alive in
    the store, whatever the traffic — the bound holds in Redis, which this process cannot measure.

    Writes are counted per ``slice_s`` slice and a slice is released ``hold_s`` after it ends, so this
    is conservative by at most one slice and its own memory is a few dozen numbers."""

    def __init__(
        self,
        max_bytes: int,
        hold_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        slice_s: float = 1.0,
    ) -> None:
        self.max_bytes = max_bytes
        self._hold_s = hold_s
        self._slice_s = slice_s
        self._clock = clock
        self._slices: deque[list[float]] = deque()  # [slice start, bytes admitted in it], oldest first
        self.alive = 0  # bytes admitted and perhaps not yet expired

    def admit(self, size: int) -> bool:
        """Count ``size`` bytes and return True, or return False if they would pass the bound."""
        now = self._clock()
        while self._slices and self._slices[0][0] + self._slice_s + self._hold_s <= now:
            self.alive -= int(self._slices.popleft()[1])
        if self.alive + size > self.max_bytes:
            return False
        if not self._slices or self._slices[-1][0] + self._slice_s <= now:
            self._slices.append([now, 0])
        self._slices[-1][1] += size
        self.alive += size
        return True
