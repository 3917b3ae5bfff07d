"""Users in SQL. Statements are built once at import (they are immutable) and executed with parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from service.domain.errors import AlreadyExists
from service.domain.models import Page, PageRequest, User, UserFilter
from service.repository.sized import budgeted_page, byte_length
from service.repository.sql import ConstraintError, Executor, keyset_page, prefix_range, to_page
from service.repository.tables import users

_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.display_name,
    users.c.bio,
    users.c.create_time_us,
    users.c.update_time_us,
    users.c.version,
)
_SELECT = sa.select(*_COLUMNS)
_GET = _SELECT.where(users.c.id == sa.bindparam("id"))
_GET_FOR_UPDATE = _GET.with_for_update()
_GET_MANY = _SELECT.where(users.c.id.in_(sa.bindparam("ids", expanding=True)))
_GET_MANY_FOR_UPDATE = _GET_MANY.order_by(users.c.id).with_for_update()  # one lock order: no deadlocks
_INSERT = users.insert()
_UPDATE = (
    users.update()
    .where(users.c.id == sa.bindparam("b_id"), users.c.version == sa.bindparam("b_version"))
    .values(
        email=sa.bindparam("email"),
        email_norm=sa.bindparam("email_norm"),
        display_name=sa.bindparam("display_name"),
        display_name_norm=sa.bindparam("display_name_norm"),
        bio=sa.bindparam("bio"),
        update_time_us=sa.bindparam("update_time_us"),
        version=sa.bindparam("version"),
    )
)
_DELETE = users.delete().where(users.c.id == sa.bindparam("id"))
_EMAIL_OWNERS = sa.select(users.c.email_norm, users.c.id).where(
    users.c.email_norm.in_(sa.bindparam("emails", expanding=True))
)

_SORT_COLUMNS = {"create_time": users.c.create_time_us, "display_name": users.c.display_name_norm}
# A user's serialized size, about: its text columns plus what the small ones and the framing add.
_SIZE = byte_length(users.c.email) + byte_length(users.c.display_name) + byte_length(users.c.bio) + 160
_SIZES = sa.select(users.c.id, _SIZE).where(users.c.id.in_(sa.bindparam("ids", expanding=True)))


def fold(text: str) -> str:
    """The case-insensitive form stored for uniqueness, prefix search and ordering (Unicode case folding:
    "STRASSE" and "straße" are the same email)."""
    return text.casefold()


def _user(row: Sequence[Any]) -> User:
    return User(*row)


def _sort_value(ordering_field: str) -> Any:
    if ordering_field == "display_name":
        return lambda u: fold(u.display_name)
    return lambda u: u.create_time_us


def _row(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "email_norm": fold(user.email),
        "display_name": user.display_name,
        "display_name_norm": fold(user.display_name),
        "bio": user.bio,
        "create_time_us": user.create_time_us,
        "update_time_us": user.update_time_us,
        "version": user.version,
    }


def _filtered(flt: UserFilter) -> sa.Select[Any]:
    if not flt.query_prefix:
        return _SELECT
    prefix = fold(flt.query_prefix)
    return _SELECT.where(
        sa.or_(prefix_range(users.c.display_name_norm, prefix), prefix_range(users.c.email_norm, prefix))
    )


def _conflict(error: ConstraintError, user: User) -> AlreadyExists:
    if "email" in error.detail:
        return AlreadyExists("user", "email", user.email)
    return AlreadyExists("user", "id", user.id)


class SqlUserRepository:
    __slots__ = ("_ex",)

    def __init__(self, executor: Executor) -> None:
        self._ex = executor

    async def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        row = (await self._ex.execute(_GET_FOR_UPDATE if for_update else _GET, {"id": user_id})).first()
        return None if row is None else User(*row)

    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, User]:
        stmt = _GET_MANY_FOR_UPDATE if for_update else _GET_MANY
        rows = (await self._ex.execute(stmt, {"ids": list(set(ids))})).all()
        return {row[0]: User(*row) for row in rows}

    async def list(self, flt: UserFilter, page: PageRequest) -> Page[User]:
        stmt = _filtered(flt)
        sort_column = _SORT_COLUMNS[page.ordering.field]
        if page.max_bytes is not None:
            return await budgeted_page(self._ex, stmt, users.c.id, sort_column, _SIZE, page, self.get_many)
        stmt = keyset_page(stmt, users.c.id, sort_column, page)
        rows = (await self._ex.execute(stmt)).all()
        return to_page([User(*r) for r in rows], page.limit, _sort_value(page.ordering.field), lambda u: u.id)

    async def sizes(self, ids: Sequence[str]) -> dict[str, int]:
        """About how many bytes each existing user takes serialized, read without reading the users."""
        rows = (await self._ex.execute(_SIZES, {"ids": list(set(ids))})).all()
        return {row[0]: row[1] for row in rows}

    async def scan(self, flt: UserFilter, after_id: str, limit: int) -> list[User]:
        """Up to ``limit`` matching users with ids above ``after_id``, in id order (Export)."""
        stmt = _filtered(flt).where(users.c.id > after_id).order_by(users.c.id).limit(limit)
        return [User(*r) for r in (await self._ex.execute(stmt)).all()]

    async def add_many(self, batch: Sequence[User]) -> None:
        """Insert all or none; a conflict names no single user (callers retry one by one)."""
        try:
            await self._ex.execute(_INSERT, [_row(u) for u in batch])
        except ConstraintError as error:
            raise _conflict(error, batch[0]) from None

    async def update_many(self, batch: Sequence[tuple[User, int]]) -> None:
        """Update (user, expected version) pairs whose rows the caller has locked."""
        params = []
        for user, expected in batch:
            row = _row(user) | {"b_id": user.id, "b_version": expected}
            del row["id"], row["create_time_us"]
            params.append(row)
        try:
            await self._ex.execute(_UPDATE, params)
        except ConstraintError as error:
            raise _conflict(error, batch[0][0]) from None

    async def conflicts(self, writes: Sequence[User]) -> dict[str, AlreadyExists]:
        """The users among ``writes`` (new or updated, ids distinct, written in this order, each one that
        fails skipped) whose email another user would hold by then: one query for the stored owners of
        their emails, the rest in memory. The error is the one the write itself would raise."""
        emails = list({fold(u.email) for u in writes})
        owner: dict[str, str] = dict((await self._ex.execute(_EMAIL_OWNERS, {"emails": emails})).all())
        held = {user_id: email for email, user_id in owner.items()}
        found: dict[str, AlreadyExists] = {}
        for user in writes:
            email = fold(user.email)
            if owner.get(email, user.id) != user.id:
                found[user.id] = AlreadyExists("user", "email", user.email)
                continue
            released = held.get(user.id)
            if released is not None and released != email:  # an update frees the email it had
                del owner[released]
            owner[email], held[user.id] = user.id, email
        return found

    async def add(self, user: User) -> None:
        try:
            await self._ex.execute(_INSERT, _row(user))
        except ConstraintError as error:
            raise _conflict(error, user) from None

    async def update(self, user: User, expected_version: int) -> bool:
        params = _row(user) | {"b_id": user.id, "b_version": expected_version}
        del params["id"], params["create_time_us"]
        try:
            result = await self._ex.execute(_UPDATE, params)
        except ConstraintError as error:
            raise _conflict(error, user) from None
        return bool(result.rowcount == 1)

    async def delete(self, user_id: str) -> bool:
        result = await self._ex.execute(_DELETE, {"id": user_id})
        return bool(result.rowcount == 1)


__all__ = ["SqlUserRepository", "fold"]
