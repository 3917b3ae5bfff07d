"""What imports need of the SQL layer, against real SQLite and PostgreSQL: the conflict checks that find bad
items in one query, and SQLite's bulk write path (statements on the writer's thread)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from service.domain.errors import AlreadyExists, InvalidInput
from service.repository.database import open_database
from tests.conftest import sqlite_url_for
from tests.integration.test_repository import post, user


async def _seed(database: Any) -> None:
    async with database.writing() as uow:
        await uow.repo("users").add_many([user(1), user(2), user(3)])
        await uow.commit()


async def test_email_conflicts_follow_the_order_of_the_writes(database: Any) -> None:
    await _seed(database)
    writes = [
        user(10, email="USER1@example.com"),  # held by u001 (case-insensitively)
        user(11, email="new@example.com"),
        user(12, email="new@example.com"),  # taken by the write before
        user(2, email="moved@example.com"),  # u002 moves away from user2@...
        user(3, email="user2@example.com"),  # ... so u003 may take it
        user(1, email="user1@example.com"),  # unchanged email: its own
    ]
    async with database.writing(bulk=True) as uow:
        found = await uow.repo("users").conflicts(writes)
        # What the check lets through, the constraints accept, in that order.
        creates = [u for u in writes if u.id not in found and u.id.startswith("u01")]
        updates = [(u, 1) for u in writes if u.id not in found and not u.id.startswith("u01")]
        await uow.repo("users").add_many(creates)
        await uow.repo("users").update_many(updates)
        await uow.commit()
    assert sorted(found) == ["u010", "u012"]
    assert all(isinstance(e, AlreadyExists) and e.field_name == "email" for e in found.values())


async def test_posts_of_missing_authors_are_conflicts(database: Any) -> None:
    await _seed(database)
    async with database.writing(bulk=True) as uow:
        found = await uow.repo("posts").conflicts([post(1, "u001"), post(2, "nobody"), post(3, "u003")])
    assert list(found) == ["p002"]
    assert isinstance(found["p002"], InvalidInput) and found["p002"].reason == "AUTHOR_NOT_FOUND"


async def test_a_bulk_write_commits_and_rolls_back_like_any_write(database: Any) -> None:
    async with database.writing(bulk=True) as uow:
        await uow.repo("users").add_many([user(1), user(2)])
        async with uow.savepoint():
            assert await uow.repo("users").update(user(2, display_name="Two", version=2), 1)
        await uow.commit()
    with pytest.raises(RuntimeError):
        async with database.writing(bulk=True) as uow:
            await uow.repo("users").add(user(3))
            raise RuntimeError("not committed")
    async with database.reading() as uow:
        stored = await uow.repo("users").get_many(["u001", "u002", "u003"])
    assert sorted(stored) == ["u001", "u002"] and stored["u002"].display_name == "Two"


async def test_a_cancelled_bulk_write_is_rolled_back_before_the_next_writer_runs(tmp_path: Path) -> None:
    """Cancelled while its INSERT runs on the writer's thread, the import's transaction still ends there
    (after the INSERT) before the lock passes on: the next writer neither shares the connection with a
    running statement nor finds a transaction left open."""
    database = open_database(sqlite_url_for(tmp_path))
    inside, release = threading.Event(), threading.Event()

    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO users") and not release.is_set():
            inside.set()
            release.wait(timeout=10)

    async def bulk() -> None:
        async with database.writing(bulk=True) as uow:
            await uow.repo("users").add_many([user(1)])
            await uow.commit()

    async def inline() -> None:
        async with database.writing() as uow:
            await uow.repo("users").add(user(2))
            await uow.commit()

    sa.event.listen(database.engine, "before_cursor_execute", hold)
    try:
        cancelled = asyncio.create_task(bulk())
        assert await asyncio.to_thread(inside.wait, 10)
        cancelled.cancel()
        after = asyncio.create_task(inline())
        for _ in range(20):  # every chance to run: it must still wait for the lock
            await asyncio.sleep(0)
        assert not cancelled.done() and not after.done()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await asyncio.wait_for(after, 10)
        async with database.reading() as uow:
            assert sorted(await uow.repo("users").get_many(["u001", "u002"])) == ["u002"]
    finally:
        release.set()
        await database.close()
