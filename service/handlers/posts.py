"""Post use cases."""

from __future__ import annotations

import dataclasses
from typing import Any

from service.domain.commands import CreatePost, DeletePost, ImportItem, ListPosts, UpdatePost
from service.domain.errors import (
    AlreadyExists,
    DomainError,
    EtagMismatch,
    FieldViolation,
    InvalidInput,
    NotFound,
)
from service.domain.models import Page, PageRequest, Post, PostFields, PostFilter
from service.domain.validation import (
    MAX_BODY,
    MAX_TAG,
    MAX_TAGS,
    MAX_TITLE,
    check_filter_text,
    check_id,
    check_post,
    check_time_us,
    normalize_post,
    normalize_text,
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

WRITABLE = ("author_id", "title", "body", "tags")
OUTPUT_ONLY = ("id", "create_time", "update_time", "etag")
ORDERINGS = ("create_time", "title")
_SORT_TYPES = {"create_time": int, "title": str}


def _fields(post: Post) -> PostFields:
    return PostFields(post.author_id, post.title, post.body, post.tags)


def _check_filter(cmd: ListPosts) -> list[FieldViolation]:
    violations = check_id(cmd.author_id, "author_id") if cmd.author_id else []
    violations += check_filter_text(cmd.tag, "tag", MAX_TAG)
    after, before = cmd.create_time_after_us, cmd.create_time_before_us
    if after is not None:
        violations += check_time_us(after, "create_time_after")
    if before is not None:
        violations += check_time_us(before, "create_time_before")
    if after is not None and before is not None and after >= before:
        violations.append(FieldViolation("create_time_before", "must be later than create_time_after"))
    return violations


class PostHandlers(ResourceHandlers[Post, ListPosts]):
    collection = "posts"
    resource = "post"
    # UTF-8 takes at most 4 bytes a character; the rest (ids, times, etag, framing) stays under 400
    max_item_bytes = 4 * (MAX_TITLE + MAX_BODY + MAX_TAGS * MAX_TAG) + 400

    def _repository(self, uow: UnitOfWork) -> Any:
        return uow.posts

    def _filter(self, cmd: ListPosts) -> PostFilter:
        raise_if(_check_filter(cmd))
        tag = normalize_text(cmd.tag)  # stored tags are NFC
        return PostFilter(cmd.author_id, tag, cmd.create_time_after_us, cmd.create_time_before_us)

    def _check_import(self, item: ImportItem[PostFields]) -> DomainError | None:
        violations = check_id(item.id, "post.id") if item.id else [FieldViolation("post.id", "required")]
        violations += check_post(normalize_post(item.fields))
        return InvalidInput(violations) if violations else None

    def _imported(self, item: ImportItem[PostFields], now: int, current: Post | None) -> Post | None:
        f = normalize_post(item.fields)
        if current is None:
            return Post(item.id, f.author_id, f.title, f.body, f.tags, now, now, self._next_version())
        if f == _fields(current):
            return None
        return dataclasses.replace(
            current, **dataclasses.asdict(f), update_time_us=now, version=self._next_version(current.version)
        )

    async def _page(self, cmd: ListPosts, max_bytes: int | None = None) -> tuple[Page[Post], dict[str, Any]]:
        size = page_size(cmd.page_size)
        flt = self._filter(cmd)
        ordering = parse_order_by(cmd.order_by, ORDERINGS)
        binding: dict[str, Any] = {
            "c": "posts",
            "filter": dataclasses.asdict(flt),
            "order": [ordering.field, ordering.direction.value],
            "mask": sorted(cmd.read_mask),
        }
        cursor = None
        if cmd.page_token:
            cursor = self._tokens.decode(cmd.page_token, binding, _SORT_TYPES[ordering.field])
        async with self._db.reading(bulk=True) as uow:
            request = PageRequest(ordering, size, cursor, self._read_budget(size, max_bytes))
            page = await uow.posts.list(flt, request)
        return page, binding

    async def create(self, cmd: CreatePost, deadline: float | None = None) -> Post:
        fields = normalize_post(cmd.fields)
        post_id, id_violations = chosen_id("post", cmd.post_id, cmd.id_in_body)
        raise_if(check_post(fields) + id_violations)

        pending = self.reads.pending()

        async def create(uow: UnitOfWork) -> Post:
            pending.reset()
            now = self._clock()
            post = Post(
                post_id or new_id(),
                fields.author_id,
                fields.title,
                fields.body,
                fields.tags,
                now,
                now,
                self._next_version(),
            )
            await uow.posts.add(post)
            await pending.record(
                uow, "posts", [(post.id, post.version, False)], CREATED, [self.reads.encode(post)]
            )
            return post

        fp = fingerprint(post_id, fields)
        post, replayed = await retrying(
            lambda: idempotent_create(self._db, "posts", cmd.request_id, fp, Post, create, self._clock)
        )
        return await self._acknowledge_create(pending, post, replayed, deadline)

    async def update(self, cmd: UpdatePost, deadline: float | None = None) -> Post:
        pending = self.reads.pending()
        try:
            post = await retrying(lambda: self._update(cmd, pending))
        except AlreadyExists as error:
            if not (cmd.allow_missing and error.field_name == "id"):
                raise
            post = await retrying(lambda: self._update(cmd, pending))  # a concurrent upsert created it
        await pending.flush(deadline)
        return post

    async def _update(self, cmd: UpdatePost, pending: PendingInvalidations) -> Post:
        require_id(cmd.id, "post.id")
        paths = resolve_update_mask(cmd.update_mask, cmd.fields, WRITABLE, OUTPUT_ONLY, "post")
        given = normalize_post(cmd.fields)
        pending.reset()
        async with self._db.writing() as uow:
            current = await uow.posts.get(cmd.id, for_update=True)
            if current is None:
                if not cmd.allow_missing:
                    raise NotFound("post", cmd.id)
                raise_if(check_post(given))
                now = self._clock()
                created = Post(
                    cmd.id,
                    given.author_id,
                    given.title,
                    given.body,
                    given.tags,
                    now,
                    now,
                    self._next_version(),
                )
                await uow.posts.add(created)
                await pending.record(
                    uow,
                    "posts",
                    [(created.id, created.version, False)],
                    CREATED,
                    [self.reads.encode(created)],
                )
                await uow.commit()
                return created
            if cmd.etag and cmd.etag != current.etag:
                raise EtagMismatch("post", cmd.id, cmd.etag, current.etag)
            fields = dataclasses.replace(_fields(current), **{p: getattr(given, p) for p in paths})
            if fields == _fields(current):  # acknowledged as it is: its tombstone first (issue 18)
                await pending.confirm(uow, "posts", [(current.id, current.version, False)])
                await uow.commit()
                return current
            raise_if(only_paths(check_post(fields), "post", paths))
            updated = dataclasses.replace(
                current,
                **dataclasses.asdict(fields),
                update_time_us=self._clock(),
                version=self._next_version(current.version),
            )
            if not await uow.posts.update(updated, current.version):
                raise lost_race("post", cmd.id, cmd.etag)
            await pending.record(
                uow, "posts", [(updated.id, updated.version, False)], UPDATED, [self.reads.encode(updated)]
            )
            await uow.commit()
            return updated

    async def delete(self, cmd: DeletePost, deadline: float | None = None) -> None:
        require_id(cmd.id, "id")
        pending = self.reads.pending()
        await retrying(lambda: self._delete(cmd, pending))
        await pending.flush(deadline)

    async def _delete(self, cmd: DeletePost, pending: PendingInvalidations) -> None:
        pending.reset()
        async with self._db.writing() as uow:
            current = await uow.posts.get(cmd.id, for_update=True)
            if current is None:
                if cmd.allow_missing:
                    return
                raise NotFound("post", cmd.id)
            if cmd.etag and cmd.etag != current.etag:
                raise EtagMismatch("post", cmd.id, cmd.etag, current.etag)
            await uow.posts.delete(cmd.id)
            await pending.record(
                uow, "posts", [(cmd.id, self._next_version(current.version), True)], DELETED, [None]
            )
            await uow.commit()
