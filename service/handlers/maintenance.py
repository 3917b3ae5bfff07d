"""Housekeeping use cases run by the server's background loop."""

from __future__ import annotations

from service.config import DEFAULTS, Settings
from service.handlers.common import Clock, wall_clock_us
from service.repository.base import Database

_COMPACTION_BATCH = 5000


class Maintenance:
    """Compaction of the change log and expiry of idempotency rows, each after its retention in
    ``settings`` (``idempotency_retention_s``, ``change_log_retention_s``)."""

    def __init__(self, db: Database, settings: Settings = DEFAULTS, *, clock: Clock = wall_clock_us) -> None:
        self._db = db
        self._retention_us = int(settings.idempotency_retention_s * 1_000_000)
        self._log_retention_us = int(settings.change_log_retention_s * 1_000_000)
        self._clock = clock

    async def compact_change_log(self) -> int:
        """Delete change-log rows older than the retention window (always keeping the newest), in short
        transactions; watchers asking for them get OUT_OF_RANGE. Returns how many rows went."""
        async with self._db.writing() as uow:
            cut = await uow.changes.compaction_cut(self._clock() - self._log_retention_us)
            if cut <= 0:
                return 0
            await uow.changes.raise_watermark(cut)  # before the rows go: see change_log.py
            await uow.commit()
        removed = 0
        while True:
            async with self._db.writing() as uow:
                gone = await uow.changes.delete_through(cut, _COMPACTION_BATCH)
                await uow.commit()
            removed += gone
            if gone < _COMPACTION_BATCH:
                return removed

    async def purge_idempotency_keys(self) -> int:
        """Forget request_ids older than the retention window (a retry after that creates anew)."""
        async with self._db.writing() as uow:
            purged = await uow.idempotency.purge(self._clock() - self._retention_us)
            await uow.commit()
        return purged
