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


class MemoryStore:
    """The in-process stand-in used on the embedded default: one process, so one dict keeps the promise."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._data: dict[str, tuple[bytes, float]] = {}
        self._counters: dict[str, int] = {}
        self._max_entries = max_entries

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
                if current is None and len(self._data) >= self._max_entries:
                    self._evict(now)
                self._data[key] = (blob, now + ttl_ms / 1000)
                written += 1
        for key in bump:
            self._counters[key] = self._counters.get(key, 0) + 1
        return written

    def _evict(self, now: float) -> None:
        """Drop expired entries, then the oldest value entries; tombstones go last (they guard freshness)."""
        for key in [k for k, (_, exp) in self._data.items() if exp <= now]:
            del self._data[key]
        if len(self._data) >= self._max_entries:
            victims = [k for k, (blob, _) in self._data.items() if blob[16:17] != b"t"]
            for key in victims[: max(1, len(victims) // 10)]:
                del self._data[key]

    async def get_page(self, generation_key: str, page_key: str) -> tuple[int, bytes | None]:
        generation = self._counters.get(generation_key, 0)
        return generation, self._get(f"{page_key}:{generation}")

    async def set_page(self, page_key: str, generation: int, blob: bytes, ttl_ms: int) -> None:
        self._data[f"{page_key}:{generation}"] = (blob, self._clock() + ttl_ms / 1000)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()
