"""``WellspringClient``: typed calls over one channel, through a query cache (see ``cache.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

import grpc
from wellspring.v1 import watch_service_pb2 as watch_api

from wellspring_client import _convert as convert
from wellspring_client._resources import BY_COLLECTION, POSTS, USERS, WRITE_EFFECTS, Resource, newer
from wellspring_client.cache import CacheStats, Key, Query, QueryCache
from wellspring_client.errors import (
    Cancelled,
    Conflict,
    DeadlineExceeded,
    NotFound,
    OutOfRange,
    ResourceExhausted,
    ServerError,
    Unavailable,
    WellspringError,
)
from wellspring_client.loader import BatchLoader
from wellspring_client.persist import CachePersistence
from wellspring_client.retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, call_with_retry
from wellspring_client.transport import GrpcTransport, Metadata, Transport
from wellspring_client.types import ChangeEvent, ImportResult, Page, Post, User

T = TypeVar("T")
log = logging.getLogger("wellspring_client")

# A write that failed this way may still have happened: what it would have changed is invalidated.
_AMBIGUOUS = (Unavailable, DeadlineExceeded, Cancelled, ServerError)
_WATCH_RETRY = RetryPolicy(attempts=1_000_000_000, initial_backoff_s=0.05, max_backoff_s=2.0)
# A read made while the cache's Watch is making its first connection waits this long at most for it: a
# read that began before the Watch's "from now" may predate it, so the revision guard would not keep its
# answer (and the next identical read would cost another RPC). Usually the wait is one round trip.
_FIRST_WATCH_WAIT_S = 1.0


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


class WellspringClient:
    """One object per server target, holding one channel. Use it as ``async with WellspringClient(...)``.

    Reads go through the query cache: a fresh hit answers without an RPC and without yielding; a stale
    hit answers at once and refreshes in the background; identical concurrent reads share one RPC; gets
    made in the same tick are coalesced into one BatchGet. Writes update or invalidate what they affect
    (``_resources.WRITE_EFFECTS``). With ``watch=True`` a background Watch keeps the cache coherent with
    writes made by anyone; reads made while it makes its first connection wait for it (about one round
    trip, ``_FIRST_WATCH_WAIT_S`` at most), so that what they read is covered by it and kept.

    ``timeout_s`` is the default deadline of a unary call (retries included; streams — Import, Export,
    Watch — have none unless given ``timeout=``); ``stale_after_s`` how long a result is served without
    asking again; ``evict_after_s`` the oldest data kept at all; ``max_entries``
    the LRU bound. ``clock``/``sleep`` are injected for tests.
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        call_credentials: grpc.CallCredentials | None = None,
        metadata: Metadata = (),
        channel_options: Sequence[tuple[str, Any]] = (),
        transport: Transport | None = None,
        timeout_s: float = 10.0,
        stale_after_s: float = 5.0,
        evict_after_s: float = 300.0,
        max_entries: int = 10_000,
        retry: RetryPolicy = DEFAULT_RETRY,
        serve_stale_on_unavailable: bool = False,
        watch: bool = False,
        persist_path: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if transport is None:
            if target is None:
                raise ValueError("give a target (host:port) or a transport")
            transport = GrpcTransport(
                target,
                credentials=credentials,
                call_credentials=call_credentials,
                metadata=metadata,
                options=channel_options,
            )
        self._transport = transport
        self.timeout_s = timeout_s
        self._retry = retry
        self._serve_stale = serve_stale_on_unavailable
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self.stats = CacheStats()
        self.cache = QueryCache(
            stale_after_s=stale_after_s,
            evict_after_s=evict_after_s,
            max_entries=max_entries,
            clock=clock,
            stats=self.stats,
        )
        self._users = self.cache.items["users"]  # the fast path's index: id -> full-resource Get entry
        self._posts = self.cache.items["posts"]
        self._loaders = {r.collection: self._loader(r) for r in (USERS, POSTS)}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._watch_enabled = watch
        self._watch_task: asyncio.Task[None] | None = None
        self.watch_live = asyncio.Event()
        self._watch_tried = asyncio.Event()  # the first Watch attempt went live or failed
        self.watch_revision = 0  # the last change-log revision the cache has seen (0: none yet)
        self._persistence = CachePersistence(persist_path) if persist_path else None
        self._started = False
        self._closed = False

    # --- lifecycle ----------------------------------------------------------------------------------------

    async def __aenter__(self) -> WellspringClient:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Load the persisted cache (as stale: it is revalidated on use) and start the cache's Watch. Once:
        calling it again does nothing (a second load would put older data over what was read since)."""
        if self._started:
            return
        self._started = True
        if self._persistence is not None:
            self._restore(await asyncio.to_thread(self._persistence.load, self.cache.evict_after_s))
        if self._watch_enabled and self._watch_task is None:
            self._watch_task = asyncio.create_task(self._follow(), name="wellspring-cache-watch")

    async def close(self) -> None:
        """Stop the Watch and background work (callers still waiting get ``Cancelled``), persist the cache
        if asked to, close the channel. The client cannot be used afterwards."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._watch_task is not None:
                self._watch_task.cancel()
                await asyncio.gather(self._watch_task, return_exceptions=True)
                self._watch_task = None
            for task in tuple(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            for loader in self._loaders.values():
                await loader.close()
            if self._persistence is not None:
                await self.persist()
        finally:
            await self._transport.close()

    # --- users --------------------------------------------------------------------------------------------

    def get_user(
        self,
        id: str,
        *,
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
        allow_stale: bool | None = None,
    ) -> Awaitable[User]:
        """The user ``id`` (NotFound if absent). A fresh cached copy is returned without an RPC, as an
        already-completed future: ``await`` it, or pass it to ``asyncio.gather``/``ensure_future``
        (``create_task`` takes coroutines only)."""
        if read_mask is None:
            query = self._users.get(id)
            if query is not None:
                now = self._clock()
                if query.fresh_until > now:
                    query.used = now
                    self.stats.hits += 1
                    return query.done or query.ready()
        return self._get(USERS, id, read_mask, timeout, allow_stale)

    def batch_get_users(
        self, ids: Sequence[str], *, read_mask: Sequence[str] | None = None, timeout: float | None = None
    ) -> Awaitable[list[User]]:
        """Users in the order of ``ids``, from one snapshot; NotFound names any missing ids."""
        return self._batch_get(USERS, ids, read_mask, timeout)

    def list_users_page(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        query: str = "",
        order_by: str = "",
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Awaitable[Page[User]]:
        """One page of users (``query``: prefix of display name or email)."""
        request = USERS.request(
            "List",
            page_size=page_size,
            page_token=page_token,
            query=query,
            order_by=order_by,
            read_mask=convert.mask(read_mask),
        )
        return self._list_page(USERS, request, read_mask is None, timeout)

    def list_users(
        self,
        *,
        page_size: int = 0,
        query: str = "",
        order_by: str = "",
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[User]:
        """Every matching user, page after page (each page is cached like any read)."""
        return _all_pages(
            lambda token: self.list_users_page(
                page_size=page_size,
                page_token=token,
                query=query,
                order_by=order_by,
                read_mask=read_mask,
                timeout=timeout,
            )
        )

    async def create_user(
        self, user: User, *, user_id: str = "", request_id: str = "", timeout: float | None = None
    ) -> User:
        """Create ``user`` with the id ``user_id`` — or ``user.id`` when that is set instead (both set and
        different: InvalidArgument) — or else one the server chooses. With a ``request_id`` the call is
        idempotent, and then, only then, retried on UNAVAILABLE; a replay answers what the first attempt
        answered, even if the user was changed since (its etag is then stale: read it again)."""
        user_id = user_id or user.id
        request = USERS.request("Create", user=USERS.to_pb(user), user_id=user_id, request_id=request_id)
        return await self._write(USERS, "Create", request, user_id or None, timeout, bool(request_id))

    async def update_user(
        self,
        user: User,
        *,
        update_mask: Sequence[str] | None = None,
        allow_missing: bool = False,
        optimistic: bool = False,
        timeout: float | None = None,
    ) -> User:
        """Update ``user.id``: the fields in ``update_mask`` (None: the fields that are set; ``["*"]``: all).
        A set ``etag`` must match (else Conflict). ``optimistic`` shows the expected result to readers and
        observers at once, and rolls it back if the call fails."""
        request = USERS.request(
            "Update",
            user=USERS.to_pb(user),
            update_mask=convert.mask(update_mask),
            allow_missing=allow_missing,
        )
        return await self._update(USERS, request, user, update_mask, optimistic, timeout)

    async def delete_user(
        self,
        id: str,
        *,
        etag: str = "",
        force: bool = False,
        allow_missing: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Delete user ``id``; ``force`` also deletes their posts (else FailedPrecondition if any)."""
        request = USERS.request("Delete", id=id, etag=etag, force=force, allow_missing=allow_missing)
        await self._write(USERS, "Delete", request, id, timeout, False)

    async def import_users(
        self,
        users: Iterable[User] | AsyncIterable[User],
        *,
        chunk_size: int = 500,
        timeout: float | None = None,
    ) -> ImportResult:
        """Upsert every user of ``users`` by id in one client stream; bad items are reported by index."""
        return await self._import(USERS, users, chunk_size, timeout)

    def export_users(
        self, *, query: str = "", read_mask: Sequence[str] | None = None, timeout: float | None = None
    ) -> Export[User]:
        """Every matching user from one snapshot (see ``Export.revision``); primes the cache."""
        request = USERS.request("Export", query=query, read_mask=convert.mask(read_mask))
        return self._export(USERS, request, read_mask is None, timeout)

    # --- posts --------------------------------------------------------------------------------------------

    def get_post(
        self,
        id: str,
        *,
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
        allow_stale: bool | None = None,
    ) -> Awaitable[Post]:
        """The post ``id`` (NotFound if absent); like ``get_user``, a fresh hit is a completed future."""
        if read_mask is None:
            query = self._posts.get(id)
            if query is not None:
                now = self._clock()
                if query.fresh_until > now:
                    query.used = now
                    self.stats.hits += 1
                    return query.done or query.ready()
        return self._get(POSTS, id, read_mask, timeout, allow_stale)

    def batch_get_posts(
        self, ids: Sequence[str], *, read_mask: Sequence[str] | None = None, timeout: float | None = None
    ) -> Awaitable[list[Post]]:
        """Posts in the order of ``ids``, from one snapshot; NotFound names any missing ids."""
        return self._batch_get(POSTS, ids, read_mask, timeout)

    def list_posts_page(
        self,
        *,
        page_size: int = 0,
        page_token: str = "",
        author_id: str = "",
        tag: str = "",
        create_time_after: datetime | None = None,
        create_time_before: datetime | None = None,
        order_by: str = "",
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Awaitable[Page[Post]]:
        """One page of posts, filtered by author, tag and a create-time range (datetimes)."""
        request = POSTS.request(
            "List",
            page_size=page_size,
            page_token=page_token,
            author_id=author_id,
            tag=tag,
            create_time_after=convert.timestamp(create_time_after),
            create_time_before=convert.timestamp(create_time_before),
            order_by=order_by,
            read_mask=convert.mask(read_mask),
        )
        return self._list_page(POSTS, request, read_mask is None, timeout)

    def list_posts(
        self,
        *,
        page_size: int = 0,
        author_id: str = "",
        tag: str = "",
        create_time_after: datetime | None = None,
        create_time_before: datetime | None = None,
        order_by: str = "",
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Post]:
        """Every matching post, page after page (each page is cached like any read)."""
        return _all_pages(
            lambda token: self.list_posts_page(
                page_size=page_size,
                page_token=token,
                author_id=author_id,
                tag=tag,
                create_time_after=create_time_after,
                create_time_before=create_time_before,
                order_by=order_by,
                read_mask=read_mask,
                timeout=timeout,
            )
        )

    async def create_post(
        self, post: Post, *, post_id: str = "", request_id: str = "", timeout: float | None = None
    ) -> Post:
        """Create ``post`` (its author must exist) with the id ``post_id``, or ``post.id``, or one the server
        chooses, like ``create_user``. With a ``request_id`` it is idempotent and retried."""
        post_id = post_id or post.id
        request = POSTS.request("Create", post=POSTS.to_pb(post), post_id=post_id, request_id=request_id)
        return await self._write(POSTS, "Create", request, post_id or None, timeout, bool(request_id))

    async def update_post(
        self,
        post: Post,
        *,
        update_mask: Sequence[str] | None = None,
        allow_missing: bool = False,
        optimistic: bool = False,
        timeout: float | None = None,
    ) -> Post:
        """Update ``post.id`` like ``update_user``."""
        request = POSTS.request(
            "Update",
            post=POSTS.to_pb(post),
            update_mask=convert.mask(update_mask),
            allow_missing=allow_missing,
        )
        return await self._update(POSTS, request, post, update_mask, optimistic, timeout)

    async def delete_post(
        self,
        id: str,
        *,
        etag: str = "",
        allow_missing: bool = False,
        timeout: float | None = None,
    ) -> None:
        """Delete post ``id`` (a set ``etag`` must match)."""
        request = POSTS.request("Delete", id=id, etag=etag, allow_missing=allow_missing)
        await self._write(POSTS, "Delete", request, id, timeout, False)

    async def import_posts(
        self,
        posts: Iterable[Post] | AsyncIterable[Post],
        *,
        chunk_size: int = 500,
        timeout: float | None = None,
    ) -> ImportResult:
        """Upsert every post of ``posts`` by id in one client stream; bad items are reported by index."""
        return await self._import(POSTS, posts, chunk_size, timeout)

    def export_posts(
        self,
        *,
        author_id: str = "",
        tag: str = "",
        create_time_after: datetime | None = None,
        create_time_before: datetime | None = None,
        read_mask: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> Export[Post]:
        """Every matching post from one snapshot (see ``Export.revision``); primes the cache."""
        request = POSTS.request(
            "Export",
            author_id=author_id,
            tag=tag,
            create_time_after=convert.timestamp(create_time_after),
            create_time_before=convert.timestamp(create_time_before),
            read_mask=convert.mask(read_mask),
        )
        return self._export(POSTS, request, read_mask is None, timeout)

    # --- the change feed ----------------------------------------------------------------------------------

    async def watch(
        self, collections: Sequence[str] = (), ids: Sequence[str] = (), start_revision: int = 0
    ) -> AsyncIterator[ChangeEvent]:
        """Every change after ``start_revision`` (inclusive; 0 = from now) in commit order, for good: the
        stream is resumed from the last revision after a disconnect, so nothing is missed or repeated.
        Raises OutOfRange if the revision was compacted (start again from an Export)."""
        next_revision = start_revision
        backoffs = _WATCH_RETRY.backoffs(self._rng)
        while True:
            request = watch_api.WatchRequest(
                collections=list(collections), ids=list(ids), start_revision=next_revision
            )
            stream = self._transport.server_stream("Watch", request, None)
            try:
                async with contextlib.aclosing(stream):  # type: ignore[type-var]  # a consumer's break ends it
                    async for message in stream:
                        backoffs = _WATCH_RETRY.backoffs(self._rng)
                        for event in message.events:
                            next_revision = event.revision + 1
                            yield convert.change_event(event)
                        next_revision = max(next_revision, message.revision + 1)
            except (Unavailable, ResourceExhausted) as error:
                await self._sleep(max(next(backoffs), min(error.retry_after_s or 0.0, 2.0)))

    async def _follow(self) -> None:
        """The cache's own Watch: events update or evict entries. Data fetched before the Watch began (or
        while it was down) is marked stale; after OUT_OF_RANGE nothing can be vouched for and all goes."""
        next_revision = 0
        backoffs = _WATCH_RETRY.backoffs(self._rng)
        while True:
            request = watch_api.WatchRequest(collections=list(BY_COLLECTION), start_revision=next_revision)
            try:
                async for message in self._transport.server_stream("Watch", request, None):
                    if not self.watch_live.is_set():
                        self.cache.mark_stale()
                        self.watch_live.set()
                        self._watch_tried.set()
                    backoffs = _WATCH_RETRY.backoffs(self._rng)
                    for event in message.events:
                        self._apply_event(event)
                    next_revision = max(next_revision, message.revision + 1)
                    self.watch_revision = next_revision - 1
            except OutOfRange:
                self.cache.clear()
                next_revision = 0
            except WellspringError:
                pass
            except Exception:  # a bug must not leave a dead Watch behind a live flag
                log.exception("the cache's Watch failed; reconnecting")
            self._watch_tried.set()  # reads stop waiting for it: they go out, guarded, while it is down
            self.watch_live.clear()
            self.cache.mark_stale()
            self.stats.watch_reconnects += 1
            await self._sleep(next(backoffs))

    def _apply_event(self, event: watch_api.ChangeEvent) -> None:
        resource = BY_COLLECTION.get(event.collection)
        if resource is None:
            return
        self.stats.watch_events += 1
        value = convert.change_event(event).resource
        self.cache.apply(resource.collection, event.id, value, newer)

    # --- cache controls -----------------------------------------------------------------------------------

    def invalidate(self, prefix: tuple[Any, ...] = ()) -> int:
        """Invalidate every cached query whose key starts with ``prefix`` — ``("users",)``,
        ``("posts", "ListPosts")``, a whole key, or ``()`` for everything. Returns how many."""
        return self.cache.invalidate(prefix)

    def user_key(self, id: str) -> Key:
        """The cache key of ``get_user(id)``."""
        return USERS.get_key(id)

    def post_key(self, id: str) -> Key:
        """The cache key of ``get_post(id)``."""
        return POSTS.get_key(id)

    def subscribe(self, key: Key, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(value)`` whenever the cached value of ``key`` changes (None: removed or
        evicted). Returns the function that unsubscribes."""
        item_id = _item_id(key)
        return self.cache.subscribe(key, key[0], item_id, callback)

    def prefetch(self, *reads: Awaitable[Any]) -> None:
        """Run reads in the background to fill the cache (errors are dropped), e.g.
        ``client.prefetch(client.list_users_page(query="a"), client.get_post(pid))``."""
        for read in reads:
            self._background(read)

    def prefetch_user(self, id: str) -> None:
        """Load user ``id`` into the cache in the background (errors are dropped)."""
        self._background(self.get_user(id))

    def prefetch_post(self, id: str) -> None:
        """Load post ``id`` into the cache in the background (errors are dropped)."""
        self._background(self.get_post(id))

    def cached_user(self, id: str) -> User | None:
        """The user if a fresh copy is cached, else None; never calls the server (the sync fast path)."""
        query = self._users.get(id)
        if query is not None:
            now = self._clock()
            if query.fresh_until > now:
                query.used = now  # a use, for the LRU
                return query.data
        return None

    def cached_post(self, id: str) -> Post | None:
        """The post if a fresh copy is cached, else None; never calls the server."""
        query = self._posts.get(id)
        if query is not None:
            now = self._clock()
            if query.fresh_until > now:
                query.used = now  # a use, for the LRU
                return query.data
        return None

    async def persist(self) -> int:
        """Write the cached users and posts to ``persist_path``; returns how many."""
        if self._persistence is None:
            raise ValueError("this client has no persist_path")
        now = self._clock()
        rows = [
            (
                collection,
                q.item_id,
                BY_COLLECTION[collection].to_pb(q.data).SerializeToString(),
                now - q.updated_at,
            )
            for collection, queries in self.cache.items.items()
            for q in queries.values()
            if self.cache.servable(q, now)
        ]
        await asyncio.to_thread(self._persistence.save, rows)
        return len(rows)

    def _restore(self, rows: list[tuple[str, str, bytes, float]]) -> None:
        for collection, item_id, payload, age_s in rows:
            resource = BY_COLLECTION.get(collection)
            if resource is None:
                continue
            query = self.cache.build(resource.get_key(item_id), collection, item_id)
            message = resource.from_pb(resource.message.FromString(payload))
            self.cache.dispatch(query, "restored", (message, age_s))

    # --- reads --------------------------------------------------------------------------------------------

    def _get(
        self,
        resource: Resource,
        item_id: str,
        read_mask: Sequence[str] | None,
        timeout: float | None,
        allow_stale: bool | None,
    ) -> Awaitable[Any]:
        request = resource.request("Get", id=item_id, read_mask=convert.mask(read_mask))
        key = resource.key("Get", request)
        if read_mask is None:
            loader = self._loaders[resource.collection]
            return self._query(
                key,
                resource.collection,
                item_id,
                (item_id,),
                lambda: loader.load(item_id, self._shared(timeout)),
                timeout,
                allow_stale,
            )

        async def run() -> Any:
            return resource.from_pb(
                await self._read_rpc(resource.method("Get"), request, self._shared(timeout))
            )

        return self._query(key, resource.collection, None, (item_id,), run, timeout, allow_stale)

    def _batch_get(
        self, resource: Resource, ids: Sequence[str], read_mask: Sequence[str] | None, timeout: float | None
    ) -> Awaitable[list[Any]]:
        ids = list(ids)
        if read_mask is None:  # all fresh in the cache: no RPC
            index, now = self.cache.items[resource.collection], self._clock()
            hits = [index.get(i) for i in ids]
            if ids and all(q is not None and q.fresh_until > now for q in hits):
                for q in hits:
                    q.used = now  # type: ignore[union-attr]
                self.stats.hits += 1
                return _done([q.data for q in hits])  # type: ignore[union-attr]
        request = resource.request("BatchGet", ids=ids, read_mask=convert.mask(read_mask))

        async def run() -> Any:
            response = await self._read_rpc(resource.method("BatchGet"), request, self._shared(timeout))
            return [resource.from_pb(m) for m in getattr(response, resource.collection)]

        prime = self._prime(resource) if read_mask is None else None
        return self._query(
            resource.key("BatchGet", request), resource.collection, None, ids, run, timeout, None, prime
        )

    def _list_page(
        self, resource: Resource, request: Any, full: bool, timeout: float | None
    ) -> Awaitable[Page[Any]]:
        async def run() -> Page[Any]:
            response = await self._read_rpc(resource.method("List"), request, self._shared(timeout))
            items = tuple(resource.from_pb(m) for m in getattr(response, resource.collection))
            return Page(items, response.next_page_token)

        prime = self._prime(resource, lambda page: page.items) if full else None
        return self._query(
            resource.key("List", request), resource.collection, None, None, run, timeout, None, prime
        )

    def _query(
        self,
        key: Key,
        collection: str,
        item_id: str | None,
        guard_ids: Sequence[str] | None,
        run: Callable[[], Awaitable[Any]],
        timeout: float | None,
        allow_stale: bool | None,
        prime: Callable[[Any, int], None] | None = None,
    ) -> Awaitable[Any]:
        """The cache protocol every read follows: fresh hit, stale hit (+ background refresh), join the
        fetch in flight, or start one."""
        now = self._clock()
        query = self.cache.get(key)
        if query is not None:
            if query.has_data and query.fresh_until > now:
                query.used = now
                self.stats.hits += 1
                return query.ready()
            if self.cache.servable(query, now):
                query.used = now
                self.stats.stale_hits += 1
                if query.fetch is None:
                    self._start(query, run, guard_ids, prime)
                return query.ready()
            if query.fetch is not None:
                self.stats.dedup += 1
                return self._wait(query, query.fetch, timeout, allow_stale)
        else:
            query = self.cache.build(key, collection, item_id)
        self.stats.misses += 1
        return self._wait(query, self._start(query, run, guard_ids, prime), timeout, allow_stale)

    def _start(
        self,
        query: Query,
        run: Callable[[], Awaitable[Any]],
        guard_ids: Sequence[str] | None,
        prime: Callable[[Any, int], None] | None,
    ) -> asyncio.Future[Any]:
        if self._closed:
            raise Cancelled("the client was closed")
        token = self.cache.token()
        cache = self.cache

        async def fetch() -> Any:
            nonlocal token
            if self._watch_connecting():
                await self._first_watch()
                token = cache.token()  # the read begins now: after the Watch's "from now", so it is kept
            try:
                value = await run()
            except NotFound:
                if query.fetch is task:  # gone: a stale copy must not be served any more
                    cache.dispatch(query, "remove")
                raise
            except BaseException:
                if query.fetch is task:
                    cache.dispatch(query, "failed")
                raise
            if cache.outdated(token, query.collection, guard_ids):
                self.stats.guard_drops += 1  # older than a change already applied: answer, don't keep
                if query.fetch is task:
                    cache.dispatch(query, "failed")
                return value
            if query.fetch is task:
                if query.item_id is not None and query.has_data and not newer(value, query.data):
                    cache.dispatch(query, "failed")  # a newer version arrived meanwhile (primed by a List)
                else:
                    cache.dispatch(query, "fetched", value)
            if prime is not None:
                prime(value, token)
            return value

        task = asyncio.ensure_future(fetch())
        self._track(task)
        cache.dispatch(query, "fetching", task)
        return task

    def _watch_connecting(self) -> bool:
        """Is the cache's Watch making its first connection? (Reads made meanwhile wait for it.)"""
        return self._watch_task is not None and not self._watch_tried.is_set()

    async def _first_watch(self) -> None:
        """Until the first Watch attempt went live or failed, ``_FIRST_WATCH_WAIT_S`` at most: a read that
        goes out after it is not older than what the Watch follows; one that goes out before it (the
        Watch is slow, or down and reconnecting) is still guarded."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_FIRST_WATCH_WAIT_S):
                await self._watch_tried.wait()

    async def _wait(
        self, query: Query, task: asyncio.Future[Any], timeout: float | None, allow_stale: bool | None
    ) -> Any:
        """Wait for a shared fetch, at most this caller's deadline (``timeout_s`` by default): its cancel or
        deadline never cancels the fetch for the others."""
        try:
            async with asyncio.timeout(self.timeout_s if timeout is None else timeout):
                return await asyncio.shield(task)
        except TimeoutError:
            error: WellspringError = DeadlineExceeded("the call's deadline passed")
        except (Unavailable, DeadlineExceeded) as failure:
            error = failure
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if task.cancelled() and current is not None and not current.cancelling():
                raise Cancelled("the client was closed") from None  # not this caller's cancel
            raise
        serve = self._serve_stale if allow_stale is None else allow_stale
        if serve and self.cache.servable_offline(query, self._clock()):
            self.stats.served_stale_offline += 1
            return query.data
        raise error

    def _shared(self, timeout: float | None) -> float:
        """The deadline of a read RPC that later callers may join: the client's, or a caller's longer one.
        A shorter per-call ``timeout`` bounds only that caller's wait (in ``_wait``), so one impatient
        caller never fails the call for the others."""
        return self.timeout_s if timeout is None else max(timeout, self.timeout_s)

    async def _read_rpc(self, method: str, request: Any, timeout: float | None) -> Any:
        """One read RPC, retried on UNAVAILABLE with backoff inside one deadline."""
        deadline = self._clock() + (self.timeout_s if timeout is None else timeout)
        first = True

        async def attempt(remaining: float | None) -> Any:
            nonlocal first
            self.stats.rpcs += 1
            if not first:
                self.stats.retries += 1
            first = False
            return await self._transport.unary(method, request, remaining)

        return await call_with_retry(
            attempt,
            deadline=deadline,
            policy=self._retry,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
        )

    def _loader(self, resource: Resource) -> BatchLoader:
        async def get_one(item_id: str, timeout: float | None) -> Any:
            request = resource.request("Get", id=item_id)
            return resource.from_pb(await self._read_rpc(resource.method("Get"), request, timeout))

        async def get_many(ids: Sequence[str], timeout: float | None) -> list[Any]:
            request = resource.request("BatchGet", ids=list(ids))
            response = await self._read_rpc(resource.method("BatchGet"), request, timeout)
            return [resource.from_pb(m) for m in getattr(response, resource.collection)]

        def on_batch(size: int) -> None:
            self.stats.batches += 1
            self.stats.batched_ids += size

        return BatchLoader(get_one, get_many, on_batch=on_batch)

    def _prime(
        self, resource: Resource, items: Callable[[Any], Iterable[Any]] = lambda value: value
    ) -> Callable[[Any, int], None]:
        """Store each resource of a List/BatchGet/Export result as its own Get entry, unless a change to it
        was applied after the read began."""
        cache = self.cache

        def prime(value: Any, token: int) -> None:
            index = cache.items[resource.collection]
            for item in items(value):
                if cache.outdated(token, resource.collection, (item.id,)):
                    continue
                query = index.get(item.id) or cache.build(
                    resource.get_key(item.id), resource.collection, item.id
                )
                if not query.has_data or newer(item, query.data):
                    cache.dispatch(query, "set", item)

        return prime

    def _export(self, resource: Resource, request: Any, full: bool, timeout: float | None) -> Export[Any]:
        prime = self._prime(resource) if full else None

        async def items(export: Export[Any]) -> AsyncIterator[Any]:
            token = self.cache.token()
            stream = self._transport.server_stream(resource.method("Export"), request, timeout)
            async with contextlib.aclosing(stream):  # type: ignore[type-var]
                async for message in stream:
                    export.revision = message.revision
                    batch = [resource.from_pb(m) for m in getattr(message, resource.collection)]
                    if prime is not None:
                        prime(batch, token)
                    for item in batch:
                        yield item

        return Export(items)

    # --- writes -------------------------------------------------------------------------------------------

    async def _write(
        self,
        resource: Resource,
        verb: str,
        request: Any,
        item_id: str | None,
        timeout: float | None,
        retryable: bool,
    ) -> Any:
        if self._closed:
            raise Cancelled("the client was closed")
        method = resource.method(verb)
        deadline = self._clock() + (self.timeout_s if timeout is None else timeout)
        try:
            response = await call_with_retry(
                lambda remaining: self._transport.unary(method, request, remaining),
                deadline=deadline,
                policy=self._retry if retryable else NO_RETRY,
                clock=self._clock,
                sleep=self._sleep,
                rng=self._rng,
            )
        except (*_AMBIGUOUS, asyncio.CancelledError):  # it may have happened
            self._after_write(resource, method, item_id, None, request)
            raise
        except (Conflict, NotFound):  # the cached copy is what is out of date: read it again
            if item_id is not None:
                self.cache.apply(resource.collection, item_id, None, newer)
            raise
        value = resource.from_pb(response) if verb in ("Create", "Update") else None
        self._after_write(resource, method, item_id or (value.id if value else None), value, request)
        return value

    def _after_write(
        self, resource: Resource, method: str, item_id: str | None, value: Any, request: Any = None
    ) -> None:
        """Apply ``WRITE_EFFECTS[method]``; ``value`` None means the outcome is unknown or a delete."""
        effect, also, when = WRITE_EFFECTS[method]
        if effect == "collection" or item_id is None:
            self.cache.invalidate((resource.collection,), changed=True)
        elif effect == "store" and value is not None:
            self.cache.apply(resource.collection, item_id, value, newer, key=resource.get_key(item_id))
        else:
            self.cache.apply(resource.collection, item_id, None, newer)
        if when is None or request is None or getattr(request, when):
            for collection in also:
                self.cache.invalidate((collection,), changed=True)

    async def _update(
        self,
        resource: Resource,
        request: Any,
        value: Any,
        update_mask: Sequence[str] | None,
        optimistic: bool,
        timeout: float | None,
    ) -> Any:
        query = self.cache.items[resource.collection].get(value.id)
        before = query.data if query is not None and query.has_data else None
        guess = _predict(before, value, update_mask) if optimistic and before is not None else None
        if guess is not None:
            self.cache.dispatch(query, "set", guess)  # type: ignore[arg-type]
        try:
            return await self._write(resource, "Update", request, value.id, timeout, False)
        except BaseException:  # failed, or cancelled: the guess must not stay
            if guess is not None and query is not None and query.data is guess:
                self.cache.dispatch(query, "set", before)  # roll back, then make sure it is re-read
                self.cache.dispatch(query, "invalidate")
            raise

    async def _import(
        self,
        resource: Resource,
        items: Iterable[Any] | AsyncIterable[Any],
        chunk_size: int,
        timeout: float | None,
    ) -> ImportResult:
        async def requests() -> AsyncIterator[Any]:
            chunk: list[Any] = []
            async for item in _aiter(items):
                chunk.append(resource.to_pb(item))
                if len(chunk) >= chunk_size:
                    yield resource.request("Import", **{resource.collection: chunk})
                    chunk = []
            if chunk:
                yield resource.request("Import", **{resource.collection: chunk})

        try:
            response = await self._transport.client_stream(resource.method("Import"), requests(), timeout)
        finally:  # committed chunks stay even when the stream fails
            self._after_write(resource, resource.method("Import"), None, None, None)
        return convert.import_result(response)

    # --- helpers ------------------------------------------------------------------------------------------

    def _track(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)
        task.add_done_callback(_forget(self._tasks))

    def _background(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._track(task)

    @staticmethod
    async def parallel(*awaitables: Awaitable[Any]) -> list[Any]:
        """Run independent queries at once (gets among them coalesce into one BatchGet); the first error
        cancels the rest and is raised."""
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(_as_coroutine(a)) for a in awaitables]
        return [t.result() for t in tasks]

    @staticmethod
    async def dependent(first: Awaitable[Any], *then: Callable[[Any], Awaitable[Any]]) -> Any:
        """A chain of queries, each needing the previous result: ``dependent(get_post(p), lambda post:
        get_user(post.author_id))``."""
        value = await first
        for step in then:
            value = await step(value)
        return value


def _predict(before: Any, value: Any, update_mask: Sequence[str] | None) -> Any:
    """What an update should return: the masked fields (or, without a mask, the set ones) of ``value``."""
    names = [
        f.name
        for f in dataclasses.fields(value)
        if f.name not in ("id", "etag", "create_time", "update_time")
    ]
    if update_mask is None:
        changed = {n: getattr(value, n) for n in names if getattr(value, n) not in ("", (), None)}
    elif "*" in update_mask:
        changed = {n: getattr(value, n) for n in names}
    else:
        changed = {n: getattr(value, n) for n in names if n in update_mask}
    return dataclasses.replace(before, **changed)


async def _all_pages(page: Callable[[str], Awaitable[Page[Any]]]) -> AsyncIterator[Any]:
    token = ""
    while True:
        current = await page(token)
        for item in current.items:
            yield item
        if not current.next_page_token:
            return
        token = current.next_page_token


async def _aiter(items: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _done(value: Any) -> asyncio.Future[Any]:
    future = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def _item_id(key: Key) -> str | None:
    resource = BY_COLLECTION.get(key[0])
    if resource is None or key[1] != resource.method("Get"):
        return None
    request = resource.request("Get")
    request.ParseFromString(key[2])
    return None if request.HasField("read_mask") else request.id


def _forget(tasks: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(task: asyncio.Future[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a background refresh's failure is not an unhandled error

    return done
