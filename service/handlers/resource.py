"""What every collection's use cases share: reads through the cache, List pages, versions."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

from service.cache.tier import CacheTier
from service.domain.commands import ImportItem, ImportResult
from service.domain.errors import ConcurrencyConflict, DomainError, EtagMismatch, Unavailable
from service.domain.models import Page
from service.handlers.coherence import Coherence
from service.handlers.common import Clock, retrying, wall_clock_us
from service.handlers.page_tokens import PageTokens
from service.handlers.reads import CachedReads, Encoder, PendingInvalidations
from service.repository.base import CREATED, UPDATED, Database, UnitOfWork

T = TypeVar("T")
ListCommand = TypeVar("ListCommand")

IMPORT_CHUNK = 500  # items per committed transaction
EXPORT_ROWS = (16, 256, 2000)  # rows per scan: fewest, first, most (sized to ~EXPORT_TARGET_BYTES)
EXPORT_TARGET_BYTES = 1024 * 1024
_PASS_THROUGH = (ConcurrencyConflict, Unavailable)  # retried or fatal for the chunk, not per item


@dataclasses.dataclass(slots=True)
class _Chunk(Generic[T]):
    """One import transaction's plan: what to insert, what to update (with the version it replaces)."""

    creates: list[T] = dataclasses.field(default_factory=list)
    updates: list[tuple[T, int]] = dataclasses.field(default_factory=list)
    unchanged: int = 0
    failures: list[tuple[int, DomainError]] = dataclasses.field(default_factory=list)


class ResourceHandlers(Generic[T, ListCommand]):
    """Subclasses name their ``collection`` and ``resource``, the repository, and how a List request
    becomes a page (``_page``); they add the writes."""

    collection = ""
    resource = ""

    def __init__(
        self,
        db: Database,
        tokens: PageTokens,
        *,
        encode: Encoder[T],
        cache: CacheTier | None = None,
        clock: Clock = wall_clock_us,
        coherence: Coherence | None = None,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._clock = clock
        self.reads: CachedReads[T] = CachedReads(
            db,
            cache,
            collection=self.collection,
            resource=self.resource,
            repository=self._repository,
            encode=encode,
            coherence=coherence,
        )

    def _repository(self, uow: UnitOfWork) -> Any:
        raise NotImplementedError

    def _filter(self, cmd: ListCommand) -> Any:
        """The validated repository filter of a List (or Export) command."""
        raise NotImplementedError

    def _check_import(self, item: ImportItem[Any]) -> DomainError | None:
        raise NotImplementedError

    def _imported(self, item: ImportItem[Any], now: int, current: T | None) -> T | None:
        """The resource an import item makes of ``current`` (None: it exists already, unchanged)."""
        raise NotImplementedError

    async def _page(self, cmd: ListCommand) -> tuple[Page[T], dict[str, Any]]:
        raise NotImplementedError

    def _next_version(self, current: int = 0) -> int:
        """Hybrid versions: above every earlier version of the id, even across delete and re-create."""
        return max(current + 1, self._clock())

    async def get(self, resource_id: str) -> T:
        """The domain value from the database (internal callers; the API reads through the cache)."""
        return await self.reads.load_one(resource_id)

    async def batch_get(self, ids: list[str]) -> list[T]:
        return await self.reads.load_many(ids)

    async def get_encoded(self, resource_id: str, deadline: float | None = None) -> bytes:
        """The serialized resource, straight from the cache when it is there."""
        return await self.reads.one(resource_id, deadline)

    async def batch_get_encoded(self, ids: list[str], deadline: float | None = None) -> list[bytes]:
        return await self.reads.many(ids, deadline)

    async def list(self, cmd: ListCommand) -> tuple[list[T], str]:
        page, binding = await self._page(cmd)
        return page.items, self._tokens.encode(binding, page.next_cursor) if page.next_cursor else ""

    async def list_encoded(
        self, cmd: ListCommand, max_bytes: int, deadline: float | None = None
    ) -> tuple[list[bytes], str]:
        """The page as serialized resources, cut short (with a token for the rest) before it would
        exceed ``max_bytes``: a page of large items never becomes a response too big to send. Pages
        are cached; replicas with different token secrets never share them."""

        async def compute() -> tuple[list[bytes], str]:
            page, binding = await self._page(cmd)
            payloads, cursor = self.reads.encode_within(page, max_bytes)
            return payloads, self._tokens.encode(binding, cursor) if cursor else ""

        fields = dataclasses.asdict(cmd)  # type: ignore[call-overload]
        request = {**fields, "max_bytes": max_bytes, "secret": self._tokens.fingerprint}
        return await self.reads.cached_list(request, compute, deadline)

    async def export_encoded(
        self, cmd: ListCommand, max_bytes: int
    ) -> AsyncIterator[tuple[list[bytes], int]]:
        """Every matching resource from one snapshot, in id order, as chunks of at most ``max_bytes``, each
        with the change-log revision of the snapshot. Memory stays at about one scan; the caller's pace
        (flow control) sets the pace of the scans, and closing the iterator ends the transaction."""
        flt = self._filter(cmd)
        async with self._db.snapshot() as uow:
            revision = await uow.changes.latest()  # first statement: it fixes the snapshot
            repository = self._repository(uow)
            after, limit = "", EXPORT_ROWS[1]
            while True:
                rows = await repository.scan(flt, after, limit)
                payloads = [self.reads.encode(r) for r in rows]
                for chunk in _split(payloads, max_bytes):
                    if chunk or after == "":  # an empty export still sends its revision
                        yield chunk, revision
                if len(rows) < limit:
                    return
                after = rows[-1].id
                average = sum(map(len, payloads)) / len(payloads)
                limit = max(EXPORT_ROWS[0], min(EXPORT_ROWS[2], int(EXPORT_TARGET_BYTES / average)))

    async def import_items(
        self, items: AsyncIterator[ImportItem[Any]], deadline: float | None = None
    ) -> ImportResult:
        """Upsert by id, committed every IMPORT_CHUNK items. A bad item is reported by its index and never
        takes the good ones with it. If the stream breaks off, the chunks committed so far stay."""
        result = ImportResult()
        chunk: dict[str, ImportItem[Any]] = {}
        async for item in items:
            error = self._check_import(item)
            if error is not None:
                result.fail(item.index, error)
                continue
            if item.id in chunk:  # the same id again: the earlier item must land first
                await self._import_chunk(list(chunk.values()), result, deadline)
                chunk.clear()
            chunk[item.id] = item
            if len(chunk) >= IMPORT_CHUNK:
                await self._import_chunk(list(chunk.values()), result, deadline)
                chunk.clear()
        if chunk:
            await self._import_chunk(list(chunk.values()), result, deadline)
        result.failures.sort(key=lambda f: f.index)
        return result

    async def _import_chunk(
        self, items: list[ImportItem[Any]], result: ImportResult, deadline: float | None
    ) -> None:
        pending = self.reads.pending()
        plan = await retrying(lambda: self._write_chunk(items, pending))
        await pending.flush(deadline)
        result.created += len(plan.creates)
        result.updated += len(plan.updates) + plan.unchanged
        for index, error in plan.failures:
            result.fail(index, error)

    async def _write_chunk(self, items: list[ImportItem[Any]], pending: PendingInvalidations) -> _Chunk[T]:
        pending.reset()
        async with self._db.writing() as uow:
            repository = self._repository(uow)
            current = await repository.get_many([i.id for i in items], for_update=True)
            plan = self._plan(items, current)
            try:
                async with uow.savepoint():
                    if plan.creates:
                        await repository.add_many(plan.creates)
                    if plan.updates:
                        await repository.update_many(plan.updates)
            except _PASS_THROUGH:
                raise
            except DomainError:  # some item conflicts: find which, one savepoint each
                await self._one_by_one(uow, repository, items, plan)
            encode = self.reads.encode
            for kind, written in ((CREATED, plan.creates), (UPDATED, [u for u, _ in plan.updates])):
                changes = [(r.id, r.version, False) for r in written]
                await pending.record(uow, self.collection, changes, kind, [encode(r) for r in written])
            await uow.commit()
        return plan

    def _plan(self, items: list[ImportItem[Any]], current: dict[str, T]) -> _Chunk[T]:
        plan: _Chunk[T] = _Chunk()
        now = self._clock()
        for item in items:
            existing = current.get(item.id)
            if item.etag and (existing is None or item.etag != existing.etag):  # type: ignore[attr-defined]
                plan.failures.append((item.index, EtagMismatch(self.resource, item.id)))
                continue
            made = self._imported(item, now, existing)
            if existing is None:
                plan.creates.append(made)  # type: ignore[arg-type]
            elif made is None:
                plan.unchanged += 1
            else:
                plan.updates.append((made, existing.version))  # type: ignore[attr-defined]
        return plan

    async def _one_by_one(
        self, uow: UnitOfWork, repository: Any, items: list[ImportItem[Any]], plan: _Chunk[T]
    ) -> None:
        index_of = {i.id: i.index for i in items}
        creates, updates = plan.creates, plan.updates
        plan.creates, plan.updates = [], []
        for create in creates:
            try:
                async with uow.savepoint():
                    await repository.add(create)
                plan.creates.append(create)
            except _PASS_THROUGH:
                raise
            except DomainError as error:
                plan.failures.append((index_of[create.id], error))  # type: ignore[attr-defined]
        for update, expected in updates:
            try:
                async with uow.savepoint():
                    await repository.update(update, expected)
                plan.updates.append((update, expected))
            except _PASS_THROUGH:
                raise
            except DomainError as error:
                plan.failures.append((index_of[update.id], error))  # type: ignore[attr-defined]


def _split(payloads: list[bytes], max_bytes: int) -> list[list[bytes]]:
    """Consecutive runs whose framed size stays within ``max_bytes`` (always one, even if empty)."""
    runs: list[list[bytes]] = [[]]
    size = 0
    for payload in payloads:
        framed = len(payload) + 6  # field tag and length prefix
        if runs[-1] and size + framed > max_bytes:
            runs.append([])
            size = 0
        runs[-1].append(payload)
        size += framed
    return runs
