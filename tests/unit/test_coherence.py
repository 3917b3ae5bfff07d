"""The outbox and read-lease protocol on fakes: no sleeping, an injected sleep records the waits."""

from __future__ import annotations

import asyncio
import dataclasses
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
    assert await coherence.renew()  # a replica that is already running
    await record(db, coherence)  # committed, never applied: its writer died
    assert await coherence.renew() and len(db.state.outbox) == 1  # too young to be called abandoned
    coherence._abandoned_after_us = 0
    assert await coherence.renew() and db.state.outbox == {}
    assert tier.counters["outbox_applied"] == 1


async def test_a_starting_replica_applies_every_row_before_its_first_lease() -> None:
    """Issue 18: a young row may be all that is left of a write whose process just stopped."""
    db, store, tier, _, _ = setup()
    writer = Coherence(db, CacheTier(store))
    await record(db, writer)  # committed, never applied, 0 s old: its process was killed
    starting = Coherence(db, tier)
    assert await starting.renew() and tier.snapshot()["leased"]
    assert db.state.outbox == {} and tier.counters["outbox_applied"] == 1  # applied before the lease
    assert (await store.mget(["ws:users:a"]))[0] is not None  # the tombstone is there


async def test_no_lease_while_rows_past_the_first_batch_are_left() -> None:
    db, store, tier, coherence, _ = setup()
    store.down = True
    async with db.writing() as uow:
        ids = await coherence.record(uow, "users", [(f"u{i}", 5, False) for i in range(1200)])
        await uow.outbox.mark_failed(ids)
        await uow.commit()
    assert not await coherence.renew()
    store.down = False
    assert await coherence.renew() and db.state.outbox == {}
    assert tier.counters["outbox_applied"] == 1200


async def test_a_write_cancelled_after_commit_is_settled_by_the_next_renewal() -> None:
    """Its Redis call cancelled (the shutdown's grace ran out): not acknowledged, but committed."""
    db, store, tier, coherence, _ = setup()
    assert await coherence.renew()
    ids = await record(db, coherence)
    hold = asyncio.Event()
    real = store.put_if_newer

    async def stuck(puts: Any, bump: Sequence[str] = ()) -> int:
        await hold.wait()
        return await real(puts, bump)

    store.put_if_newer = stuck  # type: ignore[method-assign]
    tier.policy = dataclasses.replace(tier.policy, op_timeout_s=60)
    write = asyncio.create_task(coherence.after_commit("users", [("a", 5, False)], ids, None))
    await asyncio.sleep(0)
    write.cancel()
    await asyncio.wait({write})
    store.put_if_newer = real  # type: ignore[method-assign]
    store.down = True  # the orphan cannot be applied: it is marked failed, for every replica to see
    assert not await coherence.renew()
    assert db.state.outbox[ids[0]][1] is True
    store.down = False
    assert await coherence.renew() and db.state.outbox == {}
