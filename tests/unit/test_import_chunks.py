"""How an import cuts its stream into transactions and finds its bad items (against the in-memory fakes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from service.domain.commands import ImportItem
from service.domain.errors import AlreadyExists
from service.domain.models import PostFields, User, UserFields
from service.domain.specs import REGISTRY
from service.handlers import resource
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from tests.fakes import FakeDatabase, FakeRepository, FakeUnitOfWork, encode
from tests.unit.test_user_handlers import FakeClock

BODY = "\U0001d11e" * 100_000  # 400 KB in memory


async def _stream(items: Iterable[ImportItem[Any]]) -> AsyncIterator[ImportItem[Any]]:
    for item in items:  # never suspends, like the items of messages already received
        yield item


def _user(i: int, email: str = "") -> ImportItem[UserFields]:
    return ImportItem(i, f"u{i}", UserFields(email or f"u{i}@x.io", f"User {i}"))


class _CountingDatabase(FakeDatabase):
    """Counts the savepoints each transaction takes."""

    def __init__(self) -> None:
        super().__init__()
        self.savepoints = 0

    @asynccontextmanager
    async def writing(self, *, bulk: bool = False) -> AsyncIterator[FakeUnitOfWork]:
        async with super().writing(bulk=bulk) as uow:
            savepoint = uow.savepoint

            @asynccontextmanager
            async def counted() -> AsyncIterator[None]:
                self.savepoints += 1
                async with savepoint():
                    yield

            uow.savepoint = counted  # type: ignore[method-assign]
            yield uow


@pytest.fixture
def db() -> _CountingDatabase:
    database = _CountingDatabase()
    database.state.items["users"]["ann"] = User("ann", "ann@x.io", "Ann", "", 1, 1, 1)
    return database


def _users(db: FakeDatabase) -> ResourceHandlers[User, UserFields]:
    return ResourceHandlers(REGISTRY["users"], db, PageTokens(b"k" * 32), encode=encode, clock=FakeClock())


async def test_a_chunk_of_large_items_is_cut_by_bytes(db: _CountingDatabase) -> None:
    posts = ResourceHandlers(REGISTRY["posts"], db, PageTokens(b"k" * 32), encode=encode, clock=FakeClock())
    items = [ImportItem(i, f"p{i}", PostFields("ann", f"Post {i}", BODY)) for i in range(40)]
    per_chunk = resource.IMPORT_CHUNK_BYTES // resource.text_bytes(items[0].fields)

    result = await posts.import_items(_stream(items))

    assert (result.created, result.failed) == (40, 0)
    assert 0 < per_chunk < 40 and db.commits == -(-40 // per_chunk)  # not one chunk of 40 (16 MB)


async def test_small_items_still_fill_a_chunk_by_count(db: _CountingDatabase) -> None:
    result = await _users(db).import_items(_stream(_user(i) for i in range(1200)))
    assert result.created == 1200 and db.commits == 3


async def test_duplicate_emails_are_found_by_the_check_not_one_item_at_a_time(db: _CountingDatabase) -> None:
    items = [_user(i, "ANN@x.io" if i % 40 == 3 else "") for i in range(500)]
    items[11] = _user(11, items[10].fields.email)  # the same email as the item before, in the same chunk

    result = await _users(db).import_items(_stream(items))

    bad = [i for i in range(500) if i % 40 == 3] + [11]
    assert [f.index for f in result.failures] == sorted(bad)
    assert all(isinstance(f.error, AlreadyExists) and f.error.field_name == "email" for f in result.failures)
    assert result.created == 500 - len(bad) and db.savepoints == 1


async def test_what_the_check_misses_is_found_by_halving(
    db: _CountingDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def sees_nothing(self: FakeRepository, writes: Any) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(FakeRepository, "conflicts", sees_nothing)
    items = [_user(i, "ann@x.io" if i in (100, 357) else "") for i in range(500)]

    result = await _users(db).import_items(_stream(items))

    assert [f.index for f in result.failures] == [100, 357]
    assert result.created == 498 and all(isinstance(f.error, AlreadyExists) for f in result.failures)
    assert db.savepoints <= 2 * 2 * 9 + 1  # two culprits, each found in at most log2(500) halvings


async def test_an_import_lets_other_tasks_run(db: _CountingDatabase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Items that are already there never make the import wait, so it must yield of its own accord."""
    monkeypatch.setattr(resource, "IMPORT_SLICE_S", 0.0)  # yield at every item: deterministic
    ran = 0

    async def other() -> None:
        nonlocal ran
        while True:
            ran += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    before = ran
    await _users(db).import_items(_stream(_user(i) for i in range(100)))
    during = ran - before
    task.cancel()
    assert during >= 100
