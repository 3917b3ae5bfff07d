"""Where entries live. Both stores apply the same rule (``put_if_newer``) and are interchangeable."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from service.cache.entries import version_of

Put = tuple[str, int, bytes, int]  # key, version, blob, ttl in ms


class CacheStore(Protocol):
    async def mget(self, keys: Sequence[str], timeout_s: float | None = None) -> list[bytes | None]: ...

    async def put_if_newer(self, puts: Sequence[Put], bump: Sequence[str] = ()) -> int:
        """Write each entry whose slot is empty or holds a version <= its own; increment each ``bump``
        counter. Returns how many entries were written."""
        ...

    async def get_page(self, generation_key: str, page_key: str) -> tuple[int, bytes | None]:
        """The generation counter and, in one step, the page stored under ``page_key:<generation>``."""
        ...

    async def set_page(self, page_key: str, generation: int, blob: bytes, ttl_ms: int) -> None: ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


# A tombstone younger than this is never evicted: a load that started before its write could still be in
# flight and would then fill the old value. Loads are bounded by call deadlines, far below this.
TOMBSTONE_MIN_AGE_S = 60.0


class MemoryStore:
    """The in-process stand-in used on the embedded default: one process, so one dict keeps the promise.

    Bounded by ``max_entries``. Eviction is amortised: when the dict reaches its limit, one pass drops the
    expired entries and then the oldest-inserted ones (values, and tombstones once they are older than
    TOMBSTONE_MIN_AGE_S) down to 90 %; if young tombstones keep it above the bound (a bulk import writes
    many ids at once), the limit rises by 10 % instead (geometric: a few passes per doubling), so no
    write pays a full scan each time."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float, float]] = {}  # key -> (blob, expiry, inserted)
        self._counters: dict[str, int] = {}
        self._max_entries = max_entries
        self._limit = max_entries
        self.evictions = 0  # eviction passes, for tests

    def _get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    async def mget(self, keys: Sequence[str], timeout_s: float | None = None) -> list[bytes | None]:
        return [self._get(k) for k in keys]

    async def put_if_newer(self, puts: Sequence[Put], bump: Sequence[str] = ()) -> int:
        written = 0
        now = self._clock()
        for key, version, blob, ttl_ms in puts:
            current = self._get(key)
            if current is None or version_of(current) <= version:
                if current is None and len(self._data) >= self._limit:
                    self._evict(now)
                self._data[key] = (blob, now + ttl_ms / 1000, now)
                written += 1
        for key in bump:
            self._counters[key] = self._counters.get(key, 0) + 1
        return written

    def _evict(self, now: float) -> None:
        self.evictions += 1
        for key in [k for k, item in self._data.items() if item[1] <= now]:
            del self._data[key]
        excess = len(self._data) - self._max_entries * 9 // 10
        if excess > 0:
            settled = now - TOMBSTONE_MIN_AGE_S
            victims = []
            for key, (blob, _, inserted) in self._data.items():  # insertion order: oldest first
                if blob[16:17] != b"t" or inserted <= settled:
                    victims.append(key)
                    if len(victims) >= excess:
                        break
            for key in victims:
                del self._data[key]
        size = len(self._data)
        self._limit = max(self._max_entries, size + max(size, self._max_entries) // 10)

    async def get_page(self, generation_key: str, page_key: str) -> tuple[int, bytes | None]:
        generation = self._counters.get(generation_key, 0)
        return generation, self._get(f"{page_key}:{generation}")

    async def set_page(self, page_key: str, generation: int, blob: bytes, ttl_ms: int) -> None:
        now = self._clock()
        self._data[f"{page_key}:{generation}"] = (blob, now + ttl_ms / 1000, now)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
