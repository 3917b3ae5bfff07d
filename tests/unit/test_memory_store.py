"""The in-process store's bound: eviction is amortised, and young tombstones are never evicted."""

from __future__ import annotations

from service.cache.entries import TOMBSTONE, VALUE, pack
from service.cache.stores import TOMBSTONE_MIN_AGE_S, MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tombstone(version: int) -> bytes:
    return pack(version, TOMBSTONE, 0, 0)


async def test_a_flood_of_fresh_tombstones_costs_few_eviction_passes_and_keeps_them_all() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock, max_entries=1000)
    for n in range(5000):  # a bulk import: 5000 ids written within a second
        await store.put_if_newer([(f"k{n}", 1, tombstone(1), 900_000)])
    assert store.evictions <= 20  # one pass per 10 % of growth, not one per write
    assert await store.mget(["k0", "k4999"]) == [tombstone(1), tombstone(1)]


async def test_settled_tombstones_and_values_are_evicted_oldest_first() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock, max_entries=1000)
    for n in range(1000):
        await store.put_if_newer([(f"old{n}", 1, tombstone(1), 900_000)])
    clock.now += TOMBSTONE_MIN_AGE_S + 1
    await store.put_if_newer([("fresh", 1, pack(1, VALUE, 0, 0, b"x"), 900_000)])
    assert len(store._data) <= 901
    assert await store.mget(["old0", "fresh"]) == [None, pack(1, VALUE, 0, 0, b"x")]
