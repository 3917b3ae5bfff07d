"""User use cases."""

from __future__ import annotations

import dataclasses
from typing import Any

from service.domain.commands import CreateUser, DeleteUser, ImportItem, ListUsers, UpdateUser
from service.domain.errors import (
    AlreadyExists,
    DomainError,
    EtagMismatch,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotFound,
    PreconditionViolation,
)
from service.domain.models import Page, PageRequest, User, UserFields, UserFilter
from service.domain.validation import (
    MAX_BIO,
    MAX_DISPLAY_NAME,
    MAX_EMAIL,
    MAX_QUERY,
    check_filter_text,
    check_id,
    check_user,
    normalize_text,
    normalize_user,
    only_paths,
    page_size,
    raise_if,
    require_id,
)
from service.handlers.common import (
    chosen_id,
    fingerprint,
    idempotent_create,
    lost_race,
    new_id,
    parse_order_by,
    resolve_update_mask,
    retrying,
)
from service.handlers.reads import PendingInvalidations
from service.handlers.resource import ResourceHandlers
from service.repository.base import CREATED, DELETED, UPDATED, UnitOfWork

WRITABLE = ("email", "display_name", "bio")
OUTPUT_ONLY = ("id", "create_time", "update_time", "etag")
ORDERINGS = ("create_time", "display_name")
_SORT_TYPES = {"create_time": int, "display_name": str}


def _fields(user: User) -> UserFields:
    return UserFields(user.email, user.display_name, user.bio)


class UserHandlers(ResourceHandlers[User, ListUsers]):
    collection = "users"
    resource = "user"
    # UTF-8 takes at most 4 bytes a character; the rest (id, times, etag, framing) stays under 200
    max_item_bytes = 4 * (MAX_EMAIL + MAX_DISPLAY_NAME + MAX_BIO) + 200

    def _repository(self, uow: UnitOfWork) -> Any:
        return uow.users

    def _filter(self, cmd: ListUsers) -> UserFilter:
        query = normalize_text(cmd.query)  # stored names are NFC: so is what their prefix is matched with
        raise_if(check_filter_text(query, "query", MAX_QUERY))
        return UserFilter(query)

    def _check_import(self, item: ImportItem[UserFields]) -> DomainError | None:
        violations = check_id(item.id, "user.id") if item.id else [FieldViolation("user.id", "required")]
        violations += check_user(normalize_user(item.fields))
        return InvalidInput(violations) if violations else None

    def _imported(self, item: ImportItem[UserFields], now: int, current: User | None) -> User | None:
        f = normalize_user(item.fields)
        if current is None:
            return User(item.id, f.email, f.display_name, f.bio, now, now, self._next_version())
        if f == _fields(current):
            return None
        return dataclasses.replace(
            current, **dataclasses.asdict(f), update_time_us=now, version=self._next_version(current.version)
        )

    async def _page(self, cmd: ListUsers, max_bytes: int | None = None) -> tuple[Page[User], dict[str, Any]]:
        size = page_size(cmd.page_size)
        flt = self._filter(cmd)
        ordering = parse_order_by(cmd.order_by, ORDERINGS)
        binding: dict[str, Any] = {
            "c": "users",
            "query": cmd.query,
            "order": [ordering.field, ordering.direction.value],
            "mask": sorted(cmd.read_mask),
        }
        cursor = None
        if cmd.page_token:
            cursor = self._tokens.decode(cmd.page_token, binding, _SORT_TYPES[ordering.field])
        async with self._db.reading(bulk=True) as uow:
            request = PageRequest(ordering, size, cursor, self._read_budget(size, max_bytes))
            page = await uow.users.list(flt, request)
        return page, binding

    async def create(self, cmd: CreateUser, deadline: float | None = None) -> User:
        f = normalize_user(cmd.fields)
        user_id, id_violations = chosen_id("user", cmd.user_id, cmd.id_in_body)
        raise_if(check_user(f) + id_violations)

        pending = self.reads.pending()

        async def create(uow: UnitOfWork) -> User:
            pending.reset()
            now = self._clock()
            user = User(user_id or new_id(), f.email, f.display_name, f.bio, now, now, self._next_version())
            await uow.users.add(user)
            await pending.record(
                uow, "users", [(user.id, user.version, False)], CREATED, [self.reads.encode(user)]
            )
            return user

        fp = fingerprint(user_id, f)
        user, replayed = await retrying(
            lambda: idempotent_create(self._db, "users", cmd.request_id, fp, User, create, self._clock)
        )
        return await self._acknowledge_create(pending, user, replayed, deadline)

    async def update(self, cmd: UpdateUser, deadline: float | None = None) -> User:
        pending = self.reads.pending()
        try:
            user = await retrying(lambda: self._update(cmd, pending))
        except AlreadyExists as error:
            if not (cmd.allow_missing and error.field_name == "id"):
                raise
            user = await retrying(lambda: self._update(cmd, pending))  # a concurrent upsert created it
        await pending.flush(deadline)
        return user

    async def _update(self, cmd: UpdateUser, pending: PendingInvalidations) -> User:
        require_id(cmd.id, "user.id")
        paths = resolve_update_mask(cmd.update_mask, cmd.fields, WRITABLE, OUTPUT_ONLY, "user")
        given = normalize_user(cmd.fields)
        pending.reset()
        async with self._db.writing() as uow:
            current = await uow.users.get(cmd.id, for_update=True)
            if current is None:
                if not cmd.allow_missing:
                    raise NotFound("user", cmd.id)
                raise_if(check_user(given))
                now = self._clock()
                created = User(
                    cmd.id, given.email, given.display_name, given.bio, now, now, self._next_version()
                )
                await uow.users.add(created)
                await pending.record(
                    uow,
                    "users",
                    [(created.id, created.version, False)],
                    CREATED,
                    [self.reads.encode(created)],
                )
                await uow.commit()
                return created
            if cmd.etag and cmd.etag != current.etag:
                raise EtagMismatch("user", cmd.id, cmd.etag, current.etag)
            fields = dataclasses.replace(_fields(current), **{p: getattr(given, p) for p in paths})
            if fields == _fields(current):  # acknowledged as it is: its tombstone first (issue 18)
                await pending.confirm(uow, "users", [(current.id, current.version, False)])
                await uow.commit()
                return current
            raise_if(only_paths(check_user(fields), "user", paths))
            updated = dataclasses.replace(
                current,
                **dataclasses.asdict(fields),
                update_time_us=self._clock(),
                version=self._next_version(current.version),
            )
            if not await uow.users.update(updated, current.version):
                raise lost_race("user", cmd.id, cmd.etag)
            await pending.record(
                uow, "users", [(updated.id, updated.version, False)], UPDATED, [self.reads.encode(updated)]
            )
            await uow.commit()
            return updated

    async def delete(self, cmd: DeleteUser, deadline: float | None = None) -> None:
        require_id(cmd.id, "id")
        pending = self.reads.pending()
        await retrying(lambda: self._delete(cmd, pending))
        await pending.flush(deadline)

    async def _delete(self, cmd: DeleteUser, pending: PendingInvalidations) -> None:
        pending.reset()
        deleted_posts: list[tuple[str, int]] = []
        async with self._db.writing() as uow:
            current = await uow.users.get(cmd.id, for_update=True)
            if current is None:
                if cmd.allow_missing:
                    return
                raise NotFound("user", cmd.id)
            if cmd.etag and cmd.etag != current.etag:
                raise EtagMismatch("user", cmd.id, cmd.etag, current.etag)
            if await uow.posts.any_by_author(cmd.id):
                if not cmd.force:
                    raise FailedPrecondition(
                        PreconditionViolation(
                            "HAS_POSTS", f"users/{cmd.id}", "the user has posts; set force"
                        ),
                        reason="USER_HAS_POSTS",
                    )
                deleted_posts = await uow.posts.delete_by_author(cmd.id)
            await uow.users.delete(cmd.id)
            await pending.record(
                uow, "users", [(cmd.id, self._next_version(current.version), True)], DELETED, [None]
            )
            await pending.record(
                uow,
                "posts",
                [(i, self._next_version(v), True) for i, v in deleted_posts],
                DELETED,
                [None] * len(deleted_posts),
            )
            await uow.commit()
