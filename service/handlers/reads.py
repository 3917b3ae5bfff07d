"""Read-through Get/BatchGet and post-commit invalidation, shared by every collection.

Payloads are the resource's serialized bytes, produced by a codec the composition root injects (the use
cases never import protobuf); the servicer can send them as they are, with no decode/encode round trip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from service.cache.tier import Admit, CacheTier, Loaded
from service.domain.errors import InvalidInput, NotFound
from service.domain.models import ChangeKind, Cursor, Page
from service.domain.validation import check_batch_ids, require_id
from service.handlers.coherence import Change, Coherence
from service.handlers.common import wall_clock_us
from service.repository.base import ChangeEntry, Database, UnitOfWork

T = TypeVar("T")
T_contra = TypeVar("T_contra", contravariant=True)


class Encoder(Protocol[T_contra]):
    def __call__(self, item: T_contra, /) -> bytes: ...


class CachedReads(Generic[T]):
    def __init__(
        self,
        db: Database,
        cache: CacheTier | None,
        *,
        collection: str,
        resource: str,
        repository: Callable[[UnitOfWork], Any],
        encode: Encoder[T],
        coherence: Coherence | None = None,
        max_item_bytes: int | None = None,
        clock: Callable[[], int] = wall_clock_us,
    ) -> None:
        self._clock = clock
        self._db = db
        self._max_item_bytes = max_item_bytes
        self._cache = cache
        self._collection = collection
        self._resource = resource
        self._repository = repository
        self.encode = encode
        self._coherence = coherence

    async def _load(self, ids: list[str]) -> Loaded:
        async with self._db.reading() as uow:
            found = await self._repository(uow).get_many(ids)
        return {i: (item.version, self.encode(item)) for i, item in found.items()}

    async def _payloads(
        self, ids: Sequence[str], deadline: float | None, max_bytes: int | None = None
    ) -> dict[str, bytes | None]:
        admit = None if max_bytes is None else self._admission(max_bytes)
        if self._cache is None:
            unique = list(dict.fromkeys(ids))
            if admit is not None:
                await admit(0, unique)
            loaded = await self._load(unique)
            return {i: (loaded[i][1] if i in loaded else None) for i in ids}
        return await self._cache.read_through(self._collection, ids, self._load, deadline, admit)

    def _admission(self, max_bytes: int) -> Admit:
        """Refuses a read (RESPONSE_TOO_LARGE) once what it would return is known to pass ``max_bytes``:
        the cache hits so far, plus the sizes the database reports for the misses (asked only when
        they could pass it), before any row is loaded."""

        async def admit(hit_bytes: int, misses: list[str]) -> None:
            total = hit_bytes
            bound = self._max_item_bytes
            if misses and (bound is None or hit_bytes + len(misses) * bound > max_bytes):
                # off the event loop: measuring a row's size makes SQLite read the whole of it
                async with self._db.reading(bulk=True) as uow:
                    total += sum((await self._repository(uow).sizes(misses)).values())
            if total > max_bytes:
                raise InvalidInput.of(
                    "ids",
                    f"the response would be over {total} bytes, above the {max_bytes}-byte limit; "
                    "request fewer ids per call or a read_mask",
                    reason="RESPONSE_TOO_LARGE",
                )

        return admit

    async def load_one(self, resource_id: str) -> T:
        """The domain value straight from the database (internal callers; no cache, no encoding)."""
        require_id(resource_id, "id")
        async with self._db.reading() as uow:
            found = await self._repository(uow).get_many([resource_id])
        if resource_id not in found:
            raise NotFound(self._resource, resource_id)
        return found[resource_id]  # type: ignore[no-any-return]

    async def load_many(self, ids: list[str]) -> list[T]:
        check_batch_ids(ids)
        async with self._db.reading() as uow:
            found = await self._repository(uow).get_many(ids)
        missing = [i for i in dict.fromkeys(ids) if i not in found]
        if missing:
            raise NotFound(self._resource, missing)
        return [found[i] for i in ids]

    def encode_within(self, page: Page[T], max_bytes: int) -> tuple[list[bytes], Cursor | None]:
        """Encode items until the next one would pass ``max_bytes`` (always at least one); the cursor
        resumes after the last one kept."""
        payloads: list[bytes] = []
        total = 0
        for item in page.items:
            payload = self.encode(item)
            total += len(payload) + 6  # field tag and length prefix
            if payloads and total > max_bytes:
                return payloads, page.cursors[len(payloads) - 1]
            payloads.append(payload)
        return payloads, page.next_cursor

    async def one(self, resource_id: str, deadline: float | None = None) -> bytes:
        require_id(resource_id, "id")
        payload = (await self._payloads([resource_id], deadline))[resource_id]
        if payload is None:
            raise NotFound(self._resource, resource_id)
        return payload

    async def many(
        self, ids: list[str], deadline: float | None = None, max_bytes: int | None = None
    ) -> list[bytes]:
        """The payloads in request order; NOT_FOUND naming the missing ids. With ``max_bytes``, refused
        before the rows are read if they would pass it (see ``_admission``)."""
        check_batch_ids(ids)
        found = await self._payloads(ids, deadline, max_bytes)
        missing = [i for i in dict.fromkeys(ids) if found[i] is None]
        if missing:
            raise NotFound(self._resource, missing)
        return [found[i] for i in ids]  # type: ignore[misc]

    async def cached_list(
        self,
        request: dict[str, Any],
        compute: Callable[[], Awaitable[tuple[list[bytes], str]]],
        deadline: float | None = None,
    ) -> tuple[list[bytes], str]:
        """A List page from the cache, keyed by the normalized request and stored under the collection's
        generation (every write bumps it, so no page outlives a write that is acknowledged)."""
        if self._cache is None:
            return await compute()
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        key = hashlib.sha256(canonical.encode()).hexdigest()[:32]
        generation, blob = await self._cache.cached_page(self._collection, key, deadline)
        if blob is not None:
            return _unframe(blob)
        payloads, token = await compute()
        framed_size = sum(len(p) + 4 for p in payloads) + len(token) + 4
        if generation is not None and self._cache.keeps_pages_of(framed_size):  # else: no copy to frame
            await self._cache.store_page(self._collection, key, generation, _frame(payloads, token), deadline)
        return payloads, token

    def pending(self) -> PendingInvalidations:
        """A collector for one write use case: record inside the transaction, flush after commit."""
        return PendingInvalidations(self._cache, self._coherence, self._clock)


def _frame(payloads: list[bytes], token: str) -> bytes:
    parts = [token.encode(), *payloads]
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _unframe(blob: bytes) -> tuple[list[bytes], str]:
    parts, at = [], 0
    while at < len(blob):
        size = int.from_bytes(blob[at : at + 4], "big")
        parts.append(blob[at + 4 : at + 4 + size])
        at += 4 + size
    return parts[1:], parts[0].decode()


class PendingInvalidations:
    """The cache invalidations of one write. ``record`` runs inside the transaction (with a shared cache,
    it also writes them to the outbox); ``flush`` runs after commit, before the write is acknowledged."""

    def __init__(
        self, cache: CacheTier | None, coherence: Coherence | None, clock: Callable[[], int] = wall_clock_us
    ) -> None:
        self._cache = cache
        self._coherence = coherence
        self._clock = clock
        self._items: list[tuple[str, list[Change], list[int]]] = []

    def reset(self) -> None:
        """At the start of each attempt of a retried transaction: forget what a rolled-back one recorded."""
        self._items.clear()

    async def record(
        self,
        uow: UnitOfWork,
        collection: str,
        changes: Sequence[Change],
        kind: ChangeKind,
        payloads: Sequence[bytes | None],
    ) -> None:
        """Last in the write's transaction: the cache invalidations (durably, with a shared cache) and
        the change-log entries (after which the transaction should commit at once: see change_log.py)."""
        if not changes:
            return
        if self._cache is not None:
            ids = await self._coherence.record(uow, collection, changes) if self._coherence else []
            self._items.append((collection, list(changes), ids))
        entries = [ChangeEntry(collection, c[0], kind, p) for c, p in zip(changes, payloads, strict=True)]
        await uow.changes.append(entries, self._clock())

    async def confirm(self, uow: UnitOfWork, collection: str, changes: Sequence[Change]) -> None:
        """A write that found its value already there acknowledges the (id, version) it found. Another
        writer committed that version, and its tombstone may not be in the cache yet (still on its way,
        or lost with its process): the same tombstone again, through the outbox like any write's and
        flushed before this write is acknowledged (so the transaction must commit). No change-log entry:
        nothing changed."""
        if changes and self._cache is not None:
            ids = await self._coherence.record(uow, collection, changes) if self._coherence else []
            self._items.append((collection, list(changes), ids))

    async def flush(self, deadline: float | None = None) -> None:
        for collection, changes, ids in self._items:
            if self._coherence is not None:
                await self._coherence.after_commit(collection, changes, ids, deadline)
            elif self._cache is not None:
                await self._cache.invalidate(collection, changes, deadline)
        self._items.clear()
