"""An Import cancelled just as a chunk's COMMIT went through (its client left at that moment) still
applies that chunk's cache invalidations: the cache never serves what the committed chunk replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from service.api.bindings import BINDINGS
from service.cache.stores import MemoryStore
from service.cache.tier import CacheTier
from service.domain.commands import CreateItem, ImportItem
from service.domain.models import UserFields
from service.domain.specs import REGISTRY
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from service.repository.database import open_database
from tests.conftest import sqlite_url_for


class _LeavesAtCommit:
    """The real database; the caller of a bulk write is cancelled while its COMMIT runs (on SQLite's
    writer thread, which finishes the COMMIT and then lets the cancellation through)."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.caller: asyncio.Task[Any] | None = None  # the call's task, which gRPC would cancel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    @asynccontextmanager
    async def writing(self, *, bulk: bool = False) -> AsyncIterator[Any]:
        async with self._real.writing(bulk=bulk) as uow:
            if bulk:
                commit = uow.commit

                async def commit_then_leave() -> None:
                    assert self.caller is not None
                    self.caller.cancel()
                    await commit()

                uow.commit = commit_then_leave
            yield uow


async def test_a_chunk_committed_as_its_import_is_cancelled_is_invalidated(tmp_path: Path) -> None:
    real = open_database(sqlite_url_for(tmp_path))
    database = _LeavesAtCommit(real)
    users = ResourceHandlers(
        REGISTRY["users"],
        database,  # type: ignore[arg-type]
        PageTokens(b"0123456789abcdef"),
        encode=BINDINGS["users"].encode,
        cache=CacheTier(MemoryStore()),
    )
    try:
        await users.create(CreateItem(UserFields("ada@example.com", "old", ""), chosen_id="ada"))
        assert b"old" in await users.get_encoded("ada")  # now cached

        async def items() -> AsyncIterator[ImportItem[UserFields]]:
            yield ImportItem(0, "ada", UserFields("ada@example.com", "new", ""))

        database.caller = asyncio.create_task(users.import_items(items()))
        with pytest.raises(asyncio.CancelledError):
            await database.caller
        assert (await users.get("ada")).display_name == "new"  # committed
        assert b"new" in await users.get_encoded("ada")  # and not served old from the cache
    finally:
        await real.close()
