"""The outbox and read-lease protocol on fakes: no sleeping, an injected sleep records the waits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.cache.breaker import CircuitBreaker
from service.cache.stores import MemoryStore
from service.cache.tier import CacheTier
from service.handlers.coherence import Coherence
from tests.fakes import FakeDatabase


class SwitchableStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.down = False

    async def put_if_newer(self, puts: Any, bump: Sequence[str] = ()) -> int:
        if self.down:
            raise ConnectionError("redis unreachable")
        return await super().put_if_newer(puts, bump)


def setup() -> tuple[FakeDatabase, SwitchableStore, CacheTier, Coherence, list[float]]:
    db, store = FakeDatabase(), SwitchableStore()
    tier = CacheTier(store, breaker=CircuitBreaker(threshold=100))
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return db, store, tier, Coherence(db, tier, lease_s=1.0, sleep=sleep), waits


async def record(db: FakeDatabase, coherence: Coherence) -> list[int]:
    async with db.writing() as uow:
        ids = await coherence.record(uow, "users", [("a", 5, False)])
        await uow.commit()
    return ids


async def test_an_applied_invalidation_acknowledges_at_once_and_is_cleaned_up() -> None:
    db, _, tier, coherence, waits = setup()
    ids = await record(db, coherence)
    await coherence.after_commit("users", [("a", 5, False)], ids, None)
    assert waits == [] and tier.counters["tombstones"] == 1
    assert await coherence.renew() and db.state.outbox == {}
    assert tier.snapshot()["leased"]


async def test_a_failed_invalidation_is_marked_blocks_leases_and_delays_the_ack() -> None:
    db, store, tier, coherence, waits = setup()
    assert await coherence.renew() and tier.snapshot()["leased"]
    store.down = True
    ids = await record(db, coherence)
    await coherence.after_commit("users", [("a", 5, False)], ids, None)
    assert waits == [1.0]  # acknowledged only after one lease period
    assert db.state.outbox[ids[0]][1] is True  # marked failed, durably
    assert not tier.snapshot()["leased"]  # this replica stopped reading from the store at once
    assert not await coherence.renew()  # and no replica renews while the row cannot be applied
    store.down = False
    assert await coherence.renew()  # applied by whoever reaches the store
    assert db.state.outbox == {} and tier.snapshot()["leased"]
    assert tier.counters["outbox_applied"] == 1


async def test_rows_left_by_a_dead_writer_are_applied_once_old_enough() -> None:
    db, _, tier, coherence, _ = setup()
    await record(db, coherence)  # committed, never applied: its writer died
    assert await coherence.renew() and len(db.state.outbox) == 1  # too young to be called abandoned
    coherence._abandoned_after_us = 0
    assert await coherence.renew() and db.state.outbox == {}
    assert tier.counters["outbox_applied"] == 1
