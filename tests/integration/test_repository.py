"""The SQL repositories against real SQLite and real PostgreSQL (a fresh database per run)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from service.domain.errors import AlreadyExists, InvalidInput
from service.domain.models import FilterValues, Ordering, PageRequest, Post, SortDirection, User
from service.repository.base import IdempotencyRecord


def query(text: str) -> FilterValues:
    """The users' prefix filter."""
    return (("query", text),)


def user(n: int, **kw: Any) -> User:
    values = dict(
        id=f"u{n:03d}",
        email=f"user{n}@example.com",
        display_name=f"Name {n:03d}",
        bio="",
        create_time_us=1_000_000 + n,
        update_time_us=1_000_000 + n,
        version=1,
    )
    return User(**(values | kw))


def post(n: int, author: str, **kw: Any) -> Post:
    values = dict(
        id=f"p{n:03d}",
        author_id=author,
        title=f"Title {n:03d}",
        body="b",
        tags=("t",),
        create_time_us=2_000_000 + n,
        update_time_us=2_000_000 + n,
        version=1,
    )
    return Post(**(values | kw))


@contextmanager
def count_statements(db: Any) -> Iterator[list[str]]:
    engine = getattr(db.engine, "sync_engine", db.engine)
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *args: Any) -> None:
        # SQLite's dialect always renders "LIMIT ? OFFSET ?"; only a non-zero offset would mean OFFSET paging.
        if "OFFSET" in statement.upper() and list(parameters)[-1] != 0:
            statement += " -- NONZERO OFFSET"
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def add_users(db: Any, count: int) -> None:
    async with db.writing() as uow:
        for n in range(count):
            await uow.repo("users").add(user(n))
        await uow.commit()


async def test_add_get_and_rollback_without_commit(database: Any) -> None:
    await add_users(database, 1)
    async with database.writing() as uow:
        await uow.repo("users").add(user(99))
    async with database.reading() as uow:
        assert await uow.repo("users").get("u000") == user(0)
        assert await uow.repo("users").get("u099") is None


async def test_unique_id_and_case_insensitive_email(database: Any) -> None:
    await add_users(database, 1)
    with pytest.raises(AlreadyExists) as info:
        async with database.writing() as uow:
            await uow.repo("users").add(user(0, email="other@example.com"))
    assert info.value.field_name == "id"
    with pytest.raises(AlreadyExists) as info:
        async with database.writing() as uow:
            await uow.repo("users").add(user(5, email="USER0@EXAMPLE.COM"))
    assert info.value.field_name == "email"


async def test_post_needs_existing_author(database: Any) -> None:
    with pytest.raises(InvalidInput):
        async with database.writing() as uow:
            await uow.repo("posts").add(post(1, "ghost"))


async def test_get_many_is_one_query(database: Any) -> None:
    await add_users(database, 30)
    ids = [f"u{n:03d}" for n in range(0, 30, 3)]
    with count_statements(database) as statements:
        async with database.reading() as uow:
            found = await uow.repo("users").get_many([*ids, "missing"])
    assert sorted(found) == sorted(ids)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1


@pytest.mark.parametrize(
    ("field", "direction"),
    [
        ("create_time", SortDirection.ASC),
        ("create_time", SortDirection.DESC),
        ("display_name", SortDirection.ASC),
        ("display_name", SortDirection.DESC),
    ],
)
async def test_keyset_pages_cover_everything_once_in_order(database: Any, field: str, direction: Any) -> None:
    await add_users(database, 23)
    ordering = Ordering(field, direction)
    seen: list[str] = []
    cursor = None
    with count_statements(database) as statements:
        while True:
            async with database.reading() as uow:
                page = await uow.repo("users").list_page((), PageRequest(ordering, 5, cursor))
            seen += [u.id for u in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
    expected = [f"u{n:03d}" for n in range(23)]
    assert seen == (expected if direction is SortDirection.ASC else expected[::-1])
    assert len(statements) == 5  # one query per page, no N+1
    assert not any("NONZERO OFFSET" in s for s in statements)


async def test_query_prefix_matches_name_or_email_and_escapes_nothing(database: Any) -> None:
    async with database.writing() as uow:
        await uow.repo("users").add(user(1, display_name="Ünïcode Name", email="x1@example.com"))
        await uow.repo("users").add(user(2, display_name="Other", email="ünï@example.com"))
        await uow.repo("users").add(user(3, display_name="100% real", email="p_c@example.com"))
        await uow.commit()
    async with database.reading() as uow:
        first = PageRequest(Ordering("create_time"), 50)
        assert [u.id for u in (await uow.repo("users").list_page(query("üNÏ"), first)).items] == [
            "u001",
            "u002",
        ]
        assert [u.id for u in (await uow.repo("users").list_page(query("100%"), first)).items] == ["u003"]
        assert [u.id for u in (await uow.repo("users").list_page(query("p_"), first)).items] == ["u003"]
        assert (await uow.repo("users").list_page(query("%"), first)).items == []


async def test_post_filters_and_tags(database: Any) -> None:
    await add_users(database, 2)
    async with database.writing() as uow:
        await uow.repo("posts").add(post(1, "u000", tags=("red", "blue")))
        await uow.repo("posts").add(post(2, "u001", tags=("blue",)))
        await uow.repo("posts").add(post(3, "u000", tags=()))
        await uow.commit()
    first = PageRequest(Ordering("create_time"), 50)
    async with database.reading() as uow:
        assert [p.id for p in (await uow.repo("posts").list_page((("tag", "blue"),), first)).items] == [
            "p001",
            "p002",
        ]
        assert [p.id for p in (await uow.repo("posts").list_page((("author_id", "u000"),), first)).items] == [
            "p001",
            "p003",
        ]
        window = (("create_time_after", 2_000_001), ("create_time_before", 2_000_003))
        assert [p.id for p in (await uow.repo("posts").list_page(window, first)).items] == ["p002"]
        assert (await uow.repo("posts").get("p001")).tags == ("red", "blue")  # type: ignore[union-attr]


async def test_update_checks_version_and_rewrites_tags(database: Any) -> None:
    await add_users(database, 1)
    async with database.writing() as uow:
        await uow.repo("posts").add(post(1, "u000", tags=("a",)))
        await uow.commit()
    changed = post(1, "u000", tags=("b", "c"), version=2)
    async with database.writing() as uow:
        assert not await uow.repo("posts").update(changed, expected_version=7)
        assert await uow.repo("posts").update(changed, expected_version=1)
        await uow.commit()
    first = PageRequest(Ordering("create_time"), 50)
    async with database.reading() as uow:
        assert (await uow.repo("posts").list_page((("tag", "a"),), first)).items == []
        assert [p.id for p in (await uow.repo("posts").list_page((("tag", "c"),), first)).items] == ["p001"]


async def test_delete_by_author(database: Any) -> None:
    await add_users(database, 2)
    async with database.writing() as uow:
        for n, author in enumerate(["u000", "u000", "u001"]):
            await uow.repo("posts").add(post(n, author))
        await uow.commit()
    async with database.writing() as uow:
        posts = uow.repo("posts")
        assert await posts.referring("author_id", ["u000"], limit=1)
        doomed = await posts.referring("author_id", ["u000"])
        assert sorted(doomed) == [("p000", 1), ("p001", 1)]
        await posts.delete_many([i for i, _ in doomed])
        assert await uow.repo("users").delete("u000")
        await uow.commit()
    async with database.reading() as uow:
        assert not await uow.repo("posts").referring("author_id", ["u000"], limit=1)
        assert await uow.repo("posts").get("p002") is not None


async def test_idempotency_keys_are_unique(database: Any) -> None:
    record = IdempotencyRecord("fp", "{}")
    async with database.writing() as uow:
        await uow.idempotency.put("users", "r1", record, 1)
        await uow.commit()
    with pytest.raises(AlreadyExists):
        async with database.writing() as uow:
            await uow.idempotency.put("users", "r1", record, 2)
    async with database.reading() as uow:
        assert await uow.idempotency.get("users", "r1") == record


async def test_case_folding_that_lengthens_text_still_fits(database: Any) -> None:
    """'İ'.lower() is two code points: a 100-character name must not overflow the folded column."""
    async with database.writing() as uow:
        await uow.repo("users").add(user(1, display_name="İ" * 100, email="İ" * 300 + "@x.io"))
        await uow.commit()
    async with database.reading() as uow:
        page = await uow.repo("users").list_page(query("i̇"), PageRequest(Ordering("display_name"), 5))
    assert [u.id for u in page.items] == ["u001"]


async def test_idempotency_keys_are_purged_by_age(database: Any) -> None:
    async with database.writing() as uow:
        await uow.idempotency.put("users", "old", IdempotencyRecord("fp", "{}"), 100)
        await uow.idempotency.put("users", "new", IdempotencyRecord("fp", "{}"), 300)
        assert await uow.idempotency.purge(200) == 1
        await uow.commit()
    async with database.reading() as uow:
        assert await uow.idempotency.get("users", "old") is None
        assert await uow.idempotency.get("users", "new") is not None
