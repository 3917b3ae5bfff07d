"""The persistence ports the use cases depend on. No SQLAlchemy here, so fakes can implement them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from service.domain.errors import DomainError
from service.domain.models import ChangeKind, FilterValues, Page, PageRequest

R = TypeVar("R")


class Repository(Protocol[R]):
    """One collection's stored resources (``repository.resources.SqlRepository``; tests' fakes)."""

    async def get(self, item_id: str, *, for_update: bool = False) -> R | None: ...
    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, R]: ...
    async def list_page(self, flt: FilterValues, page: PageRequest) -> Page[R]: ...
    async def sizes(self, ids: Sequence[str]) -> dict[str, int]: ...
    async def scan(self, flt: FilterValues, after_id: str, limit: int) -> list[R]: ...
    async def add(self, item: R) -> None: ...
    async def add_many(self, batch: Sequence[R]) -> None: ...
    async def update(self, item: R, expected_version: int) -> bool: ...
    async def update_many(self, batch: Sequence[tuple[R, int]]) -> None: ...
    async def conflicts(self, writes: Sequence[R]) -> Mapping[str, DomainError]:
        """The writes (in order) a constraint would reject, by id, with the error each would get."""
        ...

    async def delete(self, item_id: str) -> bool: ...
    async def delete_many(self, ids: Sequence[str]) -> None: ...
    async def referring(
        self, field_name: str, ids: Sequence[str], *, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """(id, version) of the items whose ``field_name`` is one of ``ids``: with ``limit``, at most that
        many (is there any?); without, all of them, locked (they are about to be deleted)."""
        ...


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    fingerprint: str
    result: str


class IdempotencyStore(Protocol):
    async def get(self, scope: str, request_id: str) -> IdempotencyRecord | None: ...
    async def put(self, scope: str, request_id: str, record: IdempotencyRecord, now_us: int) -> None: ...
    async def purge(self, before_us: int) -> int: ...
    async def count(self) -> int: ...


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


CREATED, UPDATED, DELETED = ChangeKind.CREATED, ChangeKind.UPDATED, ChangeKind.DELETED


@dataclass(frozen=True, slots=True)
class ChangeEntry:
    """One committed change: what, which, how (CREATED/UPDATED/DELETED) and the new serialized value."""

    collection: str
    resource_id: str
    kind: ChangeKind
    payload: bytes | None


@dataclass(frozen=True, slots=True)
class LoggedChange:
    revision: int
    change: ChangeEntry
    trace: str | None = None  # the W3C traceparent of the write, if it was traced


class ChangeLog(Protocol):
    async def append(self, entries: Sequence[ChangeEntry], now_us: int) -> list[int]: ...
    async def after(self, revision: int, limit: int = 1000) -> list[LoggedChange]: ...
    async def latest(self) -> int: ...
    async def compacted(self) -> int: ...
    async def count(self) -> int: ...
    async def compaction_cut(self, before_us: int) -> int: ...
    async def raise_watermark(self, cut: int) -> None: ...
    async def delete_through(self, cut: int, batch: int) -> int: ...


class UnitOfWork(Protocol):
    """One transaction. Leaving the ``async with`` block without ``commit()`` rolls back."""

    # Read-only (properties): a unit of work's stores are its own, and a protocol's plain attributes would
    # be invariant, so no implementation holding its own store classes would match.
    @property
    def idempotency(self) -> IdempotencyStore: ...
    @property
    def outbox(self) -> Outbox: ...
    @property
    def changes(self) -> ChangeLog: ...

    def repo(self, collection: str) -> Repository[Any]:
        """The repository of a registered collection."""
        ...

    async def commit(self) -> None: ...

    def savepoint(self) -> AbstractAsyncContextManager[None]:
        """A nested transaction: an exception inside undoes only what the block did, then propagates."""
        ...


class Database(Protocol):
    def reading(self, *, bulk: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only unit of work (every statement sees committed data). ``bulk``: the reads may scan
        many rows (List), so a driver that would block the event loop runs them elsewhere."""
        ...

    def writing(self, *, bulk: bool = False) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-write transaction; rolled back unless committed. ``bulk``: its statements may write many
        rows (an import chunk), so a driver that would block the event loop runs them elsewhere."""
        ...

    def snapshot(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """A read-only unit of work in which every statement sees one consistent snapshot (Export)."""
        ...

    async def commit_signals(self, on_commit: Callable[[], None]) -> None:
        """Run until cancelled, calling ``on_commit`` soon after any process may have committed a write
        (a wake-up hint only: readers then look at the change log itself)."""
        ...

    async def ping(self) -> None: ...

    async def schema_revision(self) -> str | None:
        """The Alembic revision the schema is at (None: never migrated)."""
        ...

    async def close(self) -> None: ...
