"""In-memory implementations of the repository ports (service.repository.base), for unit tests."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from service.domain.errors import AlreadyExists, InvalidInput
from service.domain.models import (
    Cursor,
    Ordering,
    Page,
    PageRequest,
    Post,
    PostFilter,
    SortDirection,
    User,
    UserFilter,
)
from service.repository.base import ChangeEntry, IdempotencyRecord, LoggedChange, OutboxEntry


def encode(item: Any) -> bytes:
    """Stands in for the protobuf encoder the composition root injects: any stable bytes will do."""
    import dataclasses
    import json

    return json.dumps(dataclasses.asdict(item), sort_keys=True).encode()


def _page(items: list[Any], page: PageRequest, key: Any) -> Page[Any]:
    desc = page.ordering.direction is SortDirection.DESC
    items = sorted(items, key=lambda i: (key(i), i.id), reverse=desc)
    if page.cursor is not None:
        start = (page.cursor.sort_value, page.cursor.last_id)
        items = [i for i in items if ((key(i), i.id) < start if desc else (key(i), i.id) > start)]
    kept = items[: page.limit]
    cursors = [Cursor(key(i), i.id) for i in kept]
    return Page(kept, cursors[-1] if len(items) > page.limit else None, cursors)


class _State:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.posts: dict[str, Post] = {}
        self.keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self.key_times: dict[tuple[str, str], int] = {}
        self.outbox: dict[int, tuple[OutboxEntry, bool, int]] = {}
        self.next_outbox_id = 0
        self.log: list[LoggedChange] = []
        self.log_times: dict[int, int] = {}
        self.next_revision = 1
        self.compacted = 0


class FakeUsers:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        return self._s.users.get(user_id)

    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, User]:
        return {i: self._s.users[i] for i in ids if i in self._s.users}

    async def scan(self, flt: Any, after_id: str, limit: int) -> list[User]:
        page = await self.list(flt, PageRequest(Ordering("id"), 10**9))
        return sorted((x for x in page.items if x.id > after_id), key=lambda x: x.id)[:limit]

    async def add_many(self, batch: Sequence[User]) -> None:
        before = copy.deepcopy(self._s.users)
        try:
            for item in batch:
                await self.add(item)
        except Exception:
            self._s.users = before
            raise

    async def update_many(self, batch: Sequence[tuple[User, int]]) -> None:
        for item, expected in batch:
            await self.update(item, expected)

    async def list(self, flt: UserFilter, page: PageRequest) -> Page[User]:
        p = flt.query_prefix.lower()
        items = [
            u
            for u in self._s.users.values()
            if u.display_name.lower().startswith(p) or u.email.lower().startswith(p)
        ]
        key = (
            (lambda u: u.display_name.lower())
            if page.ordering.field == "display_name"
            else (lambda u: u.create_time_us)
        )
        return _page(items, page, key)

    async def conflicts(self, writes: Sequence[User]) -> dict[str, AlreadyExists]:
        """As the SQL repository: each write in order, against the emails held by then."""
        owner = {u.email.lower(): u.id for u in self._s.users.values()}
        held = {uid: email for email, uid in owner.items()}
        found = {}
        for user in writes:
            email = user.email.lower()
            if owner.get(email, user.id) != user.id:
                found[user.id] = AlreadyExists("user", "email", user.email)
                continue
            if held.get(user.id, email) != email:
                del owner[held[user.id]]
            owner[email], held[user.id] = user.id, email
        return found

    def _check_unique(self, user: User) -> None:
        for other in self._s.users.values():
            if other.id != user.id and other.email.lower() == user.email.lower():
                raise AlreadyExists("user", "email", user.email)

    async def add(self, user: User) -> None:
        if user.id in self._s.users:
            raise AlreadyExists("user", "id", user.id)
        self._check_unique(user)
        self._s.users[user.id] = user

    async def update(self, user: User, expected_version: int) -> bool:
        current = self._s.users.get(user.id)
        if current is None or current.version != expected_version:
            return False
        self._check_unique(user)
        self._s.users[user.id] = user
        return True

    async def delete(self, user_id: str) -> bool:
        return self._s.users.pop(user_id, None) is not None


class FakePosts:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, post_id: str, *, for_update: bool = False) -> Post | None:
        return self._s.posts.get(post_id)

    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, Post]:
        return {i: self._s.posts[i] for i in ids if i in self._s.posts}

    async def scan(self, flt: Any, after_id: str, limit: int) -> list[Post]:
        page = await self.list(flt, PageRequest(Ordering("id"), 10**9))
        return sorted((x for x in page.items if x.id > after_id), key=lambda x: x.id)[:limit]

    async def add_many(self, batch: Sequence[Post]) -> None:
        before = copy.deepcopy(self._s.posts)
        try:
            for item in batch:
                await self.add(item)
        except Exception:
            self._s.posts = before
            raise

    async def update_many(self, batch: Sequence[tuple[Post, int]]) -> None:
        for item, expected in batch:
            await self.update(item, expected)

    async def list(self, flt: PostFilter, page: PageRequest) -> Page[Post]:
        def keep(p: Post) -> bool:
            return (
                (not flt.author_id or p.author_id == flt.author_id)
                and (not flt.tag or flt.tag in p.tags)
                and (flt.create_time_after_us is None or p.create_time_us > flt.create_time_after_us)
                and (flt.create_time_before_us is None or p.create_time_us < flt.create_time_before_us)
            )

        key = (lambda p: p.title) if page.ordering.field == "title" else (lambda p: p.create_time_us)
        return _page([p for p in self._s.posts.values() if keep(p)], page, key)

    async def conflicts(self, writes: Sequence[Post]) -> dict[str, InvalidInput]:
        return {
            p.id: InvalidInput.of("post.author_id", "no such user", reason="AUTHOR_NOT_FOUND")
            for p in writes
            if p.author_id not in self._s.users
        }

    def _check_author(self, post: Post) -> None:
        if post.author_id not in self._s.users:
            raise InvalidInput.of("post.author_id", "no such user", reason="AUTHOR_NOT_FOUND")

    async def add(self, post: Post) -> None:
        if post.id in self._s.posts:
            raise AlreadyExists("post", "id", post.id)
        self._check_author(post)
        self._s.posts[post.id] = post

    async def update(self, post: Post, expected_version: int) -> bool:
        current = self._s.posts.get(post.id)
        if current is None or current.version != expected_version:
            return False
        self._check_author(post)
        self._s.posts[post.id] = post
        return True

    async def delete(self, post_id: str) -> bool:
        return self._s.posts.pop(post_id, None) is not None

    async def any_by_author(self, author_id: str) -> bool:
        return any(p.author_id == author_id for p in self._s.posts.values())

    async def delete_by_author(self, author_id: str) -> list[tuple[str, int]]:
        doomed = [(i, p.version) for i, p in self._s.posts.items() if p.author_id == author_id]
        for i, _ in doomed:
            del self._s.posts[i]
        return doomed


class FakeIdempotency:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def get(self, scope: str, request_id: str) -> IdempotencyRecord | None:
        return self._s.keys.get((scope, request_id))

    async def put(self, scope: str, request_id: str, record: IdempotencyRecord, now_us: int) -> None:
        if (scope, request_id) in self._s.keys:
            raise AlreadyExists("request", "request_id", request_id)
        self._s.keys[scope, request_id] = record
        self._s.key_times[scope, request_id] = now_us

    async def purge(self, before_us: int) -> int:
        old = [k for k, t in self._s.key_times.items() if t < before_us]
        for key in old:
            del self._s.keys[key], self._s.key_times[key]
        return len(old)


class FakeOutbox:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def add(self, entries: Sequence[OutboxEntry], now_us: int) -> list[int]:
        ids = []
        for entry in entries:
            self._s.next_outbox_id += 1
            self._s.outbox[self._s.next_outbox_id] = (entry, False, now_us)
            ids.append(self._s.next_outbox_id)
        return ids

    async def pending(self, cutoff_us: int, limit: int = 500) -> list[tuple[int, OutboxEntry]]:
        rows = [(i, e) for i, (e, failed, t) in sorted(self._s.outbox.items()) if failed or t < cutoff_us]
        return rows[:limit]

    async def mark_failed(self, ids: Sequence[int]) -> None:
        for i in ids:
            if i in self._s.outbox:
                entry, _, t = self._s.outbox[i]
                self._s.outbox[i] = (entry, True, t)

    async def delete(self, ids: Sequence[int]) -> None:
        for i in ids:
            self._s.outbox.pop(i, None)

    async def count(self) -> int:
        return len(self._s.outbox)


class FakeChangeLog:
    def __init__(self, state: _State) -> None:
        self._s = state

    async def append(self, entries: Sequence[ChangeEntry], now_us: int) -> list[int]:
        revisions = []
        for entry in entries:
            revision = self._s.next_revision
            self._s.next_revision += 1
            self._s.log.append(LoggedChange(revision, entry))
            self._s.log_times[revision] = now_us
            revisions.append(revision)
        return revisions

    async def after(self, revision: int, limit: int = 1000) -> list[LoggedChange]:
        return [c for c in self._s.log if c.revision > revision][:limit]

    async def latest(self) -> int:
        return self._s.next_revision - 1

    async def compacted(self) -> int:
        return self._s.compacted

    async def compaction_cut(self, before_us: int) -> int:
        old = [c.revision for c in self._s.log if self._s.log_times[c.revision] < before_us]
        return min(max(old), await self.latest() - 1) if old else 0

    async def raise_watermark(self, cut: int) -> None:
        self._s.compacted = max(self._s.compacted, cut)

    async def delete_through(self, cut: int, batch: int) -> int:
        doomed = [c for c in self._s.log if c.revision <= cut][:batch]
        self._s.log = self._s.log[len(doomed) :]
        return len(doomed)


class FakeUnitOfWork:
    def __init__(self, state: _State, writable: bool) -> None:
        self.users = FakeUsers(state)
        self.posts = FakePosts(state)
        self.idempotency = FakeIdempotency(state)
        self.outbox = FakeOutbox(state)
        self.changes = FakeChangeLog(state)
        self._writable = writable
        self._state = state
        self.committed = False

    async def commit(self) -> None:
        assert self._writable, "commit on a read-only unit of work"
        self.committed = True

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        saved = copy.deepcopy(self._state.__dict__)
        try:
            yield
        except BaseException:
            self._state.__dict__.update(saved)
            raise


class FakeDatabase:
    """Copy-on-write transactions: a unit of work works on a copy that replaces the state only on commit."""

    def __init__(self) -> None:
        self.state = _State()
        self.commits = 0
        self.committed = asyncio.Event()

    @asynccontextmanager
    async def reading(self, *, bulk: bool = False) -> AsyncIterator[FakeUnitOfWork]:
        yield FakeUnitOfWork(self.state, writable=False)

    @asynccontextmanager
    async def writing(self, *, bulk: bool = False) -> AsyncIterator[FakeUnitOfWork]:
        draft = copy.deepcopy(self.state)
        uow = FakeUnitOfWork(draft, writable=True)
        yield uow
        if uow.committed:
            self.state.__dict__.update(draft.__dict__)
            self.commits += 1
            self.committed.set()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[FakeUnitOfWork]:
        yield FakeUnitOfWork(copy.deepcopy(self.state), writable=False)

    async def commit_signals(self, on_commit: Any) -> None:
        while True:
            on_commit()
            await self.committed.wait()
            self.committed.clear()

    async def ping(self) -> None:
        return None

    async def schema_revision(self) -> str | None:
        from service.repository.migrate import head_revision

        return head_revision()  # a fake is always at the head

    async def close(self) -> None:
        return None
