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


def value(version: int, size: int) -> bytes:
    return pack(version, VALUE, 0, 0, b"x" * size)


async def test_the_byte_budget_holds_with_large_values_and_few_passes() -> None:
    store = MemoryStore(clock=Clock(), max_bytes=8 * 1024 * 1024)
    for n in range(400):  # 400 MB offered to an 8 MiB store
        await store.put_if_newer([(f"k{n}", 1, value(1, 1_000_000), 900_000)])
        assert store.bytes <= 8 * 1024 * 1024
    assert store.evictions <= 400 // 2  # a pass frees 10 % of the budget: one per ~one write of 1 MB here
    assert await store.mget(["k0", "k399"]) == [None, value(1, 1_000_000)]  # oldest first


async def test_young_tombstones_outlive_a_byte_eviction() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock, max_bytes=4 * 1024 * 1024)
    await store.put_if_newer([("gone", 2, tombstone(2), 900_000)])
    for n in range(40):
        await store.put_if_newer([(f"k{n}", 1, value(1, 200_000), 900_000)])
    assert await store.mget(["gone"]) == [tombstone(2)]
    assert store.bytes <= 4 * 1024 * 1024


async def test_pages_too_large_for_the_budget_are_not_stored() -> None:
    store = MemoryStore(clock=Clock(), max_bytes=16 * 1024 * 1024)
    await store.set_page("small", 0, b"p" * 1024, 10_000)
    await store.set_page("large", 0, b"p" * (1024 * 1024 + 1), 10_000)  # above 1/16 of the budget
    assert (await store.get_page("gen", "small"))[1] == b"p" * 1024
    assert (await store.get_page("gen", "large"))[1] is None


async def test_pages_and_entries_share_one_byte_budget() -> None:
    store = MemoryStore(clock=Clock(), max_bytes=4 * 1024 * 1024)
    for n in range(100):  # 100 pages of 200 kB under 100 different keys: 20 MB offered
        await store.set_page(f"page{n}", 0, b"p" * 200_000, 10_000)
    assert store.bytes <= 4 * 1024 * 1024
    assert (await store.get_page("gen", "page99"))[1] is not None
