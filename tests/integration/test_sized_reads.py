"""Reading by the byte on both backends: row sizes without the rows, and pages cut before they are read."""

from __future__ import annotations

from typing import Any

from service.domain.models import Ordering, PageRequest, Post, SortDirection, User
from tests.integration.test_repository import count_statements

BODY = "\U0001d11e" * 25_000  # 100 kB of UTF-8 in 25 000 characters


def post(n: int) -> Post:
    return Post(f"p{n:03d}", "author", f"Title {n:03d}", BODY, ("t",), 1_000_000 + n, 1_000_000 + n, 1)


async def add_posts(db: Any, count: int) -> None:
    async with db.writing() as uow:
        await uow.repo("users").add(User("author", "a@example.com", "Author", "é" * 10, 1, 1, 1))
        await uow.repo("posts").add_many([post(n) for n in range(count)])
        await uow.commit()


async def test_sizes_count_utf8_bytes_without_reading_the_rows(database: Any) -> None:
    await add_posts(database, 2)
    async with database.reading() as uow:
        posts = await uow.repo("posts").sizes(["p000", "p001", "missing"])
        users = await uow.repo("users").sizes(["author"])
    assert set(posts) == {"p000", "p001"}
    assert 100_000 < posts["p000"] < 100_000 + 400  # the body's bytes, not its 25 000 characters
    assert users["author"] > len("a@example.com") + len("Author") + 20  # "é" takes two bytes


async def _all_pages(database: Any, ordering: Ordering, max_bytes: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        async with database.reading(bulk=True) as uow:
            page = await uow.repo("posts").list_page((), PageRequest(ordering, 1000, cursor, max_bytes))
        assert 1 <= len(page.items) <= 3  # 3 x 100 kB fit in 350 kB, a fourth would not
        seen += [p.id for p in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return seen


async def test_a_page_over_its_byte_budget_reads_only_what_fits_and_resumes_exactly(database: Any) -> None:
    await add_posts(database, 12)
    with count_statements(database) as statements:
        for direction in (SortDirection.ASC, SortDirection.DESC):
            seen = await _all_pages(database, Ordering("create_time", direction), max_bytes=350_000)
            expected = [f"p{n:03d}" for n in range(12)]
            assert seen == (expected if direction is SortDirection.ASC else expected[::-1])
    assert len(statements) == 2 * 2 * 4  # per page: the sizes, then the rows that fit
    async with database.reading(bulk=True) as uow:
        whole = await uow.repo("posts").list_page((), PageRequest(Ordering("title"), 1000, None, 10**9))
        users = await uow.repo("users").list_page((), PageRequest(Ordering("display_name"), 5, None, 10))
    assert [p.id for p in whole.items] == [f"p{n:03d}" for n in range(12)] and whole.next_cursor is None
    assert [u.id for u in users.items] == ["author"]  # always at least one item, however small the budget
