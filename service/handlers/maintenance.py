"""Housekeeping use cases run by the server's background loop."""

from __future__ import annotations

from service.changes import compaction
from service.config import DEFAULTS, Settings
from service.handlers.common import Clock, wall_clock_us
from service.repository.base import Database


class Maintenance:
    """Compaction of the change log and expiry of idempotency rows, each after its retention in
    ``settings`` (``idempotency_retention_s``, ``change_log_retention_s``)."""

    def __init__(self, db: Database, settings: Settings = DEFAULTS, *, clock: Clock = wall_clock_us) -> None:
        self._db = db
        self._retention_us = int(settings.idempotency_retention_s * 1_000_000)
        self._log_retention_us = int(settings.change_log_retention_s * 1_000_000)
        self._clock = clock

    async def compact_change_log(self) -> int:
        """Delete change-log rows older than the retention window (``changes.compaction``); watchers asking
        for them get OUT_OF_RANGE. Returns how many rows went."""
        return await compaction.compact(self._db, self._clock() - self._log_retention_us)

    async def purge_idempotency_keys(self) -> int:
        """Forget request_ids older than the retention window (a retry after that creates anew)."""
        async with self._db.writing() as uow:
            purged = await uow.idempotency.purge(self._clock() - self._retention_us)
            await uow.commit()
        return purged
