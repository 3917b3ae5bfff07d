"""The use cases of every collection, written once: reads through the cache, List pages, writes with
their invalidations and change-log entries, deletes with their references' rule, Import and Export."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Hashable
from typing import Any, Generic, TypeAlias, TypeVar, cast

from service.cache.tier import CacheTier
from service.domain.commands import (
    CreateItem,
    DeleteItem,
    ImportItem,
    ImportResult,
    ListItems,
    UpdateItem,
)
from service.domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    DomainError,
    EtagMismatch,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotFound,
    NotOwner,
    PreconditionViolation,
    Unavailable,
)
from service.domain.models import ChangeKind, FilterValues, Page, PageRequest, Principal
from service.domain.specs import (
    REGISTRY,
    CollectionSpec,
    Registry,
    Resource,
    attribute_getter,
    check_filters,
)
from service.domain.validation import check_id, only_paths, page_size, raise_if, require_id
from service.handlers.coherence import Coherence
from service.handlers.common import (
    Clock,
    chosen_id,
    fingerprint,
    idempotent_create,
    lost_race,
    new_id,
    parse_order_by,
    resolve_update_mask,
    retrying,
    wall_clock_us,
)
from service.handlers.exports import ExportChunk
from service.handlers.page_tokens import PageTokens
from service.handlers.reads import CachedReads, Encoder, PendingInvalidations
from service.repository.base import CREATED, DELETED, UPDATED, Database, Repository, UnitOfWork

T = TypeVar("T", bound=Resource)
F = TypeVar("F")

IMPORT_CHUNK = 500  # items per committed transaction, at most
# ... and at most this much item text (see text_bytes): what an import holds at once is a few times this
# (the items, their encoded change-log payloads, the statement's parameters), whatever the item size.
IMPORT_CHUNK_BYTES = 4 * 1024 * 1024
IMPORT_SLICE_S = 0.002  # an import's own work between two yields to the event loop
EXPORT_ROWS = (16, 256, 2000)  # rows per scan: fewest, first, most (sized to ~EXPORT_TARGET_BYTES)
EXPORT_TARGET_BYTES = 1024 * 1024
_PASS_THROUGH = (ConcurrencyConflict, Unavailable)  # retried or fatal for the chunk, not per item


_Write: TypeAlias = tuple[Any, int | None]  # a resource and the version it replaces (None: a create)


@dataclasses.dataclass(slots=True)
class _Chunk(Generic[T]):
    """One import transaction's plan: what to insert, what to update (with the version it replaces)."""

    creates: list[T] = dataclasses.field(default_factory=list)
    updates: list[tuple[T, int]] = dataclasses.field(default_factory=list)
    unchanged: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # (id, version) found as is
    failures: list[tuple[int, DomainError]] = dataclasses.field(default_factory=list)


class ResourceHandlers(Generic[T, F]):
    """Every use case of one collection (Get, BatchGet, List, Create, Update, Delete, Import, Export),
    written once and driven by the collection's spec; ``registry`` says what refers to what (a delete's
    rule: refused while anything refers to the resource, unless forced, then cascaded)."""

    def __init__(
        self,
        spec: CollectionSpec[T, F],
        db: Database,
        tokens: PageTokens,
        *,
        encode: Encoder[T],
        registry: Registry = REGISTRY,
        cache: CacheTier | None = None,
        clock: Clock = wall_clock_us,
        coherence: Coherence | None = None,
    ) -> None:
        self.spec = spec
        self.collection = spec.collection
        self.resource = spec.resource
        self.max_item_bytes = spec.max_item_bytes
        self._registry = registry
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
            max_item_bytes=self.max_item_bytes,
            clock=clock,
        )

    def _repository(self, uow: UnitOfWork) -> Repository[Any]:
        return uow.repo(self.collection)

    def _filter(self, cmd: ListItems) -> FilterValues:
        """The validated repository filter of a List (or Export) command; for a caller who may not see
        private fields, the filters' variants that leave them out (a prefix search would reveal them)."""
        found = check_filters(self.spec, cmd.filters)
        if cmd.search_private or not self.spec.private:
            return found
        return tuple((self.spec.public_filter(name), value) for name, value in found)

    def _authorize(self, actor: Principal | None, item_id: str, fields: Any) -> None:
        """NOT_OWNER unless ``actor`` owns the resource ``item_id`` with ``fields`` (by the spec's owner
        field: the id itself for users, ``author_id`` for posts and comments) or is an admin; nobody is
        checked with authentication off (``actor`` None)."""
        error = self._not_owner(actor, item_id, fields)
        if error is not None:
            raise error

    def _not_owner(self, actor: Principal | None, item_id: str, fields: Any) -> NotOwner | None:
        if actor is None or actor.admin:
            return None
        field = self.spec.owner_field
        owner = item_id if field == "id" else getattr(fields, field)
        return None if owner == actor.subject else NotOwner(self.resource, item_id, field)

    def _check_import(self, item: ImportItem[F]) -> DomainError | None:
        r = self.resource
        violations = check_id(item.id, f"{r}.id") if item.id else [FieldViolation(f"{r}.id", "required")]
        violations += self.spec.check(self.spec.normalize(item.fields), r)
        return InvalidInput(violations) if violations else None

    def _imported(self, item: ImportItem[F], now: int, current: T | None) -> T | None:
        """The resource an import item makes of ``current`` (None: it exists already, unchanged)."""
        spec = self.spec
        fields = spec.normalize(item.fields)
        if current is None:
            return spec.new(item.id, fields, now, self._next_version())
        if fields == spec.fields_of(current):
            return None
        return spec.changed(current, fields, now, self._next_version(current.version))

    async def _page(self, cmd: ListItems, max_bytes: int | None = None) -> tuple[Page[T], dict[str, Any]]:
        """The page and its token binding; with ``max_bytes``, rows past that many bytes are not read."""
        size = page_size(cmd.page_size)
        flt = self._filter(cmd)
        ordering = parse_order_by(cmd.order_by, self.spec.orderings, self.spec.default_ordering)
        binding: dict[str, Any] = {
            "c": self.collection,
            "filter": dict(flt),
            "order": [ordering.field, ordering.direction.value],
            "mask": sorted(cmd.read_mask),
        }
        cursor = None
        if cmd.page_token:
            cursor = self._tokens.decode(cmd.page_token, binding, self.spec.orderings[ordering.field])
        async with self._db.reading(bulk=True) as uow:
            request = PageRequest(ordering, size, cursor, self._read_budget(size, max_bytes))
            page: Page[T] = await self._repository(uow).list_page(flt, request)
        return page, binding

    def _read_budget(self, size: int, max_bytes: int | None) -> int | None:
        """``max_bytes`` for a page of ``size`` items if they could pass it (then the repository reads
        the rows' sizes first), else None (one plain read)."""
        if max_bytes is None or self.max_item_bytes is None:
            return max_bytes
        return max_bytes if (size + 1) * self.max_item_bytes > max_bytes else None

    async def _acknowledge_create(
        self, pending: PendingInvalidations, created: T, replayed: bool, deadline: float | None
    ) -> T:
        """A Create's invalidations before its answer. A replayed one (same ``request_id``) acknowledges
        the version an earlier attempt committed, perhaps in a process that died before that attempt's
        tombstone reached the cache: so the tombstone again, through the outbox like any write's (and
        nothing a rolled-back attempt of this call recorded)."""
        if replayed:
            pending.reset()
            async with self._db.writing() as uow:
                changes = [(created.id, created.version, False)]
                await pending.confirm(uow, self.collection, changes)
                await uow.commit()
        await pending.flush(deadline)
        return created

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

    async def batch_get_encoded(
        self, ids: list[str], deadline: float | None = None, max_bytes: int | None = None
    ) -> list[bytes]:
        """The serialized resources; with ``max_bytes``, refused (RESPONSE_TOO_LARGE) as soon as they are
        known to pass it, before the rows are read."""
        return await self.reads.many(ids, deadline, max_bytes)

    async def list_items(self, cmd: ListItems) -> tuple[list[T], str]:
        page, binding = await self._page(cmd)
        return page.items, self._tokens.encode(binding, page.next_cursor) if page.next_cursor else ""

    async def list_encoded(
        self, cmd: ListItems, max_bytes: int, deadline: float | None = None
    ) -> tuple[list[bytes], str]:
        """The page as serialized resources, cut short (with a token for the rest) before it would
        exceed ``max_bytes``: a page of large items never becomes a response too big to send. Pages
        are cached; replicas with different token secrets never share them."""

        async def compute() -> tuple[list[bytes], str]:
            page, binding = await self._page(cmd, max_bytes)
            payloads, cursor = self.reads.encode_within(page, max_bytes)
            return payloads, self._tokens.encode(binding, cursor) if cursor else ""

        request = {**_page_key_fields(cmd), "max_bytes": max_bytes, "secret": self._tokens.fingerprint}
        return await self.reads.cached_list(request, compute, deadline)

    async def create(self, cmd: CreateItem[F], deadline: float | None = None) -> T:
        spec = self.spec
        fields = spec.normalize(cmd.fields)
        item_id, id_violations = chosen_id(self.resource, cmd.chosen_id, cmd.id_in_body)
        raise_if(spec.check(fields, self.resource) + id_violations)
        if not item_id and spec.owner_field == "id" and cmd.actor is not None and not cmd.actor.admin:
            item_id = cmd.actor.subject  # a principal's own resource is the one with its id
        self._authorize(cmd.actor, item_id, fields)
        pending = self.reads.pending()

        async def create(uow: UnitOfWork) -> T:
            pending.reset()
            now = self._clock()
            item: T = spec.new(item_id or new_id(now), fields, now, self._next_version())
            await self._repository(uow).add(item)
            await self._record(uow, pending, CREATED, item)
            return item

        fp = fingerprint(item_id, fields)
        created, replayed = await retrying(
            lambda: idempotent_create(
                self._db, self.collection, cmd.request_id, fp, spec.model, create, self._clock
            )
        )
        return await self._acknowledge_create(pending, created, replayed, deadline)

    async def update(self, cmd: UpdateItem[F], deadline: float | None = None) -> T:
        pending = self.reads.pending()
        try:
            item = await retrying(lambda: self._update(cmd, pending))
        except AlreadyExists as error:
            if not (cmd.allow_missing and error.field_name == "id"):
                raise
            item = await retrying(lambda: self._update(cmd, pending))  # a concurrent upsert created it
        await pending.flush(deadline)
        return item

    async def _update(self, cmd: UpdateItem[F], pending: PendingInvalidations) -> T:
        spec, r = self.spec, self.resource
        require_id(cmd.id, f"{r}.id")
        paths = resolve_update_mask(cmd.update_mask, cmd.fields, spec.writable, spec.output_only, r)
        given = spec.normalize(cmd.fields)
        pending.reset()
        async with self._db.writing() as uow:
            repository = self._repository(uow)
            current = await repository.get(cmd.id, for_update=True)
            if current is None:
                if not cmd.allow_missing:
                    raise NotFound(r, cmd.id)
                raise_if(spec.check(given, r))
                self._authorize(cmd.actor, cmd.id, given)
                created: T = spec.new(cmd.id, given, self._clock(), self._next_version())
                await repository.add(created)
                await self._record(uow, pending, CREATED, created)
                await uow.commit()
                return created
            before = spec.fields_of(current)
            self._authorize(cmd.actor, cmd.id, before)
            if cmd.etag and cmd.etag != current.etag:
                raise EtagMismatch(r, cmd.id, cmd.etag, current.etag)
            fields: F = dataclasses.replace(cast(Any, before), **{p: getattr(given, p) for p in paths})
            self._authorize(cmd.actor, cmd.id, fields)  # nobody gives a resource away
            if fields == before:  # acknowledged as it is: its tombstone first (issue 18)
                await pending.confirm(uow, self.collection, [(current.id, current.version, False)])
                await uow.commit()
                return current  # type: ignore[no-any-return]
            raise_if(only_paths(spec.check(fields, r), r, paths))
            updated: T = spec.changed(current, fields, self._clock(), self._next_version(current.version))
            if not await repository.update(updated, current.version):
                raise lost_race(r, cmd.id, cmd.etag)
            await self._record(uow, pending, UPDATED, updated)
            await uow.commit()
            return updated

    async def _record(
        self, uow: UnitOfWork, pending: PendingInvalidations, kind: ChangeKind, item: Any
    ) -> None:
        changes = [(item.id, item.version, False)]
        await pending.record(uow, self.collection, changes, kind, [self.reads.encode(item)])

    async def delete(self, cmd: DeleteItem, deadline: float | None = None) -> None:
        require_id(cmd.id, "id")
        pending = self.reads.pending()
        await retrying(lambda: self._delete(cmd, pending))
        await pending.flush(deadline)

    async def _delete(self, cmd: DeleteItem, pending: PendingInvalidations) -> None:
        pending.reset()
        async with self._db.writing() as uow:
            current = await self._repository(uow).get(cmd.id, for_update=True)
            if current is None:
                if cmd.allow_missing:
                    return
                raise NotFound(self.resource, cmd.id)
            self._authorize(cmd.actor, cmd.id, self.spec.fields_of(current))
            if cmd.etag and cmd.etag != current.etag:
                raise EtagMismatch(self.resource, cmd.id, cmd.etag, current.etag)
            if not cmd.force:
                await self._refuse_if_referred(uow, cmd.id)
            cascaded = await self._cascade(uow, self.collection, [cmd.id])
            await self._repository(uow).delete(cmd.id)
            deleted = [(self.collection, [(cmd.id, current.version)]), *cascaded]
            for collection, rows in deleted:
                changes = [(i, self._next_version(v), True) for i, v in rows]
                await pending.record(uow, collection, changes, DELETED, [None] * len(changes))
            await uow.commit()

    async def _refuse_if_referred(self, uow: UnitOfWork, item_id: str) -> None:
        """FAILED_PRECONDITION while anything refers to the resource (the delete must be forced)."""
        for referrer, ref in self._registry.referrers(self.collection):
            if await uow.repo(referrer.collection).referring(ref.field, [item_id], limit=1):
                kind = referrer.collection
                raise FailedPrecondition(
                    PreconditionViolation(
                        f"HAS_{kind.upper()}",
                        f"{self.collection}/{item_id}",
                        f"the {self.resource} has {kind}; set force",
                    ),
                    reason=f"{self.resource.upper()}_HAS_{kind.upper()}",
                )

    async def _cascade(
        self, uow: UnitOfWork, collection: str, ids: list[str]
    ) -> list[tuple[str, list[tuple[str, int]]]]:
        """Delete, depth first, everything that refers to ``ids`` of ``collection``: (collection, [(id,
        version)]) of what went. A resource reached twice (a user's comment on the user's own post) is
        deleted on the first path; the second no longer finds it."""
        deleted: list[tuple[str, list[tuple[str, int]]]] = []
        for referrer, ref in self._registry.referrers(collection):
            repository = uow.repo(referrer.collection)
            rows = await repository.referring(ref.field, ids)
            if rows:
                doomed = [i for i, _ in rows]
                deleted += await self._cascade(uow, referrer.collection, doomed)
                await repository.delete_many(doomed)
                deleted.append((referrer.collection, rows))
        return deleted

    async def export_encoded(self, cmd: ListItems, max_bytes: int) -> AsyncGenerator[ExportChunk, None]:
        """Every matching resource from one snapshot, in id order, as chunks of at most ``max_bytes``, each
        with the change-log revision of the snapshot and its last id. Memory stays at about one scan; the
        caller's pace (flow control) sets the pace of the scans, and closing the iterator ends the
        transaction (see ``handlers.exports`` for how long it may take)."""
        flt = self._filter(cmd)
        async with self._db.snapshot() as uow:
            revision = await uow.changes.latest()  # first statement: it fixes the snapshot
            repository = self._repository(uow)
            after, limit = "", EXPORT_ROWS[1]
            while True:
                rows = await repository.scan(flt, after, limit)
                payloads = [self.reads.encode(r) for r in rows]
                done = 0
                for chunk in _split(payloads, max_bytes):
                    done += len(chunk)
                    if chunk or after == "":  # an empty export still sends its revision
                        yield ExportChunk(chunk, revision, rows[done - 1].id if chunk else "")
                if len(rows) < limit:
                    return
                after = rows[-1].id
                average = sum(map(len, payloads)) / len(payloads)
                limit = max(EXPORT_ROWS[0], min(EXPORT_ROWS[2], int(EXPORT_TARGET_BYTES / average)))

    async def import_items(
        self,
        items: AsyncIterator[ImportItem[Any]],
        deadline: float | None = None,
        actor: Principal | None = None,
    ) -> ImportResult:
        """Upsert by id, committed in chunks of at most IMPORT_CHUNK items and IMPORT_CHUNK_BYTES of item
        text, so an import holds about one chunk in memory whatever the size of its items. A bad item is
        reported by its index and never takes the good ones with it (so is one ``actor`` does not own:
        NOT_OWNER). If the stream breaks off, the chunks
        committed so far stay. The stream's own work yields to the event loop every few milliseconds, and
        the chunks' statements run off it (``writing(bulk=True)``), so other calls keep their latency."""
        result = ImportResult()
        chunk = _Gathering()
        pacer = _Pacer()
        async for item in items:
            if pacer.due():
                await asyncio.sleep(0)
            error = self._check_import(item)
            if error is not None:
                result.fail(item.index, error)
                continue
            size = text_bytes(item.fields)
            # The same id again (the earlier item must land first), or a chunk that would pass its budget.
            if item.id in chunk or (chunk and chunk.bytes + size > IMPORT_CHUNK_BYTES):
                await self._import_chunk(chunk.take(), result, deadline, actor)
            chunk.add(item, size)
            if len(chunk) >= IMPORT_CHUNK:
                await self._import_chunk(chunk.take(), result, deadline, actor)
        if chunk:
            await self._import_chunk(chunk.take(), result, deadline, actor)
        result.failures.sort(key=lambda f: f.index)
        return result

    async def _import_chunk(
        self,
        items: list[ImportItem[Any]],
        result: ImportResult,
        deadline: float | None,
        actor: Principal | None,
    ) -> None:
        pending = self.reads.pending()

        async def commit_then_invalidate() -> _Chunk[T]:
            plan = await retrying(lambda: self._write_chunk(items, pending, actor))
            await pending.flush(deadline)
            return plan

        # One step that a cancelled call (its client gone) cannot cut in two: a chunk whose COMMIT went
        # through must have its cache invalidations applied, or the cache would serve what it replaced.
        step = asyncio.ensure_future(commit_then_invalidate())
        try:
            plan = await asyncio.shield(step)
        except asyncio.CancelledError:
            await asyncio.wait({step})
            raise
        result.created += len(plan.creates)
        result.updated += len(plan.updates) + len(plan.unchanged)
        for index, error in plan.failures:
            result.fail(index, error)

    async def _write_chunk(
        self, items: list[ImportItem[Any]], pending: PendingInvalidations, actor: Principal | None
    ) -> _Chunk[T]:
        pending.reset()
        async with self._db.writing(bulk=True) as uow:
            repository = self._repository(uow)
            current = await repository.get_many([i.id for i in items], for_update=True)
            plan = self._plan(items, current, actor)
            await self._write_plan(uow, repository, plan, {i.id: i.index for i in items})
            encode = self.reads.encode
            for kind, written in ((CREATED, plan.creates), (UPDATED, [u for u, _ in plan.updates])):
                changes = [(r.id, r.version, False) for r in written]
                await pending.record(uow, self.collection, changes, kind, [encode(r) for r in written])
            # acknowledged as they are: their tombstones first (issue 18)
            await pending.confirm(uow, self.collection, [(i, v, False) for i, v in plan.unchanged])
            await uow.commit()
        return plan

    def _plan(
        self, items: list[ImportItem[Any]], current: dict[str, T], actor: Principal | None = None
    ) -> _Chunk[T]:
        plan: _Chunk[T] = _Chunk()
        now = self._clock()
        for item in items:
            existing = current.get(item.id)
            refused = self._not_owner(actor, item.id, item.fields)
            if refused is None and existing is not None:
                refused = self._not_owner(actor, item.id, self.spec.fields_of(existing))
            if refused is not None:
                plan.failures.append((item.index, refused))
                continue
            if item.etag and (existing is None or item.etag != existing.etag):
                now_etag = "" if existing is None else existing.etag
                plan.failures.append((item.index, EtagMismatch(self.resource, item.id, item.etag, now_etag)))
                continue
            made = self._imported(item, now, existing)
            if existing is None:
                assert made is not None  # a new id always makes a resource
                plan.creates.append(made)
            elif made is None:
                plan.unchanged.append((item.id, existing.version))
            else:
                plan.updates.append((made, existing.version))
        return plan

    async def _write_plan(
        self, uow: UnitOfWork, repository: Any, plan: _Chunk[T], index_of: dict[str, int]
    ) -> None:
        """Write the plan's creates, then its updates, leaving out (with its error) each item a constraint
        rejects. One query first finds the items that break a rule the repository can check (a duplicate
        email, a missing author), in the chunk's order; whatever still fails (a concurrent writer took
        the email first) is found by halving the failing group, so a few bad items cost a few savepoints,
        never one per item."""
        writes: list[_Write] = [(r, None) for r in plan.creates] + list(plan.updates)
        plan.creates, plan.updates = [], []
        if not writes:
            return
        rejected: dict[str, DomainError] = await repository.conflicts([r for r, _ in writes])
        plan.failures += [(index_of[resource_id], error) for resource_id, error in rejected.items()]
        kept = [w for w in writes if w[0].id not in rejected]
        await self._bisect(uow, repository, kept, plan, index_of)

    async def _bisect(
        self,
        uow: UnitOfWork,
        repository: Any,
        group: list[_Write],
        plan: _Chunk[T],
        index_of: dict[str, int],
    ) -> None:
        """Write ``group`` in one savepoint; if a constraint rejects it, each half the same way, down to
        the items that fail on their own (reported with their own error, as one-by-one writes would)."""
        if not group:
            return
        try:
            async with uow.savepoint():
                await _write_group(repository, group)
        except _PASS_THROUGH:
            raise
        except DomainError as error:
            if len(group) == 1:
                plan.failures.append((index_of[group[0][0].id], error))
                return
            half = len(group) // 2
            await self._bisect(uow, repository, group[:half], plan, index_of)
            await self._bisect(uow, repository, group[half:], plan, index_of)
            return
        plan.creates += [r for r, expected in group if expected is None]
        plan.updates += [(r, expected) for r, expected in group if expected is not None]


async def _write_group(repository: Any, group: list[_Write]) -> None:
    """Creates first, then updates: ``group`` is a run of the chunk's writes, which are in that order."""
    creates = [r for r, expected in group if expected is None]
    updates = [(r, expected) for r, expected in group if expected is not None]
    if creates:
        await repository.add_many(creates)
    if updates:
        await repository.update_many(updates)


def text_bytes(fields: Any) -> int:
    """What an item's text occupies in memory (strings and tuples of strings; reading a str's size costs
    nothing): the measure of an import chunk's bytes."""
    total = 0
    for value in _values(cast(Hashable, type(fields)))(fields):
        if isinstance(value, str):
            total += sys.getsizeof(value)
        elif isinstance(value, tuple):
            total += sum(map(sys.getsizeof, value))
    return total


@functools.cache
def _values(cls: Hashable) -> Callable[[Any], tuple[Any, ...]]:
    """A dataclass's field values as a tuple (the spec's getter over its field names)."""
    return attribute_getter(tuple(f.name for f in dataclasses.fields(cast(Any, cls))))


class _Gathering:
    """The items of the next import chunk, by id, and the bytes of text they hold."""

    __slots__ = ("_items", "bytes")

    def __init__(self) -> None:
        self._items: dict[str, ImportItem[Any]] = {}
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._items

    def add(self, item: ImportItem[Any], size: int) -> None:
        self._items[item.id] = item
        self.bytes += size

    def take(self) -> list[ImportItem[Any]]:
        """The items, in the order they came; the gathering starts again empty."""
        items = list(self._items.values())
        self._items.clear()
        self.bytes = 0
        return items


class _Pacer:
    """Says when ``slice_s`` of work has passed since it last said so: time to yield to the event loop.
    An import whose messages are already received iterates them without awaiting anything that waits,
    so without this it would hold the loop for every item of a message, and other calls would wait."""

    __slots__ = ("_clock", "_last", "_slice_s")

    def __init__(self, slice_s: float | None = None, clock: Callable[[], float] = time.perf_counter) -> None:
        self._slice_s = IMPORT_SLICE_S if slice_s is None else slice_s
        self._clock = clock
        self._last = clock()

    def due(self) -> bool:
        now = self._clock()
        if now - self._last < self._slice_s:
            return False
        self._last = now
        return True


def _page_key_fields(cmd: Any) -> dict[str, Any]:
    """A List command as its page depends on it, for the page's cache key: ``page_size`` as served
    (0 → 50, above 1000 → 1000) and ``order_by`` in one spelling, so the many spellings of one request
    share one cached page instead of each storing its own."""
    fields = dataclasses.asdict(cmd)
    fields["page_size"] = page_size(cmd.page_size)
    fields["read_mask"] = sorted(cmd.read_mask)  # as the page token binds it
    words = cmd.order_by.split()
    if len(words) == 2:
        words[1] = words[1].lower()
    fields["order_by"] = " ".join(words[:1] if words[1:] == ["asc"] else words)
    return fields


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
