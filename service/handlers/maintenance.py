"""Housekeeping use cases run by the server's background loop."""

from __future__ import annotations

from service.handlers.common import Clock, wall_clock_us
from service.repository.base import Database


class Maintenance:
    def __init__(self, db: Database, *, retention_s: float = 86_400.0, clock: Clock = wall_clock_us) -> None:
        self._db = db
        self._retention_us = int(retention_s * 1_000_000)
        self._clock = clock

    async def purge_idempotency_keys(self) -> int:
        """Forget request_ids older than the retention window (a retry after that creates anew)."""
        async with self._db.writing() as uow:
            purged = await uow.idempotency.purge(self._clock() - self._retention_us)
            await uow.commit()
        return purged
