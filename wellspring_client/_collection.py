"""``ResourceClient[T, F]``: the typed calls of one collection (``client.users``, ``client.posts``,
``client.comments``), one implementation for all, driven by the collection's registry entry. It builds
requests and cache keys; ``QueryClient`` answers them through the cache."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import functools
import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from wellspring_client import _convert as convert
from wellspring_client._cache import Action, Key
from wellspring_client._loader import BatchLoader
from wellspring_client._query_client import QueryClient
from wellspring_client._resources import Resource
from wellspring_client.types import ImportResult, Items, Page

T = TypeVar("T")
F = TypeVar("F", bound=Mapping[str, Any])
P = ParamSpec("P")
R = TypeVar("R")
_OUTPUT_ONLY = ("id", "etag", "create_time", "update_time")


class Export(Generic[T]):
    """The resources of one Export, in id order, from one snapshot. ``revision`` is that snapshot's
    change-log revision (set once the first message arrived): a Watch from ``revision + 1`` misses nothing."""

    def __init__(self, items: Callable[[Export[T]], AsyncIterator[T]]) -> None:
        self.revision: int | None = None
        self._items = items(self)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items

    async def aclose(self) -> None:
        """Stop early: ends the server's stream and its snapshot."""
        await self._items.aclose()  # type: ignore[attr-defined]


class ResourceClient(Generic[T, F]):
    """Get, BatchGet, List, Create, Update, Delete, Import and Export of one collection of ``T``, through
    the client's query cache; ``F`` is the collection's filter (``UserFilter``, ``PostFilter``…).

    Reads: a fresh cached copy is answered without an RPC (``get`` returns an already-completed future),
    identical concurrent reads share one RPC, the gets of one tick go out as one BatchGet, and List,
    BatchGet and Export results prime the per-item entries. Writes update or invalidate what they affect
    (``_resources.WRITE_EFFECTS``). ``timeout`` is the caller's deadline in seconds (default: the
    client's ``timeout_s``; streams have none unless given)."""

    def __init__(self, core: QueryClient, resource: Resource[T, F]) -> None:
        self.resource = resource
        self.collection = resource.collection
        self._core = core
        self._index = core.cache.items[resource.collection]  # id -> its full-resource Get entry
        self._clock = core.clock
        self._stats = core.stats
        self._loader = BatchLoader(self._get_one, self._get_many, on_batch=self._counted)

    def __repr__(self) -> str:
        return f"<ResourceClient {self.collection}>"

    # --- reads ----------------------------------------------------------------------------------------------

    def get(
        self,
        id: str,
        *,
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
        allow_stale: bool | None = None,
    ) -> Awaitable[T]:
        """The item ``id`` (NotFound if absent). A fresh cached copy is returned without an RPC, as an
        already-completed future: ``await`` it, or pass it to ``asyncio.gather``/``ensure_future``
        (``create_task`` takes coroutines only). ``allow_stale`` overrides the client's
        ``serve_stale_on_unavailable`` for this call."""
        if read_mask is None:  # the fast path, inlined: a fresh hit costs about a dict lookup
            query = self._index.get(id)
            if query is not None:
                now = self._clock()
                if query.fresh_until > now:
                    query.used = now  # a use, for the LRU (not a change of state: no dispatch)
                    self._stats.hits += 1
                    return query.done or query.ready()
        return self._get(id, read_mask, timeout, allow_stale)

    def batch_get(
        self, ids: Sequence[str], *, read_mask: Sequence[str] | None = None, timeout: float | None = None
    ) -> Awaitable[builtins.list[T]]:
        """The items in the order of ``ids``, from one snapshot; NotFound names any missing ids."""
        ids = list(ids)
        if read_mask is None:
            hit = self._all_fresh(ids)
            if hit is not None:
                return hit
        resource, core = self.resource, self._core
        request = resource.request("BatchGet", ids=ids, read_mask=convert.mask(read_mask))

        async def run() -> builtins.list[T]:
            response = await core.read_rpc(resource.method("BatchGet"), request, core.shared(timeout))
            return resource.items(response)

        prime = core.prime(resource, _same) if read_mask is None else None
        key = resource.key("BatchGet", request)
        return core.query(key, self.collection, None, ids, run, timeout, None, prime)

    def list_page(
        self,
        where: F | None = None,
        *,
        page_size: int = 0,
        page_token: str = "",
        order_by: str = "",
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Awaitable[Page[T]]:
        """One page of the items ``where`` selects (None: all), cached like any read; pass its
        ``next_page_token`` as ``page_token`` for the next (empty: it was the last)."""
        resource, core = self.resource, self._core
        request = resource.request(
            "List",
            page_size=page_size,
            page_token=page_token,
            order_by=order_by,
            read_mask=convert.mask(read_mask),
            **convert.request_fields(where),
        )

        async def run() -> Page[T]:
            response = await core.read_rpc(resource.method("List"), request, core.shared(timeout))
            return Page(tuple(resource.items(response)), response.next_page_token)

        prime = core.prime(resource, _page_items) if read_mask is None else None
        key = resource.key("List", request)
        return core.query(key, self.collection, None, None, run, timeout, None, prime)

    async def list(
        self,
        where: F | None = None,
        *,
        page_size: int = 0,
        order_by: str = "",
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[T]:
        """Every item ``where`` selects, page after page (each page is cached like any read)."""
        token = ""
        while True:
            page = await self.list_page(
                where,
                page_size=page_size,
                page_token=token,
                order_by=order_by,
                read_mask=read_mask,
                timeout=timeout,
            )
            for item in page.items:
                yield item
            if not page.next_page_token:
                return
            token = page.next_page_token

    def export(
        self, where: F | None = None, *, read_mask: Sequence[str] | None = None, timeout: float | None = None
    ) -> Export[T]:
        """Every item ``where`` selects, from one snapshot (see ``Export.revision``); primes the cache."""
        resource, core = self.resource, self._core
        request = resource.request(
            "Export", read_mask=convert.mask(read_mask), **convert.request_fields(where)
        )
        prime = core.prime(resource, _same) if read_mask is None else None

        async def items(export: Export[T]) -> AsyncIterator[T]:
            token = core.cache.token()
            stream = core.transport.server_stream(resource.method("Export"), request, timeout)
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for message in stream:
                    export.revision = message.revision
                    batch = resource.items(message)
                    if prime is not None:
                        prime(batch, token)
                    for item in batch:
                        yield item

        return Export(items)

    # --- the cache, without a call -------------------------------------------------------------------------

    def cached(self, id: str) -> T | None:
        """The item if a fresh copy is cached, else None; never calls the server (the sync fast path)."""
        query = self._index.get(id)
        if query is not None:
            now = self._clock()
            if query.fresh_until > now:
                query.used = now  # a use, for the LRU
                return query.data  # type: ignore[no-any-return]
        return None

    def key(self, id: str) -> Key:
        """The cache key of ``get(id)`` (for ``subscribe`` and ``invalidate``)."""
        return self.resource.get_key(id)

    def prefetch(self, id: str) -> None:
        """Load item ``id`` into the cache in the background (errors are dropped)."""
        self._core.background(self.get(id))

    # --- writes ---------------------------------------------------------------------------------------------

    async def create(self, item: T, *, id: str = "", request_id: str = "", timeout: float | None = None) -> T:
        """Create ``item`` with the id ``id`` — or ``item.id`` when that is set instead (both set and
        different: InvalidArgument) — or else one the server chooses. With a ``request_id`` the call is
        idempotent, and then, only then, retried on UNAVAILABLE; a replay answers what the first attempt
        answered, even if the item was changed since (its etag is then stale: read it again)."""
        resource = self.resource
        item_id = id or getattr(item, "id", "")
        fields = {resource.field: resource.to_pb(item), f"{resource.field}_id": item_id}
        request = resource.request("Create", request_id=request_id, **fields)
        return await self._core.write(  # type: ignore[no-any-return]
            resource, "Create", request, item_id or None, timeout, bool(request_id)
        )

    async def update(
        self,
        item: T,
        *,
        update_mask: Sequence[str] | None = None,
        allow_missing: bool = False,
        optimistic: bool = False,
        timeout: float | None = None,
    ) -> T:
        """Update ``item.id``: the fields in ``update_mask`` (None: the fields that are set; ``["*"]``: all).
        A set ``etag`` must match (else Conflict). ``optimistic`` shows the expected result to readers and
        observers at once, and rolls it back if the call fails."""
        resource, cache = self.resource, self._core.cache
        request = resource.request(
            "Update",
            update_mask=convert.mask(update_mask),
            allow_missing=allow_missing,
            **{resource.field: resource.to_pb(item)},
        )
        item_id: str = getattr(item, "id", "")
        query = self._index.get(item_id)
        before = query.data if query is not None and query.has_data else None
        guess = _predict(before, item, update_mask) if optimistic and before is not None else None
        if query is not None and guess is not None:
            cache.dispatch(query, Action.SET, guess)
        try:
            return await self._core.write(  # type: ignore[no-any-return]
                resource, "Update", request, item_id, timeout, False
            )
        except BaseException:  # failed, or cancelled: the guess must not stay
            if guess is not None and query is not None and query.data is guess:
                cache.dispatch(query, Action.SET, before)  # roll back, then make sure it is re-read
                cache.dispatch(query, Action.INVALIDATE)
            raise

    async def delete(
        self,
        id: str,
        *,
        etag: str = "",
        force: bool = False,
        allow_missing: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Delete item ``id`` (a set ``etag`` must match). ``force`` also deletes the items it owns — a
        user's posts and comments, a post's comments — which are otherwise a FailedPrecondition; for a
        collection that owns nothing it is a ValueError."""
        resource = self.resource
        extra = {"force": force} if resource.can_force_delete else {}
        if force and not extra:
            raise ValueError(f"{self.collection} own nothing: a delete cannot be forced")
        request = resource.request("Delete", id=id, etag=etag, allow_missing=allow_missing, **extra)
        await self._core.write(resource, "Delete", request, id, timeout, False)

    async def import_items(
        self, items: Items[T], *, chunk_size: int = 500, timeout: float | None = None
    ) -> ImportResult:
        """Upsert every item of ``items`` by id in one client stream of ``chunk_size`` items a message;
        bad items are reported by index and never lose the good ones."""
        resource, core = self.resource, self._core

        async def requests() -> AsyncIterator[Any]:
            chunk: builtins.list[Any] = []
            async for item in _aiter(items):
                chunk.append(resource.to_pb(item))
                if len(chunk) >= chunk_size:
                    yield resource.request("Import", **{self.collection: chunk})
                    chunk = []
            if chunk:
                yield resource.request("Import", **{self.collection: chunk})

        method = resource.method("Import")
        try:
            response = await core.transport.client_stream(method, requests(), timeout)
        finally:  # committed chunks stay even when the stream fails
            core.after_write(resource, method, None, None, None)
        return convert.import_result(response)

    # --- internals ------------------------------------------------------------------------------------------

    def _get(
        self, item_id: str, read_mask: Sequence[str] | None, timeout: float | None, allow_stale: bool | None
    ) -> Awaitable[T]:
        resource, core = self.resource, self._core
        request = resource.request("Get", id=item_id, read_mask=convert.mask(read_mask))
        key = resource.key("Get", request)
        if read_mask is None:  # the whole item: coalesced with the other gets of this tick
            loader = self._loader
            run = lambda: loader.load(item_id, core.shared(timeout))  # noqa: E731
            return core.query(key, self.collection, item_id, (item_id,), run, timeout, allow_stale)

        async def masked() -> T:
            return resource.from_pb(
                await core.read_rpc(resource.method("Get"), request, core.shared(timeout))
            )

        return core.query(key, self.collection, None, (item_id,), masked, timeout, allow_stale)

    def _all_fresh(self, ids: builtins.list[str]) -> Awaitable[builtins.list[T]] | None:
        """A batch answered from the cache when every item is fresh there (no RPC), else None."""
        index, now = self._index, self._core.clock()
        hits = [index.get(i) for i in ids]
        if not ids or not all(q is not None and q.fresh_until > now for q in hits):
            return None
        fresh = [q for q in hits if q is not None]
        for query in fresh:
            query.used = now
        self._core.stats.hits += 1
        done: Awaitable[builtins.list[T]] = _done([q.data for q in fresh])
        return done

    async def _get_one(self, item_id: str, timeout: float | None) -> T:
        resource = self.resource
        request = resource.request("Get", id=item_id)
        return resource.from_pb(await self._core.read_rpc(resource.method("Get"), request, timeout))

    async def _get_many(self, ids: Sequence[str], timeout: float | None) -> builtins.list[T]:
        resource = self.resource
        request = resource.request("BatchGet", ids=list(ids))
        return resource.items(await self._core.read_rpc(resource.method("BatchGet"), request, timeout))

    def _counted(self, size: int) -> None:
        self._core.stats.batches += 1
        self._core.stats.batched_ids += size

    async def _close(self) -> None:
        """End the batches in flight (their waiters get ``Cancelled``); the client's ``close`` calls it."""
        await self._loader.close()


def _predict(before: Any, value: Any, update_mask: Sequence[str] | None) -> Any:
    """What an update should return: the masked fields (or, without a mask, the set ones) of ``value``."""
    names = [f.name for f in dataclasses.fields(value) if f.name not in _OUTPUT_ONLY]
    if update_mask is None:
        changed = {n: getattr(value, n) for n in names if getattr(value, n) not in ("", (), None)}
    elif "*" in update_mask:
        changed = {n: getattr(value, n) for n in names}
    else:
        changed = {n: getattr(value, n) for n in names if n in update_mask}
    return dataclasses.replace(before, **changed)


def _same(value: Any) -> Iterable[Any]:
    return value  # type: ignore[no-any-return]


def _page_items(page: Page[Any]) -> Iterable[Any]:
    return page.items


async def _aiter(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


def _done(value: Any) -> Any:
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


class alias(Generic[P, R]):
    """A per-collection name of earlier versions: ``get_user = alias("users", ResourceClient[User,
    UserFilter].get)`` makes ``client.get_user`` be ``client.users.get`` — typed, documented, and as fast
    (the bound method is kept in the instance on first use, like ``functools.cached_property``). On the
    class it is a function taking the client first, for wrappers (the sync client's) and ``help()``."""

    def __init__(self, collection: str, method: Callable[Concatenate[Any, P], R]) -> None:
        self.collection = collection
        self.method_name = method.__name__
        self.name = self.method_name

        @functools.wraps(method)
        def call(client: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
            return method(getattr(client, collection), *args, **kwargs)

        call.__doc__ = f"``{collection}.{method.__name__}``: {inspect.getdoc(method) or ''}"
        self.function: Callable[Concatenate[Any, P], R] = call

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, client: None, owner: type) -> Callable[Concatenate[Any, P], R]: ...

    @overload
    def __get__(self, client: object, owner: type) -> Callable[P, R]: ...

    def __get__(self, client: object, owner: type) -> Callable[..., R]:
        if client is None:
            return self.function
        bound: Callable[P, R] = getattr(getattr(client, self.collection), self.method_name)
        client.__dict__[self.name] = bound  # later lookups find it first: no descriptor call at all
        return bound
