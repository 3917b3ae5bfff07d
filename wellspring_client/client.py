"""``WellspringClient``: one object per server, holding one channel, with a typed ``ResourceClient`` per
collection (``client.users``, ``client.posts``, ``client.comments``) over one query cache (``_cache.py``).

The per-collection names of earlier versions (``get_user``, ``list_posts``, ``user_key``…) remain, as
thin aliases of the resource clients."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Unpack

from wellspring_client import _convert as convert
from wellspring_client._cache import Action, CacheStats, Key, QueryCache
from wellspring_client._collection import Export, ResourceClient, alias
from wellspring_client._persist import CachePersistence
from wellspring_client._query_client import FIRST_WATCH_WAIT_S, QueryClient, Timing
from wellspring_client._resources import (
    BY_COLLECTION,
    COMMENTS,
    POSTS,
    RESOURCES,
    USERS,
    change_event,
    newer,
)
from wellspring_client._retry import DEFAULT_RETRY, RetryPolicy
from wellspring_client._watch import ResumableWatch
from wellspring_client.errors import OutOfRange, ResourceExhausted, Unavailable, WellspringError
from wellspring_client.options import (
    DEFAULT_CACHING,
    DEFAULT_CHANNEL,
    DEFAULT_TIMING,
    CacheOptions,
    ChannelOptions,
    Shorthands,
    split,
)
from wellspring_client.transport import GrpcTransport, Transport, tracing_interceptors
from wellspring_client.types import (
    ChangeEvent,
    ImportOptions,
    ImportResult,
    Items,
    ListOptions,
    Page,
    PageOptions,
    Post,
    PostExportArgs,
    PostFilter,
    PostListArgs,
    PostPageArgs,
    ReadOptions,
    UpdateOptions,
    User,
    UserFilter,
    WriteOptions,
)

__all__ = ["Export", "ResourceClient", "WellspringClient"]

log = logging.getLogger("wellspring_client")
_FIRST_WATCH_WAIT_S = FIRST_WATCH_WAIT_S  # the name tests and callers knew


class WellspringClient:
    """One object per server target, holding one channel. Use it as ``async with WellspringClient(...)``.

    Each collection has its ``ResourceClient`` (``users``, ``posts``, ``comments``; all of them in
    ``resources`` by collection name). Reads go through the query cache: a fresh hit answers without an
    RPC and without yielding; a stale hit answers at once and refreshes in the background; identical
    concurrent reads share one RPC; gets made in the same tick are coalesced into one BatchGet. Writes
    update or invalidate what they affect (``_resources.WRITE_EFFECTS``). With ``watch=True`` a background
    Watch keeps the cache coherent with writes made by anyone; reads made while it makes its first
    connection wait for it (about one round trip, ``_FIRST_WATCH_WAIT_S`` at most), so that what they
    read is covered by it and kept.

    ``timeout_s`` is the default deadline of a unary call (retries included; streams — Import, Export,
    Watch — have none unless given ``timeout=``). ``channel`` (``ChannelOptions``: TLS, call credentials,
    metadata, channel options), ``caching`` (``CacheOptions``: staleness, retention, LRU bound,
    stale-on-unavailable, persistence), ``retry`` (``RetryPolicy``) and ``timing`` (clock, sleep, jitter:
    for tests) group the rest; each field can also be given by name as a keyword (``stale_after_s=5``).
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        channel: ChannelOptions = DEFAULT_CHANNEL,
        caching: CacheOptions = DEFAULT_CACHING,
        retry: RetryPolicy = DEFAULT_RETRY,
        timeout_s: float = 10.0,
        watch: bool = False,
        transport: Transport | None = None,
        timing: Timing = DEFAULT_TIMING,
        **shorthands: Unpack[Shorthands],
    ) -> None:
        channel, caching, timing = split(channel, caching, timing, shorthands)
        if transport is None:
            if target is None:
                raise ValueError("give a target (host:port) or a transport")
            transport = GrpcTransport(
                target,
                credentials=channel.credentials,
                call_credentials=channel.call_credentials,
                metadata=channel.metadata,
                options=channel.options,
                token=channel.token,
                interceptors=tracing_interceptors(channel.tracer_provider) if channel.tracing else (),
            )
        self._transport = transport
        self._timing = timing
        self.stats = CacheStats()
        self.cache = QueryCache(
            BY_COLLECTION,
            stale_after_s=caching.stale_after_s,
            evict_after_s=caching.evict_after_s,
            max_entries=caching.max_entries,
            clock=timing.clock,
            stats=self.stats,
        )
        self._core = QueryClient(
            transport,
            self.cache,
            timeout_s=timeout_s,
            retry=retry,
            serve_stale_on_unavailable=caching.serve_stale_on_unavailable,
            timing=timing,
        )
        self.users = ResourceClient(self._core, USERS)
        self.posts = ResourceClient(self._core, POSTS)
        self.comments = ResourceClient(self._core, COMMENTS)
        known = {c.collection: c for c in (self.users, self.posts, self.comments)}
        # Every registered collection has one, typed attribute or not.
        self.resources: Mapping[str, ResourceClient[Any, Any]] = {
            r.collection: known.get(r.collection) or ResourceClient(self._core, r) for r in RESOURCES
        }
        self._watch_enabled = watch
        self._watch_task: asyncio.Task[None] | None = None
        self.watch_live = asyncio.Event()
        self._watch_tried = asyncio.Event()  # the first Watch attempt went live or failed
        self.watch_revision = 0  # the last change-log revision the cache has seen (0: none yet)
        self._persistence = CachePersistence(caching.persist_path) if caching.persist_path else None
        self._started = False
        self._closed = False

    @property
    def timeout_s(self) -> float:
        """The default deadline of a unary call, in seconds."""
        return self._core.timeout_s

    @timeout_s.setter
    def timeout_s(self, value: float) -> None:
        self._core.timeout_s = value

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
            self._core.first_watch = self._watch_tried
            self._watch_task = asyncio.create_task(self._follow(), name="wellspring-cache-watch")

    async def close(self) -> None:
        """Stop the Watch and background work (callers still waiting get ``Cancelled``), persist the cache
        if asked to, close the channel. The client cannot be used afterwards."""
        if self._closed:
            return
        self._closed = self._core.closed = True
        try:
            if self._watch_task is not None:
                self._watch_task.cancel()
                await asyncio.gather(self._watch_task, return_exceptions=True)
                self._watch_task = None
            await self._core.close()
            for resource in self.resources.values():
                await resource._close()
            if self._persistence is not None:
                await self.persist()
        finally:
            await self._transport.close()

    # --- the change feed ----------------------------------------------------------------------------------

    async def watch(
        self, collections: Sequence[str] = (), ids: Sequence[str] = (), start_revision: int = 0
    ) -> AsyncIterator[ChangeEvent]:
        """Every change after ``start_revision`` (inclusive; 0 = from now) in commit order, for good: the
        stream is resumed from the last revision after a disconnect, so nothing is missed or repeated.
        Raises OutOfRange if the revision was compacted (start again from an Export)."""
        stream = self._resumable(collections, ids, start_revision)
        while True:
            try:
                async for message in stream.connect():
                    for event in message.events:
                        yield change_event(event)
            except (Unavailable, ResourceExhausted) as error:
                await stream.pause(error.retry_after_s)

    async def _follow(self) -> None:
        """The cache's own Watch: events update or evict entries. Data fetched before the Watch began (or
        while it was down) is marked stale; after OUT_OF_RANGE nothing can be vouched for and all goes."""
        stream = self._resumable(list(BY_COLLECTION), (), 0)
        while True:
            try:
                async for message in stream.connect():
                    if not self.watch_live.is_set():
                        self.cache.mark_stale()
                        self.watch_live.set()
                        self._watch_tried.set()
                    for event in message.events:
                        self._apply_event(event)
                    self.watch_revision = stream.next_revision - 1
            except OutOfRange:
                self.cache.clear()
                stream.next_revision = 0
            except WellspringError:
                pass
            except Exception:  # a bug must not leave a dead Watch behind a live flag
                log.exception("the cache's Watch failed; reconnecting")
            self._watch_tried.set()  # reads stop waiting for it: they go out, guarded, while it is down
            self.watch_live.clear()
            self.cache.mark_stale()
            self.stats.watch_reconnects += 1
            await stream.pause()

    def _resumable(self, collections: Sequence[str], ids: Sequence[str], start: int) -> ResumableWatch:
        timing = self._timing
        return ResumableWatch(
            self._transport,
            collections=collections,
            ids=ids,
            start_revision=start,
            sleep=timing.sleep,
            rng=timing.rng,
        )

    def _apply_event(self, event: Any) -> None:
        if event.collection not in BY_COLLECTION:
            return
        self.stats.watch_events += 1
        self.cache.apply(event.collection, event.id, change_event(event).resource, newer)

    # --- cache controls -----------------------------------------------------------------------------------

    def invalidate(self, prefix: tuple[Any, ...] = ()) -> int:
        """Invalidate every cached query whose key starts with ``prefix`` — ``("users",)``,
        ``("posts", "ListPosts")``, a whole key, or ``()`` for everything. Returns how many."""
        return self.cache.invalidate(prefix)

    def subscribe(self, key: Key, callback: Callable[[Any], None]) -> Callable[[], None]:
        """Call ``callback(value)`` whenever the cached value of ``key`` changes (None: removed or
        evicted). Returns the function that unsubscribes."""
        return self.cache.subscribe(key, key[0], _item_id(key), callback)

    def prefetch(self, *reads: Awaitable[Any]) -> None:
        """Run reads in the background to fill the cache (errors are dropped), e.g.
        ``client.prefetch(client.users.list_page(), client.posts.get(pid))``."""
        for read in reads:
            self._core.background(read)

    async def persist(self) -> int:
        """Write the cached resources to ``persist_path``; returns how many."""
        if self._persistence is None:
            raise ValueError("this client has no persist_path")
        now = self._core.clock()
        rows = [
            (
                collection,
                q.item_id,
                BY_COLLECTION[collection].to_pb(q.data).SerializeToString(),
                now - q.updated_at,
            )
            for collection, queries in self.cache.items.items()
            for q in queries.values()
            if q.item_id is not None and self.cache.servable(q, now)
        ]
        await asyncio.to_thread(self._persistence.save, rows)
        return len(rows)

    def _restore(self, rows: list[tuple[str, str, bytes, float]]) -> None:
        for collection, item_id, payload, age_s in rows:
            resource = BY_COLLECTION.get(collection)
            if resource is None:
                continue
            query = self.cache.build(resource.get_key(item_id), collection, item_id)
            value = resource.from_pb(resource.message.FromString(payload))
            self.cache.dispatch(query, Action.RESTORED, (value, age_s))

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

    # --- the per-collection names of earlier versions: aliases of ``users`` and ``posts`` ----------------

    get_user = alias("users", ResourceClient[User, UserFilter].get)
    get_post = alias("posts", ResourceClient[Post, PostFilter].get)
    batch_get_users = alias("users", ResourceClient[User, UserFilter].batch_get)
    batch_get_posts = alias("posts", ResourceClient[Post, PostFilter].batch_get)
    delete_user = alias("users", ResourceClient[User, UserFilter].delete)
    delete_post = alias("posts", ResourceClient[Post, PostFilter].delete)
    user_key = alias("users", ResourceClient[User, UserFilter].key)
    post_key = alias("posts", ResourceClient[Post, PostFilter].key)
    prefetch_user = alias("users", ResourceClient[User, UserFilter].prefetch)
    prefetch_post = alias("posts", ResourceClient[Post, PostFilter].prefetch)
    cached_user = alias("users", ResourceClient[User, UserFilter].cached)
    cached_post = alias("posts", ResourceClient[Post, PostFilter].cached)

    # The names whose arguments differ from the resource client's: the filter's keys are arguments of
    # their own, the id to create is ``user_id``/``post_id``, and the item is ``user``/``post`` (or
    # ``users``/``posts``), as a keyword too.

    def list_users_page(self, *, query: str = "", **options: Unpack[PageOptions]) -> Awaitable[Page[User]]:
        """``users.list_page(UserFilter(query=query), …)``: one page of users."""
        return self.users.list_page(UserFilter(query=query), **options)

    def list_posts_page(self, **args: Unpack[PostPageArgs]) -> Awaitable[Page[Post]]:
        """``posts.list_page(PostFilter(…), …)``: one page of posts, by author, tag and create time."""
        where, options = convert.split(PostFilter, args)
        return self.posts.list_page(where, **options)

    def list_users(self, *, query: str = "", **options: Unpack[ListOptions]) -> AsyncIterator[User]:
        """``users.list(UserFilter(query=query), …)``: every matching user, page after page."""
        return self.users.list(UserFilter(query=query), **options)

    def list_posts(self, **args: Unpack[PostListArgs]) -> AsyncIterator[Post]:
        """``posts.list(PostFilter(…), …)``: every matching post, page after page."""
        where, options = convert.split(PostFilter, args)
        return self.posts.list(where, **options)

    def export_users(self, *, query: str = "", **options: Unpack[ReadOptions]) -> Export[User]:
        """``users.export(UserFilter(query=query), …)``: every matching user from one snapshot."""
        return self.users.export(UserFilter(query=query), **options)

    def export_posts(self, **args: Unpack[PostExportArgs]) -> Export[Post]:
        """``posts.export(PostFilter(…), …)``: every matching post from one snapshot."""
        where, options = convert.split(PostFilter, args)
        return self.posts.export(where, **options)

    async def create_user(self, user: User, *, user_id: str = "", **options: Unpack[WriteOptions]) -> User:
        """``users.create(user, id=user_id, …)``; with a ``request_id`` it is idempotent and retried."""
        return await self.users.create(user, id=user_id, **options)

    async def create_post(self, post: Post, *, post_id: str = "", **options: Unpack[WriteOptions]) -> Post:
        """``posts.create(post, id=post_id, …)``: its author must exist."""
        return await self.posts.create(post, id=post_id, **options)

    async def update_user(self, user: User, **options: Unpack[UpdateOptions]) -> User:
        """``users.update(user, …)``: the fields in ``update_mask`` (None: those set); etag checked."""
        return await self.users.update(user, **options)

    async def update_post(self, post: Post, **options: Unpack[UpdateOptions]) -> Post:
        """``posts.update(post, …)``: the fields in ``update_mask`` (None: those set); etag checked."""
        return await self.posts.update(post, **options)

    async def import_users(self, users: Items[User], **options: Unpack[ImportOptions]) -> ImportResult:
        """``users.import_items(users, …)``: upsert by id in one client stream; bad items are reported."""
        return await self.users.import_items(users, **options)

    async def import_posts(self, posts: Items[Post], **options: Unpack[ImportOptions]) -> ImportResult:
        """``posts.import_items(posts, …)``: upsert by id in one client stream; bad items are reported."""
        return await self.posts.import_items(posts, **options)


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def _item_id(key: Key) -> str | None:
    """The id of a full-resource Get's key (None for any other key): its entry is indexed by id."""
    resource = BY_COLLECTION.get(key[0])
    if resource is None or key[1] != resource.method("Get"):
        return None
    request = resource.request("Get")
    request.ParseFromString(key[2])
    return None if request.HasField("read_mask") else str(request.id)
