"""The persistence ports the use cases depend on. No SQLAlchemy here, so fakes can implement them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from service.domain.models import Page, PageRequest, Post, PostFilter, User, UserFilter


class UserRepository(Protocol):
    async def get(self, user_id: str, *, for_update: bool = False) -> User | None: ...
    async def get_many(self, ids: Sequence[str]) -> dict[str, User]: ...
    async def list(self, flt: UserFilter, page: PageRequest) -> Page[User]: ...
    async def add(self, user: User) -> None: ...
    async def update(self, user: User, expected_version: int) -> bool: ...
    async def delete(self, user_id: str) -> bool: ...


class PostRepository(Protocol):
    async def get(self, post_id: str, *, for_update: bool = False) -> Post | None: ...
    async def get_many(self, ids: Sequence[str]) -> dict[str, Post]: ...
    async def list(self, flt: PostFilter, page: PageRequest) -> Page[Post]: ...
    async def add(self, post: Post) -> None: ...
    async def update(self, post: Post, expected_version: int) -> bool: ...
    async def delete(self, post_id: str) -> bool: ...
    async def any_by_author(self, author_id: str) -> bool: ...
    async def delete_by_author(self, author_id: str) -> list[tuple[str, int]]: ...


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str
    result: str


class IdempotencyStore(Protocol):
    async def get(self, scope: str, request_id: str) -> IdempotencyRecord | None: ...
    async def put(self, scope: str, request_id: str, record: IdempotencyRecord, now_us: int) -> None: ...
    async def purge(self, before_us: int) -> int: ...


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A committed change whose cache invalidation must reach Redis: (collection, id, new version)."""

    collection: str
    resource_id: str
    version: int
    deleted: bool


class Outbox(Protocol):
    async def add(self, entries: Sequence[OutboxEntry], now_us: int) -> list[int]: ...
    async def pending(self, cutoff_us: int, limit: int = 500) -> list[tuple[int, OutboxEntry]]: ...
    async def mark_failed(self, ids: Sequence[int]) -> None: ...
    async def delete(self, ids: Sequence[int]) -> None: ...
    async def count(self) -> int: ...


CREATED, UPDATED, DELETED = 1, 2, 3


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One committed change: what, which, how (CREATED/UPDATED/DELETED) and the new serialized value."""

    collection: str
    resource_id: str
    kind: int
    payload: bytes | None


@dataclass(frozen=True, slots=True)
class LoggedChange:
    revision: int
    change: ChangeEntry


class ChangeLog(Protocol):
    async def append(self, entries: Sequence[ChangeEntry], now_us: int) -> list[int]: ...
    async def after(self, revision: int, limit: int = 1000) -> list[LoggedChange]: ...
    async def latest(self) -> int: ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``async with`` block without ``commit()`` rolls back."""

    users: UserRepository
    posts: PostRepository
    idempotency: IdempotencyStore
    outbox: Outbox
    changes: ChangeLog

    async def commit(self) -> None: ...


class Database(Protocol):
    def reading(self, *, bulk: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only unit of work (every statement sees committed data). ``bulk``: the reads may scan
        many rows (List), so a driver that would block the event loop runs them elsewhere."""
        ...

    def writing(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-write transaction; rolled back unless committed."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
