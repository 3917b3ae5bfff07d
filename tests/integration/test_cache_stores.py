"""The version rule, on the in-process store and on a real redis-server of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.cache.entries import ABSENT, TOMBSTONE, VALUE, pack, unpack
from service.cache.redis_store import RedisStore
from service.cache.stores import MemoryStore


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield MemoryStore()
        return
    server = request.getfixturevalue("redis_server")
    redis_store = RedisStore(server.url, prefix="")
    try:
        yield redis_store
    finally:
        await redis_store.close()


def value(version: int, payload: bytes = b"x") -> bytes:
    return pack(version, VALUE, 0, 0, payload)


async def test_older_versions_never_replace_newer(store: Any) -> None:
    assert await store.put_if_newer([("k", 5, value(5, b"five"), 10_000)]) == 1
    assert await store.put_if_newer([("k", 4, value(4, b"four"), 10_000)]) == 0
    assert unpack((await store.mget(["k"]))[0]).payload == b"five"
    assert await store.put_if_newer([("k", 5, value(5, b"five"), 10_000)]) == 1  # same version refreshes
    assert await store.put_if_newer([("k", 6, value(6, b"six"), 10_000)]) == 1
    assert unpack((await store.mget(["k"]))[0]).payload == b"six"


async def test_a_tombstone_blocks_the_slow_readers_fill(store: Any) -> None:
    await store.put_if_newer([("k", 7, pack(7, TOMBSTONE, 0, 0), 10_000)])
    assert await store.put_if_newer([("k", 6, value(6), 10_000)]) == 0
    assert unpack((await store.mget(["k"]))[0]).kind == TOMBSTONE
    assert await store.put_if_newer([("k", 7, value(7), 10_000)]) == 1


async def test_absent_markers_and_batches(store: Any) -> None:
    puts = [("a", 0, pack(0, ABSENT, 0, 0), 10_000), ("b", 3, value(3), 10_000), ("c", 1, value(1), 10_000)]
    assert await store.put_if_newer(puts) == 3
    blobs = await store.mget(["a", "b", "missing", "c"])
    assert [unpack(b).kind if b else None for b in blobs] == [ABSENT, VALUE, None, VALUE]


async def test_generations_and_pages(store: Any) -> None:
    assert await store.get_page("gen", "page") == (0, None)
    await store.set_page("page", 0, b"p0", 10_000)
    assert await store.get_page("gen", "page") == (0, b"p0")
    await store.put_if_newer([], bump=["gen"])
    assert await store.get_page("gen", "page") == (1, None)
