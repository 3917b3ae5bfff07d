"""The write side of the cache promise when the cache is shared (Redis), DESIGN §3.

A tombstone that cannot reach Redis at write time must not be lost, and no replica may serve from Redis
what the write replaced once the write is acknowledged:

* every write records its invalidations in the outbox, in its own transaction;
* after commit it applies them (the tier's tombstones). Applied: the rows are deleted in the background.
  Not applied: the rows are marked failed, and the write is acknowledged only after one lease period;
* every replica reads from Redis only while it holds a read lease, renewed every quarter period by a
  check that the outbox holds nothing failed (or abandoned by a writer that died). A replica that finds
  such rows applies them itself and renews only once they are applied;
* a starting replica takes its first lease only once it has applied EVERY row in the outbox, whatever
  its age: a young pending row may be all that is left of a write whose process stopped between commit
  and invalidation (kill -9, a crash, the shutdown's grace running out), and nobody else will apply it
  before it counts as abandoned (issue 18);
* a write cancelled after commit (its Redis call cancelled by shutdown, its caller gone) was never
  acknowledged, but it is committed: the next renewal — the last one at shutdown, too — applies its
  invalidations or marks them failed, so no replica keeps leasing past them until they are abandoned;
* a write that changes nothing acknowledges the version it found, which another writer may have
  committed without its tombstone being in Redis yet: it leaves that tombstone too, through the outbox,
  before it is acknowledged (``PendingInvalidations.confirm``).

So a lease granted before the failure was recorded has lapsed by the time the write is acknowledged, and
no lease is granted after it until the tombstones are in Redis. Redis failing slows writes by one lease
period; it never fails them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from service.cache.tier import CacheTier
from service.config import DEFAULTS
from service.handlers.common import Clock, wall_clock_us
from service.repository.base import Database, OutboxEntry, UnitOfWork

log = logging.getLogger("wellspring.cache")

Change = tuple[str, int, bool]  # id, new version, deleted
_BATCH = 500  # outbox rows read (and applied) per query; a renewal reads until none is left
# Changes of cancelled writes kept for the next renewal (~100 B each). Past it the oldest are dropped: their
# rows stay in the outbox and are applied once they count as abandoned (or by a starting replica).
_MAX_ORPHAN_CHANGES = 50_000


class Coherence:
    def __init__(
        self,
        db: Database,
        cache: CacheTier,
        *,
        lease_s: float = 1.0,
        abandoned_after_s: float = DEFAULTS.cache_abandoned_after_s,
        clock_us: Clock = wall_clock_us,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._db = db
        self._cache = cache
        self.lease_s = lease_s
        self._abandoned_after_us = int(abandoned_after_s * 1_000_000)
        self._abandoned_after_s = abandoned_after_s
        self._clock_us = clock_us
        self._monotonic = monotonic
        self._sleep = sleep
        self._applied: list[int] = []
        self._orphans: deque[tuple[str, list[Change], list[int]]] = deque()  # cancelled after commit
        self._orphan_changes = 0
        self._swept = False  # every row at start-up applied, whatever its age
        cache.require_lease()

    async def record(self, uow: UnitOfWork, collection: str, changes: Sequence[Change]) -> list[int]:
        """Inside the write's transaction: the invalidations, durably."""
        entries = [OutboxEntry(collection, i, v, d) for i, v, d in changes]
        return await uow.outbox.add(entries, self._clock_us()) if entries else []

    async def after_commit(
        self, collection: str, changes: Sequence[Change], ids: Sequence[int], deadline: float | None
    ) -> None:
        """Before the write is acknowledged: tombstones applied, or every read lease lapsed."""
        try:
            if await self._cache.invalidate(collection, changes, deadline):
                self._applied.extend(ids)
                return
        except BaseException:  # cancelled: never acknowledged, but committed (the next renewal settles it)
            self._orphan(collection, changes, ids)
            raise
        self._cache.revoke_lease()
        wait = self.lease_s
        try:
            async with self._db.writing() as uow:
                await uow.outbox.mark_failed(ids)
                await uow.commit()
        except Exception:  # then renewals find the rows only once they count as abandoned
            wait += self._abandoned_after_s
        except BaseException:  # cancelled while marking them: perhaps not marked
            self._orphan(collection, changes, ids)
            raise
        self._cache.counters["delayed_acks"] += 1
        await self._sleep(wait)

    async def renew(self) -> bool:
        """One lease renewal: settle cancelled writes, clean up, apply what is pending (at start-up: every
        row), grant the lease if nothing is left."""
        started = self._monotonic()
        try:
            await self._settle_orphans()
            await self._delete_applied()
            # At start-up every row counts: its writer may have stopped a moment ago (see the module doc).
            cutoff = self._clock_us() - (self._abandoned_after_us if self._swept else 0)
            if not await self._apply_pending(cutoff):
                self._cache.revoke_lease()
                return False
        except Exception as error:  # the database is unreachable: no proof, no lease
            log.warning("cache lease not renewed: %s", type(error).__name__)
            self._cache.revoke_lease()
            return False
        self._swept = True
        self._cache.grant_lease(started + self.lease_s)
        return True

    async def _apply_pending(self, cutoff_us: int) -> bool:
        """Apply the rows that are failed or older than ``cutoff_us``, a batch at a time until none is
        left (a lease after the first batch only could skip the rest); False if one could not be."""
        total = 0
        while True:
            pending = await self._pending(cutoff_us)
            total += len(pending)
            self._cache.counters["outbox_pending"] = total  # a gauge: failed or abandoned rows
            if pending and not await self._apply(pending):
                return False
            if len(pending) < _BATCH:
                return True

    def _orphan(self, collection: str, changes: Sequence[Change], ids: Sequence[int]) -> None:
        self._orphans.append((collection, list(changes), list(ids)))
        self._orphan_changes += len(changes)
        while self._orphan_changes > _MAX_ORPHAN_CHANGES and len(self._orphans) > 1:
            self._orphan_changes -= len(self._orphans.popleft()[1])

    async def _settle_orphans(self) -> None:
        """The invalidations of writes cancelled after commit: applied, or else marked failed, so that
        every replica's renewal applies them before it leases again."""
        while self._orphans:
            collection, changes, ids = self._orphans[0]
            if await self._cache.invalidate(collection, changes):
                self._applied.extend(ids)
            elif ids:
                async with self._db.writing() as uow:
                    await uow.outbox.mark_failed(ids)
                    await uow.commit()
            self._orphans.popleft()
            self._orphan_changes -= len(changes)
            self._cache.counters["outbox_orphans_settled"] += 1

    async def run(self) -> None:
        while True:
            await self.renew()
            await self._sleep(self.lease_s / 4)

    async def _pending(self, cutoff_us: int) -> list[tuple[int, OutboxEntry]]:
        async with self._db.reading() as uow:
            return await uow.outbox.pending(cutoff_us, _BATCH)

    async def _apply(self, pending: list[tuple[int, OutboxEntry]]) -> bool:
        by_collection: dict[str, list[Change]] = {}
        for _, entry in pending:
            by_collection.setdefault(entry.collection, []).append(
                (entry.resource_id, entry.version, entry.deleted)
            )
        for collection, changes in by_collection.items():
            if not await self._cache.invalidate(collection, changes):
                return False
        async with self._db.writing() as uow:
            await uow.outbox.delete([i for i, _ in pending])
            await uow.commit()
        self._cache.counters["outbox_applied"] += len(pending)
        return True

    async def _delete_applied(self) -> None:
        if self._applied:
            done, self._applied = self._applied, []
            try:
                async with self._db.writing() as uow:
                    await uow.outbox.delete(done)
                    await uow.commit()
            except Exception:
                self._applied.extend(done)
                raise
