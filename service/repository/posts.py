"""Posts in SQL. Tags live in the row (JSON, for reading) and in post_tags (indexed, for filtering)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from service.domain.errors import AlreadyExists, InvalidInput
from service.domain.models import Page, PageRequest, Post, PostFilter
from service.repository.sized import budgeted_page, byte_length
from service.repository.sql import ConstraintError, Executor, keyset_page, to_page
from service.repository.tables import post_tags, posts, users

_COLUMNS = (
    posts.c.id,
    posts.c.author_id,
    posts.c.title,
    posts.c.body,
    posts.c.tags,
    posts.c.create_time_us,
    posts.c.update_time_us,
    posts.c.version,
)
_SELECT = sa.select(*_COLUMNS)
_GET = _SELECT.where(posts.c.id == sa.bindparam("id"))
_GET_FOR_UPDATE = _GET.with_for_update()
_GET_MANY = _SELECT.where(posts.c.id.in_(sa.bindparam("ids", expanding=True)))
_GET_MANY_FOR_UPDATE = _GET_MANY.order_by(posts.c.id).with_for_update()  # one lock order: no deadlocks
_INSERT = posts.insert()
_UPDATE = (
    posts.update()
    .where(posts.c.id == sa.bindparam("b_id"), posts.c.version == sa.bindparam("b_version"))
    .values(
        author_id=sa.bindparam("author_id"),
        title=sa.bindparam("title"),
        body=sa.bindparam("body"),
        tags=sa.bindparam("tags"),
        update_time_us=sa.bindparam("update_time_us"),
        version=sa.bindparam("version"),
    )
)
_DELETE = posts.delete().where(posts.c.id == sa.bindparam("id"))
_INSERT_TAGS = post_tags.insert()
_DELETE_TAGS = post_tags.delete().where(post_tags.c.post_id == sa.bindparam("id"))
_DELETE_TAGS_OF = post_tags.delete().where(post_tags.c.post_id.in_(sa.bindparam("ids", expanding=True)))
_BY_AUTHOR = sa.select(posts.c.id).where(posts.c.author_id == sa.bindparam("author_id"))
_VERSIONS_BY_AUTHOR = (
    sa.select(posts.c.id, posts.c.version)
    .where(posts.c.author_id == sa.bindparam("author_id"))
    .with_for_update()
)
_ANY_BY_AUTHOR = _BY_AUTHOR.limit(1)
_DELETE_TAGS_BY_AUTHOR = post_tags.delete().where(post_tags.c.post_id.in_(_BY_AUTHOR.scalar_subquery()))
_DELETE_BY_AUTHOR = posts.delete().where(posts.c.author_id == sa.bindparam("author_id"))
_EXISTING_USERS = sa.select(users.c.id).where(users.c.id.in_(sa.bindparam("ids", expanding=True)))

_SORT_COLUMNS = {"create_time": posts.c.create_time_us, "title": posts.c.title}
# A post's serialized size, about: its large columns plus what the small ones and the framing add.
_SIZE = byte_length(posts.c.title) + byte_length(posts.c.body) + byte_length(posts.c.tags) + 200
_SIZES = sa.select(posts.c.id, _SIZE).where(posts.c.id.in_(sa.bindparam("ids", expanding=True)))


def _post(row: Sequence[Any]) -> Post:
    pid, author_id, title, body, tags, create_us, update_us, version = row
    return Post(pid, author_id, title, body, tuple(json.loads(tags)), create_us, update_us, version)


def _row(post: Post) -> dict[str, Any]:
    return {
        "id": post.id,
        "author_id": post.author_id,
        "title": post.title,
        "body": post.body,
        "tags": json.dumps(list(post.tags), ensure_ascii=False),
        "create_time_us": post.create_time_us,
        "update_time_us": post.update_time_us,
        "version": post.version,
    }


def _author_missing(post: Post) -> InvalidInput:
    return InvalidInput.of("post.author_id", f"no user with id {post.author_id!r}", reason="AUTHOR_NOT_FOUND")


def _conflict(error: ConstraintError, post: Post) -> Exception:
    if "foreign key" in error.detail.lower():
        return _author_missing(post)
    return AlreadyExists("post", "id", post.id)


def _filtered(flt: PostFilter) -> sa.Select[Any]:
    stmt = _SELECT
    if flt.author_id:
        stmt = stmt.where(posts.c.author_id == flt.author_id)
    if flt.tag:
        tagged = sa.select(post_tags.c.post_id).where(
            post_tags.c.tag == flt.tag, post_tags.c.post_id == posts.c.id
        )
        stmt = stmt.where(tagged.exists())
    if flt.create_time_after_us is not None:
        stmt = stmt.where(posts.c.create_time_us > flt.create_time_after_us)
    if flt.create_time_before_us is not None:
        stmt = stmt.where(posts.c.create_time_us < flt.create_time_before_us)
    return stmt


def _sort_value(ordering_field: str) -> Any:
    if ordering_field == "title":
        return lambda p: p.title
    return lambda p: p.create_time_us


class SqlPostRepository:
    __slots__ = ("_ex",)

    def __init__(self, executor: Executor) -> None:
        self._ex = executor

    async def get(self, post_id: str, *, for_update: bool = False) -> Post | None:
        row = (await self._ex.execute(_GET_FOR_UPDATE if for_update else _GET, {"id": post_id})).first()
        return None if row is None else _post(row)

    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, Post]:
        stmt = _GET_MANY_FOR_UPDATE if for_update else _GET_MANY
        rows = (await self._ex.execute(stmt, {"ids": list(set(ids))})).all()
        return {row[0]: _post(row) for row in rows}

    async def list(self, flt: PostFilter, page: PageRequest) -> Page[Post]:
        sort_column = _SORT_COLUMNS[page.ordering.field]
        if page.max_bytes is not None:
            return await budgeted_page(
                self._ex, _filtered(flt), posts.c.id, sort_column, _SIZE, page, self.get_many
            )
        stmt = keyset_page(_filtered(flt), posts.c.id, sort_column, page)
        rows = (await self._ex.execute(stmt)).all()
        return to_page([_post(r) for r in rows], page.limit, _sort_value(page.ordering.field), lambda p: p.id)

    async def sizes(self, ids: Sequence[str]) -> dict[str, int]:
        """About how many bytes each existing post takes serialized, read without reading the posts."""
        rows = (await self._ex.execute(_SIZES, {"ids": list(set(ids))})).all()
        return {row[0]: row[1] for row in rows}

    async def scan(self, flt: PostFilter, after_id: str, limit: int) -> list[Post]:
        """Up to ``limit`` matching posts with ids above ``after_id``, in id order (Export)."""
        stmt = _filtered(flt).where(posts.c.id > after_id).order_by(posts.c.id).limit(limit)
        return [_post(r) for r in (await self._ex.execute(stmt)).all()]

    async def add_many(self, batch: Sequence[Post]) -> None:
        """Insert all or none; a conflict names no single post (callers retry one by one)."""
        try:
            await self._ex.execute(_INSERT, [_row(p) for p in batch])
            await self._write_tags_of(batch)
        except ConstraintError as error:
            raise _conflict(error, batch[0]) from None

    async def update_many(self, batch: Sequence[tuple[Post, int]]) -> None:
        """Update (post, expected version) pairs whose rows the caller has locked."""
        params = []
        for post, expected in batch:
            row = _row(post) | {"b_id": post.id, "b_version": expected}
            del row["id"], row["create_time_us"]
            params.append(row)
        try:
            await self._ex.execute(_UPDATE, params)
            await self._ex.execute(_DELETE_TAGS_OF, {"ids": [p.id for p, _ in batch]})
            await self._write_tags_of([p for p, _ in batch])
        except ConstraintError as error:
            raise _conflict(error, batch[0][0]) from None

    async def conflicts(self, writes: Sequence[Post]) -> dict[str, InvalidInput]:
        """The posts among ``writes`` whose author does not exist (one query), with the error the write
        itself would raise."""
        authors = list({p.author_id for p in writes})
        found = set((await self._ex.execute(_EXISTING_USERS, {"ids": authors})).scalars())
        return {p.id: _author_missing(p) for p in writes if p.author_id not in found}

    async def _write_tags_of(self, batch: Sequence[Post]) -> None:
        rows = [{"post_id": p.id, "tag": t} for p in batch for t in p.tags]
        if rows:
            await self._ex.execute(_INSERT_TAGS, rows)

    async def add(self, post: Post) -> None:
        try:
            await self._ex.execute(_INSERT, _row(post))
            await self._write_tags(post)
        except ConstraintError as error:
            raise _conflict(error, post) from None

    async def update(self, post: Post, expected_version: int) -> bool:
        params = _row(post) | {"b_id": post.id, "b_version": expected_version}
        del params["id"], params["create_time_us"]
        try:
            result = await self._ex.execute(_UPDATE, params)
            if result.rowcount != 1:
                return False
            await self._ex.execute(_DELETE_TAGS, {"id": post.id})
            await self._write_tags(post)
        except ConstraintError as error:
            raise _conflict(error, post) from None
        return True

    async def _write_tags(self, post: Post) -> None:
        if post.tags:
            await self._ex.execute(_INSERT_TAGS, [{"post_id": post.id, "tag": t} for t in post.tags])

    async def delete(self, post_id: str) -> bool:
        await self._ex.execute(_DELETE_TAGS, {"id": post_id})
        result = await self._ex.execute(_DELETE, {"id": post_id})
        return bool(result.rowcount == 1)

    async def any_by_author(self, author_id: str) -> bool:
        return (await self._ex.execute(_ANY_BY_AUTHOR, {"author_id": author_id})).first() is not None

    async def delete_by_author(self, author_id: str) -> list[tuple[str, int]]:
        """Delete every post of the author; returns (id, version) of each deleted post."""
        doomed = [
            (r[0], r[1])
            for r in (await self._ex.execute(_VERSIONS_BY_AUTHOR, {"author_id": author_id})).all()
        ]
        await self._ex.execute(_DELETE_TAGS_BY_AUTHOR, {"author_id": author_id})
        await self._ex.execute(_DELETE_BY_AUTHOR, {"author_id": author_id})
        return doomed
