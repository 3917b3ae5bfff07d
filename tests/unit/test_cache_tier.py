"""CacheTier logic on the in-process store and fakes: fills, races, single-flight, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from service.cache.breaker import CircuitBreaker, State
from service.cache.stores import MemoryStore
from service.cache.tier import CachePolicy, CacheTier, Loaded


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Rows:
    """The 'database': id -> (version, payload), and how often it was asked."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, bytes]] = {}
        self.loads: list[list[str]] = []
        self.gate: asyncio.Event | None = None

    async def load(self, ids: list[str]) -> Loaded:
        self.loads.append(ids)
        snapshot = {i: self.rows[i] for i in ids if i in self.rows}
        if self.gate is not None:
            await self.gate.wait()
        return snapshot


@pytest.fixture
def rows() -> Rows:
    db = Rows()
    db.rows = {"a": (1, b"a1"), "b": (1, b"b1")}
    return db


@pytest.fixture
def tier() -> CacheTier:
    """A frozen clock: every reader in a test 'began' before any load, as in a burst of requests."""
    return CacheTier(MemoryStore(), clock=FakeClock(), rng=lambda: 0.5)


async def test_miss_then_hit(tier: CacheTier, rows: Rows) -> None:
    assert await tier.read_through("u", ["a", "zz"], rows.load) == {"a": b"a1", "zz": None}
    assert await tier.read_through("u", ["a", "zz"], rows.load) == {"a": b"a1", "zz": None}
    assert rows.loads == [["a", "zz"]]
    assert tier.counters["hits"] == 2 and tier.counters["misses"] == 2


async def test_write_after_slow_read_is_never_overwritten(tier: CacheTier, rows: Rows) -> None:
    """The cache-aside race: a reader loads v1, a write commits v2 and tombstones, the reader fills v1."""
    rows.gate = asyncio.Event()
    slow = asyncio.create_task(tier.read_through("u", ["a"], rows.load))
    await asyncio.sleep(0)  # the slow reader has loaded v1 and waits
    rows.rows["a"] = (2, b"a2")
    assert await tier.invalidate("u", [("a", 2, False)])
    tier._clock.now += 1  # type: ignore[attr-defined]  # the write is acknowledged; time moves on
    rows.gate.set()
    assert await slow == {"a": b"a1"}  # it began before the write: old data is allowed
    rows.gate = None
    assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a2"}
    assert tier.counters["rejected_fills"] == 1


async def test_deletes_are_served_as_absent(tier: CacheTier, rows: Rows) -> None:
    await tier.read_through("u", ["a"], rows.load)
    del rows.rows["a"]
    await tier.invalidate("u", [("a", 2, True)])
    assert await tier.read_through("u", ["a"], rows.load) == {"a": None}
    assert rows.loads == [["a"]]


async def test_a_reader_never_joins_a_load_that_started_before_it(rows: Rows) -> None:
    """Load L reads v1; a write commits v2 and is acknowledged; a reader starting now must not get L's v1."""
    clock = FakeClock()
    tier = CacheTier(MemoryStore(), clock=clock, rng=lambda: 0.5)
    rows.gate = asyncio.Event()
    early = asyncio.create_task(tier.read_through("u", ["a"], rows.load))
    await asyncio.sleep(0)
    rows.rows["a"] = (2, b"a2")
    await tier.invalidate("u", [("a", 2, False)])
    clock.now += 1
    late = asyncio.create_task(tier.read_through("u", ["a"], rows.load))
    await asyncio.sleep(0)
    rows.gate.set()
    assert await early == {"a": b"a1"} and await late == {"a": b"a2"}
    assert len(rows.loads) == 2


async def test_concurrent_misses_share_one_load(tier: CacheTier, rows: Rows) -> None:
    rows.gate = asyncio.Event()
    calls = [asyncio.create_task(tier.read_through("u", ["a"], rows.load)) for _ in range(50)]
    await asyncio.sleep(0)
    rows.gate.set()
    assert all(r == {"a": b"a1"} for r in await asyncio.gather(*calls))
    assert rows.loads == [["a"]] and tier.counters["coalesced"] == 49


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached(tier: CacheTier) -> None:
    async def broken(ids: list[str]) -> Loaded:
        await asyncio.sleep(0)
        raise RuntimeError("db down")

    calls = [asyncio.create_task(tier.read_through("u", ["a"], broken)) for _ in range(3)]
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert not tier._loads  # a failure is not shared with later readers


class BrokenStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def mget(self, keys: Sequence[str], timeout_s: float | None = None) -> list[bytes | None]:
        self.calls += 1
        raise ConnectionError("redis down")

    async def put_if_newer(self, puts: Any, bump: Any = ()) -> int:
        self.calls += 1
        raise ConnectionError("redis down")


class HangingStore(MemoryStore):
    """A network store whose reads never answer."""

    waits = True

    async def mget(self, keys: Sequence[str], timeout_s: float | None = None) -> list[bytes | None]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_store_that_waits_is_bounded_by_the_op_timeout(rows: Rows) -> None:
    tier = CacheTier(HangingStore(), policy=CachePolicy(op_timeout_s=0.05))
    assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a1"}  # the database answered
    assert tier.counters["errors"] == 1 and tier.breaker.state is State.OPEN  # a timeout trips it


async def test_the_in_process_store_is_not_timed(rows: Rows, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_timer(_: float) -> Any:
        raise AssertionError("an op timeout around a store that never waits")

    monkeypatch.setattr("service.cache.tier.asyncio.timeout", no_timer)
    tier = CacheTier(MemoryStore())
    assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a1"}
    assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a1"}
    assert tier.counters["hits"] == 1 and not tier.counters["errors"]


async def test_store_failures_are_misses_and_open_the_breaker(rows: Rows) -> None:
    clock = FakeClock()
    store = BrokenStore()
    tier = CacheTier(store, breaker=CircuitBreaker(threshold=3, cooldown_s=1.0, clock=clock), clock=clock)
    for _ in range(10):
        assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a1"}
    assert tier.breaker.state is State.OPEN and store.calls == 3
    assert not await tier.invalidate("u", [("a", 2, False)])
    clock.now += 1.5  # cool-down over: one probe is let through
    await tier.read_through("u", ["a"], rows.load)
    assert store.calls == 4 and tier.breaker.state is State.OPEN


async def test_no_time_left_means_no_cache_call(rows: Rows) -> None:
    clock = FakeClock()
    store = BrokenStore()
    tier = CacheTier(store, clock=clock)
    assert await tier.read_through("u", ["a"], rows.load, deadline=clock.now - 1) == {"a": b"a1"}
    assert store.calls == 0 and tier.counters["skipped"] == 1  # no read, so no fill either


async def test_xfetch_refreshes_before_expiry_when_unlucky(rows: Rows) -> None:
    wall = [0]
    draws = iter([0.5, 0.5, 1e-300, 0.5, 0.5])  # fill jitter, fresh check, unlucky check, refill
    perf = FakeClock()
    clock = FakeClock()
    tier = CacheTier(MemoryStore(), wall_ms=lambda: wall[0], rng=lambda: next(draws), perf=perf, clock=clock)

    async def costly_load(ids: list[str]) -> Loaded:
        perf.now += 0.005  # the load costs 5 ms: XFetch weighs early refreshes by it
        return await rows.load(ids)

    await tier.read_through("u", ["a"], costly_load)
    wall[0] = 299_950  # 50 ms before the 300 s expiry
    clock.now += 10  # past the window in which a finished load is shared
    await tier.read_through("u", ["a"], rows.load)  # a lucky draw: served from the cache
    assert len(rows.loads) == 1
    await tier.read_through("u", ["a"], rows.load)  # an unlucky draw: -log(rng) is huge, refresh early
    assert len(rows.loads) == 2 and tier.counters["early_refreshes"] == 1


async def test_xfetch_draws_only_near_expiry(rows: Rows) -> None:
    """Far from its expiry an entry is fresh whatever the draw could be, so none is made; near it, the
    draw decides (a batch's hits and misses are counted as one)."""
    wall, draws = [0], [0]

    def rng() -> float:
        draws[0] += 1
        return 0.5

    perf = FakeClock()
    tier = CacheTier(MemoryStore(), wall_ms=lambda: wall[0], rng=rng, perf=perf, clock=FakeClock())

    async def costly_load(ids: list[str]) -> Loaded:
        perf.now += 0.005  # 5 ms: a draw can bring a refresh forward by at most ~138 ms
        return await rows.load(ids)

    await tier.read_through("u", ["a", "b"], costly_load)
    filled = draws[0]  # the fills' TTL jitter
    wall[0] = 299_000  # 1 s before the 300 s expiry (less the jitter's 10 %: the rng gave 0.5, none)
    assert await tier.read_through("u", ["a", "b"], rows.load) == {"a": b"a1", "b": b"b1"}
    assert draws[0] == filled
    assert tier.counters["hits"] == 2 and tier.counters["misses"] == 2  # the first read's
    assert await tier.read_through("u", ["a", "c"], rows.load) == {"a": b"a1", "c": None}
    assert tier.counters["hits"] == 3 and tier.counters["misses"] == 3
    filled = draws[0]  # c's fill drew its jitter
    wall[0] = 299_900  # 100 ms before: within reach of a draw
    await tier.read_through("u", ["a"], rows.load)
    assert draws[0] == filled + 1


def test_breaker_half_open_lets_one_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, cooldown_s=1.0, clock=clock)
    breaker.failure()
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow() and not breaker.allow()
    breaker.success()
    assert breaker.state is State.CLOSED and breaker.allow()


async def test_an_unread_slot_vouches_for_nothing(rows: Rows) -> None:
    """Found by the history checker: with Redis unreachable (or unleased), a reader saw no tombstone and
    took a load finished before a write was acknowledged. Without a slot version only time decides."""
    clock = FakeClock()
    tier = CacheTier(BrokenStore(), clock=clock, breaker=CircuitBreaker(threshold=1000, clock=clock))
    assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a1"}  # a load, kept shareable 1 s
    rows.rows["a"] = (2, b"a2")  # a write commits and is acknowledged (its tombstone never lands)
    clock.now += 0.1
    assert await tier.read_through("u", ["a"], rows.load) == {"a": b"a2"}
    assert len(rows.loads) == 2


async def test_list_pages_above_the_page_cap_or_the_byte_bound_are_not_stored() -> None:
    from service.cache.tier import CachePolicy

    clock = FakeClock()
    policy = CachePolicy(list_max_bytes=1_000_000, list_max_page_bytes=300_000, list_ttl_s=30, jitter=0)
    tier = CacheTier(MemoryStore(clock=clock), clock=clock, rng=lambda: 0.5, policy=policy)
    await tier.store_page("u", "big", 0, b"x" * 300_001)
    assert (await tier.cached_page("u", "big"))[1] is None
    for n in range(5):  # 5 x 250 kB offered within one TTL: 3 fit in the 1 MB bound
        await tier.store_page("u", f"p{n}", 0, b"x" * 250_000)
    stored = [(await tier.cached_page("u", f"p{n}"))[1] is not None for n in range(5)]
    assert stored == [True, True, True, False, False]
    clock.now += 32  # the first pages have expired everywhere: their bytes count no more
    await tier.store_page("u", "later", 0, b"x" * 250_000)
    assert (await tier.cached_page("u", "later"))[1] is not None


async def test_a_read_refused_for_its_size_loads_nothing(tier: CacheTier, rows: Rows) -> None:
    rows.rows = {f"r{n}": (1, b"y" * 1000) for n in range(10)}
    await tier.read_through("u", ["r0"], rows.load)  # one hit of 1000 bytes
    seen: list[tuple[int, list[str]]] = []

    async def admit(hit_bytes: int, misses: list[str]) -> None:
        seen.append((hit_bytes, misses))
        if misses:
            raise ValueError("too large")

    rows.loads.clear()
    with pytest.raises(ValueError):
        await tier.read_through("u", [f"r{n}" for n in range(10)], rows.load, admit=admit)
    assert rows.loads == []  # refused before the database was asked
    assert seen == [(1006, []), (1006, [f"r{n}" for n in range(1, 10)])]


async def test_finished_loads_are_forgotten_once_too_old_to_share(rows: Rows) -> None:
    clock = FakeClock()
    tier = CacheTier(MemoryStore(clock=clock), clock=clock, rng=lambda: 0.5)
    rows.rows = {f"r{n}": (1, b"z" * 1000) for n in range(50)}
    await tier.read_through("u", list(rows.rows), rows.load)
    assert len(tier._loads) == 50  # shareable for share_window_s: they hold whole rows
    clock.now += tier.policy.share_window_s + 0.1
    await tier.read_through("u", ["other"], rows.load)
    assert list(tier._loads) == [tier.key("u", "other")]  # not kept until there are 4096 of them
