"""The comments' SQL repository against real SQLite and real PostgreSQL (a fresh database per run): rows,
filters and order, what refers to a post or an author, bulk deletes, and references that name nothing
mapped to the reference they break (PostgreSQL names the constraint; SQLite does not, so the repository
asks which parent is missing)."""

from __future__ import annotations

from typing import Any

import pytest

from service.domain.errors import InvalidInput
from service.domain.models import Comment, Ordering, PageRequest, SortDirection
from service.repository.sql import ConstraintError
from tests.integration.test_repository import count_statements, post, user


def comment(n: int, post_id: str, author_id: str, **kw: Any) -> Comment:
    values = dict(
        id=f"c{n:04d}",
        post_id=post_id,
        author_id=author_id,
        body=f"Comment {n} ✓",
        create_time_us=3_000_000 + n,
        update_time_us=3_000_000 + n,
        version=1,
    )
    return Comment(**(values | kw))


async def _seed(db: Any) -> None:
    """Users u000 and u001; p000 by u000, p001 by u001."""
    async with db.writing() as uow:
        await uow.repo("users").add_many([user(0), user(1)])
        await uow.repo("posts").add_many([post(0, "u000"), post(1, "u001")])
        await uow.commit()


async def _add(db: Any, *comments: Comment) -> None:
    async with db.writing() as uow:
        await uow.repo("comments").add_many(list(comments))
        await uow.commit()


# (post, author) of c0000..c0005: comments on both posts, by both users, in creation order.
WHO = [
    ("p000", "u000"),
    ("p000", "u001"),
    ("p001", "u000"),
    ("p000", "u001"),
    ("p001", "u001"),
    ("p000", "u000"),
]


async def _seed_comments(db: Any) -> None:
    await _seed(db)
    await _add(db, *(comment(n, p, a) for n, (p, a) in enumerate(WHO)))


def _ids(where: Any = lambda p, a: True) -> list[str]:
    return [f"c{n:04d}" for n, (p, a) in enumerate(WHO) if where(p, a)]


async def test_add_get_and_rollback_without_commit(database: Any) -> None:
    await _seed(database)
    await _add(database, comment(1, "p000", "u001"))
    async with database.writing() as uow:
        await uow.repo("comments").add(comment(2, "p000", "u001"))
    async with database.reading() as uow:
        assert await uow.repo("comments").get("c0001") == comment(1, "p000", "u001")
        assert await uow.repo("comments").get("c0002") is None


async def test_update_checks_the_version(database: Any) -> None:
    await _seed(database)
    await _add(database, comment(1, "p000", "u001"))
    changed = comment(1, "p001", "u001", body="edited", version=2, update_time_us=9)
    async with database.writing() as uow:
        assert not await uow.repo("comments").update(changed, expected_version=5)
        assert await uow.repo("comments").update(changed, expected_version=1)
        await uow.commit()
    async with database.reading() as uow:
        assert await uow.repo("comments").get("c0001") == changed


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ((), _ids()),
        ((("post_id", "p000"),), _ids(lambda p, a: p == "p000")),
        ((("author_id", "u001"),), _ids(lambda p, a: a == "u001")),
        ((("post_id", "p000"), ("author_id", "u001")), _ids(lambda p, a: (p, a) == ("p000", "u001"))),
        ((("post_id", "nothing"),), []),
    ],
)
async def test_list_filters_newest_first(database: Any, filters: Any, expected: list[str]) -> None:
    await _seed_comments(database)
    desc = PageRequest(Ordering("create_time", SortDirection.DESC), 50)
    asc = PageRequest(Ordering("create_time"), 50)
    async with database.reading() as uow:
        assert [c.id for c in (await uow.repo("comments").list_page(filters, desc)).items] == expected[::-1]
        assert [c.id for c in (await uow.repo("comments").list_page(filters, asc)).items] == expected


async def test_keyset_pages_of_a_post_s_comments_cover_them_once(database: Any) -> None:
    await _seed(database)
    # Equal times: the id breaks the tie, in the same direction.
    await _add(database, *(comment(n, "p000", "u001", create_time_us=7) for n in range(11)))
    await _add(database, comment(99, "p001", "u001"))
    page_request = PageRequest(Ordering("create_time", SortDirection.DESC), 4)
    seen: list[str] = []
    with count_statements(database) as statements:
        while True:
            async with database.reading() as uow:
                page = await uow.repo("comments").list_page((("post_id", "p000"),), page_request)
            seen += [c.id for c in page.items]
            if page.next_cursor is None:
                break
            page_request = PageRequest(page_request.ordering, 4, page.next_cursor)
    assert seen == [f"c{n:04d}" for n in reversed(range(11))]
    assert len(statements) == 3 and not any("NONZERO OFFSET" in s for s in statements)


async def test_scan_and_sizes(database: Any) -> None:
    await _seed_comments(database)
    async with database.reading() as uow:
        repo = uow.repo("comments")
        scanned = await repo.scan((("author_id", "u000"),), "c0000", 10)
        sizes = await repo.sizes(["c0000", "missing"])
    assert [c.id for c in scanned] == [i for i in _ids(lambda p, a: a == "u000") if i > "c0000"]
    assert list(sizes) == ["c0000"] and sizes["c0000"] >= len("Comment 0 ✓".encode())


async def test_referring_finds_the_comments_of_posts_and_of_authors(database: Any) -> None:
    await _seed_comments(database)
    async with database.writing() as uow:
        repo = uow.repo("comments")
        assert await repo.referring("post_id", ["p001"]) == [(i, 1) for i in _ids(lambda p, a: p == "p001")]
        assert await repo.referring("author_id", ["u001"]) == [(i, 1) for i in _ids(lambda p, a: a == "u001")]
        assert await repo.referring("post_id", ["p000", "p001"]) == [(i, 1) for i in _ids()]
        assert len(await repo.referring("post_id", ["p000"], limit=1)) == 1
        assert await repo.referring("post_id", ["nothing"]) == []
        assert await repo.referring("author_id", ["nobody"], limit=1) == []


async def test_delete_many_deletes_those_ids_only(database: Any) -> None:
    await _seed_comments(database)
    async with database.writing() as uow:
        await uow.repo("comments").delete_many(["c0001", "c0003", "missing"])
        await uow.commit()
    async with database.reading() as uow:
        left = await uow.repo("comments").get_many(_ids())
    assert sorted(left) == [i for i in _ids() if i not in ("c0001", "c0003")]


async def test_many_referring_comments_are_found_and_deleted_past_one_in_list(database: Any) -> None:
    """More ids than one IN (...) list holds (the repository splits them)."""
    await _seed(database)
    await _add(database, *(comment(n, "p000", "u001") for n in range(1_200)))
    async with database.writing() as uow:
        repo = uow.repo("comments")
        rows = await repo.referring("post_id", ["p000"])
        assert len(rows) == 1_200
        assert len(await repo.referring("author_id", ["u001", *[f"x{n}" for n in range(1_100)]])) == 1_200
        await repo.delete_many([i for i, _ in rows])
        assert await repo.referring("post_id", ["p000"], limit=1) == []
        await uow.commit()


@pytest.mark.parametrize(
    ("post_id", "author_id", "reason", "field"),
    [
        ("ghost", "u000", "POST_NOT_FOUND", "comment.post_id"),
        ("p000", "ghost", "AUTHOR_NOT_FOUND", "comment.author_id"),
    ],
)
async def test_a_reference_to_nothing_names_the_reference(
    database: Any, post_id: str, author_id: str, reason: str, field: str
) -> None:
    await _seed(database)
    with pytest.raises(InvalidInput) as info:
        async with database.writing() as uow:
            await uow.repo("comments").add(comment(1, post_id, author_id))
    assert (info.value.reason, [v.field for v in info.value.violations]) == (reason, [field])
    await _add(database, comment(2, "p000", "u000"))
    with pytest.raises(InvalidInput) as info:  # an update that moves the comment there, the same
        async with database.writing() as uow:
            await uow.repo("comments").update(comment(2, post_id, author_id, version=2), 1)
    assert (info.value.reason, [v.field for v in info.value.violations]) == (reason, [field])
    async with database.writing(bulk=True) as uow:  # and the import's check, before writing
        found = await uow.repo("comments").conflicts(
            [comment(3, "p000", "u000"), comment(4, post_id, author_id)]
        )
    assert list(found) == ["c0004"] and found["c0004"].reason == reason


async def test_a_post_with_comments_cannot_be_deleted_underneath_them(database: Any) -> None:
    """The foreign key holds even if a caller forgot the rule (the use cases delete comments first)."""
    await _seed_comments(database)
    with pytest.raises(ConstraintError):
        async with database.writing() as uow:
            await uow.repo("posts").delete("p001")
            await uow.commit()
    async with database.reading() as uow:
        assert await uow.repo("posts").get("p001") is not None
