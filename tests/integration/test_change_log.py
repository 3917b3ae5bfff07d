"""The change log: every write appends in its own transaction, and revision order is commit order."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from service.domain.commands import CreateItem, DeleteItem, UpdateItem
from service.domain.models import User, UserFields
from service.domain.specs import REGISTRY
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from service.repository.base import CREATED, DELETED, UPDATED


def handlers(database: Any) -> ResourceHandlers[User, UserFields]:
    return ResourceHandlers(
        REGISTRY["users"], database, PageTokens(b"k" * 32), encode=lambda u: u.id.encode()
    )


async def test_every_write_is_logged_with_its_kind_and_value(database: Any) -> None:
    users = handlers(database)
    await users.create(CreateItem(UserFields("a@x.io", "A"), chosen_id="a"))
    await users.update(UpdateItem("a", UserFields(bio="b")))
    await users.delete(DeleteItem("a"))
    async with database.reading() as uow:
        logged = await uow.changes.after(0)
        latest = await uow.changes.latest()
    assert [(c.change.kind, c.change.resource_id, c.change.payload) for c in logged] == [
        (CREATED, "a", b"a"),
        (UPDATED, "a", b"a"),
        (DELETED, "a", None),
    ]
    assert [c.revision for c in logged] == sorted(c.revision for c in logged) and latest == logged[
        -1
    ].revision


async def test_a_rolled_back_write_logs_nothing(database: Any) -> None:
    users = handlers(database)
    await users.create(CreateItem(UserFields("a@x.io", "A"), chosen_id="a"))
    try:
        await users.create(CreateItem(UserFields("a@x.io", "A"), chosen_id="b"))  # duplicate email
    except Exception:
        pass
    async with database.reading() as uow:
        assert [c.change.resource_id for c in await uow.changes.after(0)] == ["a"]


async def test_a_tailer_never_sees_a_revision_appear_behind_it(database: Any) -> None:
    """Writers commit concurrently while a tailer reads 'after the last revision I saw'. If revisions could
    commit out of order (PostgreSQL sequences do), the tailer would skip one that commits later."""
    users = handlers(database)
    ids = [f"u{i}" for i in range(16)]
    for user_id in ids:
        await users.create(CreateItem(UserFields(f"{user_id}@x.io", user_id), chosen_id=user_id))
    seen: list[int] = []
    done = asyncio.Event()

    async def writer(user_id: str) -> None:
        for n in range(30):
            await users.update(UpdateItem(user_id, UserFields(bio=f"{n}-{secrets.token_hex(2)}")))

    async def tailer() -> None:
        last = 0
        while True:
            finished = done.is_set()
            async with database.reading() as uow:
                batch = await uow.changes.after(last)
            seen.extend(c.revision for c in batch)
            last = batch[-1].revision if batch else last
            if finished and not batch:
                return
            await asyncio.sleep(0)

    tail = asyncio.create_task(tailer())
    await asyncio.gather(*(writer(i) for i in ids))
    done.set()
    await tail
    async with database.reading() as uow:
        everything = [c.revision for c in await uow.changes.after(0, limit=10_000)]
    assert len(everything) == 16 + 16 * 30
    assert seen == everything[len(everything) - len(seen) :] and set(everything[16:]) <= set(seen)
