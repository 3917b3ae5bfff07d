"""The cache outbox in SQL."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from service.repository.base import OutboxEntry
from service.repository.sql import Executor
from service.repository.tables import cache_outbox as outbox

_INSERT = outbox.insert().returning(outbox.c.id)
_PENDING = (
    sa.select(outbox.c.id, outbox.c.collection, outbox.c.resource_id, outbox.c.version, outbox.c.deleted)
    .where(sa.or_(outbox.c.failed, outbox.c.create_time_us < sa.bindparam("cutoff_us")))
    .order_by(outbox.c.id)
    .limit(sa.bindparam("limit"))
)
_MARK_FAILED = outbox.update().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True))).values(failed=True)
_DELETE = outbox.delete().where(outbox.c.id.in_(sa.bindparam("ids", expanding=True)))
_COUNT = sa.select(sa.func.count()).select_from(outbox)


class SqlOutbox:
    __slots__ = ("_ex",)

    def __init__(self, executor: Executor) -> None:
        self._ex = executor

    async def add(self, entries: Sequence[OutboxEntry], now_us: int) -> list[int]:
        rows = [
            {
                "collection": e.collection,
                "resource_id": e.resource_id,
                "version": e.version,
                "deleted": e.deleted,
                "failed": False,
                "create_time_us": now_us,
            }
            for e in entries
        ]
        result = await self._ex.execute(_INSERT, rows)
        return [int(r[0]) for r in result.all()]

    async def pending(self, cutoff_us: int, limit: int = 500) -> list[tuple[int, OutboxEntry]]:
        """Entries marked failed, or older than ``cutoff_us`` (their writer died before applying them)."""
        rows = (await self._ex.execute(_PENDING, {"cutoff_us": cutoff_us, "limit": limit})).all()
        return [(int(r[0]), OutboxEntry(r[1], r[2], int(r[3]), bool(r[4]))) for r in rows]

    async def mark_failed(self, ids: Sequence[int]) -> None:
        await self._ex.execute(_MARK_FAILED, {"ids": list(ids)})

    async def delete(self, ids: Sequence[int]) -> None:
        await self._ex.execute(_DELETE, {"ids": list(ids)})

    async def count(self) -> int:
        return int((await self._ex.execute(_COUNT)).scalar_one())
