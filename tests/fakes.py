"""In-memory implementations of the repository ports (service.repository.base), for unit tests."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from service.domain.errors import AlreadyExists, DomainError
from service.domain.models import Cursor, FilterValues, Page, PageRequest, SortDirection
from service.domain.specs import REGISTRY, CollectionSpec, FilterKind, reference_error
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
        self.items: dict[str, dict[str, Any]] = {c: {} for c in REGISTRY.names}  # collection -> id -> item
        self.keys: dict[tuple[str, str], IdempotencyRecord] = {}
        self.key_times: dict[tuple[str, str], int] = {}
        self.outbox: dict[int, tuple[OutboxEntry, bool, int]] = {}
        self.next_outbox_id = 0
        self.log: list[LoggedChange] = []
        self.log_times: dict[int, int] = {}
        self.next_revision = 1
        self.compacted = 0


def _matches(spec: CollectionSpec[Any, Any], item: Any, flt: FilterValues) -> bool:
    """The filter semantics of the SQL repository (repository.resources), in memory."""
    for name, value in flt:
        f = spec.filter(name)
        if f.kind is FilterKind.EQUALS and getattr(item, f.fields[0]) != value:
            return False
        if f.kind is FilterKind.PREFIX:
            prefix = str(value).casefold()
            if not any(getattr(item, n).casefold().startswith(prefix) for n in f.fields):
                return False
        if f.kind is FilterKind.HAS and value not in getattr(item, f.fields[0]):
            return False
        when = getattr(item, f"{f.fields[0]}_us") if f.is_time else 0
        if (f.kind is FilterKind.AFTER and when <= value) or (f.kind is FilterKind.BEFORE and when >= value):
            return False
    return True


def _sort_key(ordering: str) -> Any:
    if ordering.endswith("_time"):
        return lambda item: getattr(item, f"{ordering}_us")
    return lambda item: getattr(item, ordering).casefold()


class FakeRepository:
    """One collection of a spec in memory: the ``Repository`` port, with the SQL repository's constraints
    (unique fields case-insensitively, references that must name something)."""

    def __init__(self, spec: CollectionSpec[Any, Any], state: _State) -> None:
        self._spec = spec
        self._s = state

    @property
    def _items(self) -> dict[str, Any]:
        return self._s.items[self._spec.collection]

    async def get(self, item_id: str, *, for_update: bool = False) -> Any | None:
        return self._items.get(item_id)

    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, Any]:
        return {i: self._items[i] for i in ids if i in self._items}

    async def list_page(self, flt: FilterValues, page: PageRequest) -> Page[Any]:
        kept = [i for i in self._items.values() if _matches(self._spec, i, flt)]
        return _page(kept, page, _sort_key(page.ordering.field))

    async def sizes(self, ids: Sequence[str]) -> dict[str, int]:
        return {i: len(encode(self._items[i])) for i in ids if i in self._items}

    async def scan(self, flt: FilterValues, after_id: str, limit: int) -> list[Any]:
        kept = (i for i in self._items.values() if i.id > after_id and _matches(self._spec, i, flt))
        return sorted(kept, key=lambda x: x.id)[:limit]

    async def add(self, item: Any) -> None:
        if item.id in self._items:
            raise AlreadyExists(self._spec.resource, "id", item.id)
        self._check(item)
        self._items[item.id] = item

    async def add_many(self, batch: Sequence[Any]) -> None:
        before = copy.deepcopy(self._s.items)
        try:
            for item in batch:
                await self.add(item)
        except Exception:
            self._s.items = before
            raise

    async def update(self, item: Any, expected_version: int) -> bool:
        current = self._items.get(item.id)
        if current is None or current.version != expected_version:
            return False
        self._check(item)
        self._items[item.id] = item
        return True

    async def update_many(self, batch: Sequence[tuple[Any, int]]) -> None:
        for item, expected in batch:
            await self.update(item, expected)

    async def conflicts(self, writes: Sequence[Any]) -> dict[str, DomainError]:
        """As the SQL repository: references first, then each unique field, each write in order against
        the values held by then."""
        found: dict[str, DomainError] = {}
        for write in writes:
            error = self._missing_reference(write)
            if error is not None:
                found[write.id] = error
        for name in self._spec.unique:
            owner = {getattr(i, name).casefold(): i.id for i in self._items.values()}
            held = {item_id: value for value, item_id in owner.items()}
            for write in writes:
                if write.id in found:
                    continue
                value = getattr(write, name).casefold()
                if owner.get(value, write.id) != write.id:
                    found[write.id] = AlreadyExists(self._spec.resource, name, getattr(write, name))
                    continue
                if held.get(write.id, value) != value:
                    del owner[held[write.id]]
                owner[value], held[write.id] = write.id, value
        return found

    async def delete(self, item_id: str) -> bool:
        return self._items.pop(item_id, None) is not None

    async def delete_many(self, ids: Sequence[str]) -> None:
        for item_id in ids:
            self._items.pop(item_id, None)

    async def referring(
        self, field_name: str, ids: Sequence[str], *, limit: int | None = None
    ) -> list[tuple[str, int]]:
        wanted = set(ids)
        found = sorted((i.id, i.version) for i in self._items.values() if getattr(i, field_name) in wanted)
        return found[:limit] if limit is not None else found

    def _missing_reference(self, item: Any) -> DomainError | None:
        for ref in self._spec.references:
            if getattr(item, ref.field) not in self._s.items[ref.collection]:
                return reference_error(self._spec, ref, getattr(item, ref.field))
        return None

    def _check(self, item: Any) -> None:
        error = self._missing_reference(item)
        if error is not None:
            raise error
        for name in self._spec.unique:
            value = getattr(item, name).casefold()
            for other in self._items.values():
                if other.id != item.id and getattr(other, name).casefold() == value:
                    raise AlreadyExists(self._spec.resource, name, getattr(item, name))


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

    async def count(self) -> int:
        return len(self._s.keys)


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

    async def count(self) -> int:
        return len(self._s.log)

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
        self._repos = {spec.collection: FakeRepository(spec, state) for spec in REGISTRY}
        self.idempotency = FakeIdempotency(state)
        self.outbox = FakeOutbox(state)
        self.changes = FakeChangeLog(state)
        self._writable = writable
        self._state = state
        self.committed = False

    def repo(self, collection: str) -> FakeRepository:
        return self._repos[collection]

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
