"""Where entries live. Both stores apply the same rule (``put_if_newer``) and are interchangeable."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from service.cache.entries import TOMBSTONE, kind_of, version_of
from service.config import DEFAULTS

Put = tuple[str, int, bytes, int]  # key, version, blob, ttl in ms


class CacheStore(Protocol):
    # Whether a call may wait on anything (a network store): only then does the tier bound it with its
    # op timeout, whose timer costs every call (~5 µs) what a store that never waits cannot use.
    waits: bool

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

    def describe(self) -> str:
        """What the start-up line says the cache tier is."""
        ...

    def watch(self, publish: Callable[[bool], Awaitable[None]], *, interval_s: float) -> None:
        """Tell ``publish`` whether the store answers, now and on every change, until ``close``."""
        ...

    async def close(self) -> None: ...


# A tombstone younger than this is never evicted: a load that started before its write could still be in
# flight and would then fill the old value. Loads are bounded by call deadlines, far below this.
TOMBSTONE_MIN_AGE_S = 60.0


# What one entry costs beyond its key and blob (dict slot, tuple, two floats, object headers), measured
# with tracemalloc on CPython 3.11 (~150 bytes).
ENTRY_OVERHEAD = 160


class MemoryStore:
    """The in-process stand-in used on the embedded default: one process, so one dict keeps the promise.

    Bounded by ``max_entries`` and by ``max_bytes`` (keys, blobs and per-entry overhead, List pages
    included); a page above ``max_bytes // 16`` is not stored at all. Eviction is amortised: when a write
    would pass a limit, one walk from the oldest end drops entries (values, and tombstones once they are
    older than TOMBSTONE_MIN_AGE_S) until both figures are back at 90 % of their bounds, moving the young
    tombstones it meets to the young end. A walk costs what it drops plus what it moves, so a write pays
    O(1) on average. If young tombstones keep the store above a bound (a bulk import writes many ids at
    once), that limit rises by 10 % instead (geometric: a few passes per doubling)."""

    waits = False  # a dict in this process: every call is over before it returns

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 100_000,
        max_bytes: int = DEFAULTS.cache_max_bytes,
    ) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float, float]] = {}  # key -> (blob, expiry, inserted)
        self._counters: dict[str, int] = {}
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._limit = max_entries
        self._byte_limit = max_bytes
        self.bytes = 0  # what the entries cost, by ENTRY_OVERHEAD's measure
        self._holes = 0  # slots of deleted keys the dict still walks over (see _evict)
        self.evictions = 0  # eviction passes, for tests
        self._published: asyncio.Future[None] | None = None

    @staticmethod
    def _cost(key: str, blob: bytes) -> int:
        return len(key) + len(blob) + ENTRY_OVERHEAD

    def _remove(self, key: str) -> None:
        blob = self._data.pop(key)[0]
        self.bytes -= self._cost(key, blob)

    def _insert(self, key: str, blob: bytes, ttl_ms: int, now: float) -> None:
        """Store ``blob`` as the youngest entry (a replaced one moves to the young end too)."""
        if key in self._data:
            self._remove(key)
            self._holes += 1
        cost = self._cost(key, blob)
        if len(self._data) >= self._limit or self.bytes + cost > self._byte_limit:
            self._evict(now, cost)
        self._data[key] = (blob, now + ttl_ms / 1000, now)
        self.bytes += cost

    def _get(self, key: str) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            self._remove(key)
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
                self._insert(key, blob, ttl_ms, now)
                written += 1
        for key in bump:
            self._counters[key] = self._counters.get(key, 0) + 1
        return written

    def _evict(self, now: float, incoming: int) -> None:
        self.evictions += 1
        count_target = self._max_entries * 9 // 10
        byte_target = self._max_bytes * 9 // 10 - incoming
        settled = now - TOMBSTONE_MIN_AGE_S
        victims, young = [], []
        count, size = len(self._data), self.bytes
        for key, (blob, expiry, inserted) in self._data.items():  # insertion order: oldest first
            if count <= count_target and size <= byte_target:
                break
            if kind_of(blob) == TOMBSTONE and inserted > settled and expiry > now:
                young.append(key)
                continue
            victims.append(key)
            count -= 1
            size -= self._cost(key, blob)
        for key in victims:
            self._remove(key)
        for key in young:  # met again only after everything now younger than them
            self._data[key] = self._data.pop(key)
        # A dict walks over the slots of deleted keys until it is rebuilt; rebuild it once those outnumber
        # the live ones (O(n), paid for by the n deletions), so later walks do not pay for old ones.
        self._holes += len(victims) + len(young)  # (a replaced key leaves one too: see _insert)
        if self._holes > len(self._data):
            self._data = dict(self._data)
            self._holes = 0
        size = len(self._data)
        self._limit = max(self._max_entries, size + max(size, self._max_entries) // 10)
        self._byte_limit = max(self._max_bytes, self.bytes + max(self.bytes, self._max_bytes) // 10)

    async def get_page(self, generation_key: str, page_key: str) -> tuple[int, bytes | None]:
        generation = self._counters.get(generation_key, 0)
        return generation, self._get(f"{page_key}:{generation}")

    async def set_page(self, page_key: str, generation: int, blob: bytes, ttl_ms: int) -> None:
        """Store the page, unless it alone would take more than 1/16 of the byte budget."""
        if len(blob) <= self._max_bytes // 16:
            self._insert(f"{page_key}:{generation}", blob, ttl_ms, self._clock())

    async def ping(self) -> None:
        return None

    def describe(self) -> str:
        return f"in-process, {self._max_bytes / 2**20:g} MiB"

    def watch(self, publish: Callable[[bool], Awaitable[None]], *, interval_s: float) -> None:
        self._published = asyncio.ensure_future(publish(True))  # in this process: always there

    async def close(self) -> None:
        self._data.clear()
        self.bytes = 0
