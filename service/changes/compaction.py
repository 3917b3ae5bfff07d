"""Compaction: change-log rows older than the retention window go, the newest always stays, and the
watermark that tells a watcher asking for them OUT_OF_RANGE (instead of silently missing events) is raised
before any row is deleted."""

from __future__ import annotations

from service.repository.base import Database

BATCH = 5000  # rows deleted per transaction: short transactions, so writers are never held up for long


async def compact(db: Database, older_than_us: int) -> int:
    """Delete the change-log rows committed before ``older_than_us`` (µs since the epoch), keeping the
    newest, in transactions of ``BATCH`` rows. Returns how many rows went."""
    async with db.writing() as uow:
        cut = await uow.changes.compaction_cut(older_than_us)
        if cut <= 0:
            return 0
        await uow.changes.raise_watermark(cut)  # before the rows go: see repository/change_log.py
        await uow.commit()
    removed = 0
    while True:
        async with db.writing() as uow:
            gone = await uow.changes.delete_through(cut, BATCH)
            await uow.commit()
        removed += gone
        if gone < BATCH:
            return removed
