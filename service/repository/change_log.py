"""The change log in SQL.

Revision order must equal commit order, or a tailer could read revision 12, move on, and later see 11
commit (a gap filled behind its back). PostgreSQL hands out sequence values at insert time, not at
commit, so two writers can commit out of order; each appending transaction therefore takes one
transaction-level advisory lock just before it appends, held until it commits: appends (and so
revisions) are serialised in commit order. SQLite has one writer at a time already.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from service.repository.base import ChangeEntry, LoggedChange
from service.repository.sql import Executor
from service.repository.tables import change_log as log

_LOCK_KEY = 0x5753_4C4F_4721  # "WSLOG!": one lock for every appender
_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_APPEND = log.insert().returning(log.c.revision)
_AFTER = (
    sa.select(log.c.revision, log.c.collection, log.c.resource_id, log.c.kind, log.c.payload)
    .where(log.c.revision > sa.bindparam("after"))
    .order_by(log.c.revision)
    .limit(sa.bindparam("limit"))
)
_LATEST = sa.select(sa.func.coalesce(sa.func.max(log.c.revision), 0))


class SqlChangeLog:
    __slots__ = ("_dialect", "_ex")

    def __init__(self, executor: Executor, dialect: str) -> None:
        self._ex = executor
        self._dialect = dialect

    async def append(self, entries: Sequence[ChangeEntry], now_us: int) -> list[int]:
        """Inside the write's transaction, as its last statement: the revisions given to ``entries``."""
        if not entries:
            return []
        if self._dialect == "postgresql":
            await self._ex.execute(_LOCK, {"key": _LOCK_KEY})
        rows = [
            {
                "collection": e.collection,
                "resource_id": e.resource_id,
                "kind": e.kind,
                "payload": e.payload,
                "commit_time_us": now_us,
            }
            for e in entries
        ]
        return [int(r[0]) for r in (await self._ex.execute(_APPEND, rows)).all()]

    async def after(self, revision: int, limit: int = 1000) -> list[LoggedChange]:
        rows = (await self._ex.execute(_AFTER, {"after": revision, "limit": limit})).all()
        return [LoggedChange(int(r[0]), ChangeEntry(r[1], r[2], int(r[3]), r[4])) for r in rows]

    async def latest(self) -> int:
        return int((await self._ex.execute(_LATEST)).scalar_one())
