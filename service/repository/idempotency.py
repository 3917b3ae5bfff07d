"""Idempotency keys of Create requests: the request fingerprint and the original result."""

from __future__ import annotations

import sqlalchemy as sa

from service.domain.errors import AlreadyExists
from service.repository.base import IdempotencyRecord
from service.repository.sql import ConstraintError, Executor
from service.repository.tables import idempotency_keys as keys

_GET = sa.select(keys.c.fingerprint, keys.c.result).where(
    keys.c.scope == sa.bindparam("scope"), keys.c.request_id == sa.bindparam("request_id")
)
_INSERT = keys.insert()
_COUNT = sa.select(sa.func.count()).select_from(keys)
_PURGE = keys.delete().where(keys.c.create_time_us < sa.bindparam("before_us"))


class SqlIdempotencyStore:
    __slots__ = ("_ex",)

    def __init__(self, executor: Executor) -> None:
        self._ex = executor

    async def get(self, scope: str, request_id: str) -> IdempotencyRecord | None:
        row = (await self._ex.execute(_GET, {"scope": scope, "request_id": request_id})).first()
        return None if row is None else IdempotencyRecord(row[0], row[1])

    async def put(self, scope: str, request_id: str, record: IdempotencyRecord, now_us: int) -> None:
        params = {
            "scope": scope,
            "request_id": request_id,
            "fingerprint": record.fingerprint,
            "result": record.result,
            "create_time_us": now_us,
        }
        try:
            await self._ex.execute(_INSERT, params)
        except ConstraintError:
            raise AlreadyExists("request", "request_id", request_id) from None

    async def purge(self, before_us: int) -> int:
        result = await self._ex.execute(_PURGE, {"before_us": before_us})
        return int(result.rowcount)

    async def count(self) -> int:
        return int((await self._ex.execute(_COUNT)).scalar_one())
