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
from opentelemetry import trace

from service.domain.models import ChangeKind
from service.repository.base import ChangeEntry, LoggedChange
from service.repository.sql import Executor
from service.repository.tables import change_log as log
from service.repository.tables import change_log_state as state

CHANNEL = "wellspring_changes"
_LOCK_KEY = 0x5753_4C4F_4721  # "WSLOG!": one lock for every appender
_LOCK = sa.text(f"SELECT pg_advisory_xact_lock(:key), pg_notify('{CHANNEL}', '')")
_APPEND = log.insert().returning(log.c.revision)
_AFTER = (
    sa.select(
        log.c.revision, log.c.collection, log.c.resource_id, log.c.kind, log.c.payload, log.c.trace_parent
    )
    .where(log.c.revision > sa.bindparam("after"))
    .order_by(log.c.revision)
    .limit(sa.bindparam("limit"))
)
_LATEST = sa.select(sa.func.coalesce(sa.func.max(log.c.revision), 0))
_COMPACTED = sa.select(sa.func.coalesce(sa.func.max(state.c.compacted_revision), 0))
_COUNT = sa.select(sa.func.count()).select_from(log)
_CUT = sa.select(sa.func.max(log.c.revision)).where(log.c.commit_time_us < sa.bindparam("before"))
_RAISE = (
    state.update()
    .where(state.c.id == 1, state.c.compacted_revision < sa.bindparam("cut"))
    .values(compacted_revision=sa.bindparam("cut"))
)
_DELETE_BATCH = log.delete().where(
    log.c.revision.in_(
        sa.select(log.c.revision)
        .where(log.c.revision <= sa.bindparam("cut"))
        .order_by(log.c.revision)
        .limit(sa.bindparam("batch"))
        .scalar_subquery()
    )
)


def _traceparent() -> str | None:
    """The running call's span as a W3C traceparent, if tracing is on and sampled it (the OpenTelemetry
    API alone: with tracing off the current span is the invalid one, and this is a context lookup)."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid or not context.trace_flags.sampled:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


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
        trace_parent = _traceparent()
        rows = [
            {
                "collection": e.collection,
                "resource_id": e.resource_id,
                "kind": e.kind,
                "payload": e.payload,
                "commit_time_us": now_us,
                "trace_parent": trace_parent,
            }
            for e in entries
        ]
        return [int(r[0]) for r in (await self._ex.execute(_APPEND, rows)).all()]

    async def after(self, revision: int, limit: int = 1000) -> list[LoggedChange]:
        rows = (await self._ex.execute(_AFTER, {"after": revision, "limit": limit})).all()
        return [LoggedChange(int(r[0]), ChangeEntry(r[1], r[2], ChangeKind(r[3]), r[4]), r[5]) for r in rows]

    async def latest(self) -> int:
        return int((await self._ex.execute(_LATEST)).scalar_one())

    async def compacted(self) -> int:
        """Every revision above this one is kept; those at or below it may be gone."""
        return int((await self._ex.execute(_COMPACTED)).scalar_one())

    async def count(self) -> int:
        """Rows kept (compaction bounds them)."""
        return int((await self._ex.execute(_COUNT)).scalar_one())

    async def compaction_cut(self, before_us: int) -> int:
        """The highest revision compaction may remove: committed before ``before_us``, never the newest."""
        cut = (await self._ex.execute(_CUT, {"before": before_us})).scalar_one()
        if cut is None:
            return 0
        return min(int(cut), await self.latest() - 1)

    async def raise_watermark(self, cut: int) -> None:
        await self._ex.execute(_RAISE, {"cut": cut})

    async def delete_through(self, cut: int, batch: int) -> int:
        """Delete up to ``batch`` of the oldest rows at or below ``cut``; how many went."""
        return int((await self._ex.execute(_DELETE_BATCH, {"cut": cut, "batch": batch})).rowcount)
