"""The query cache: ``QueryCache`` (key -> ``Query``) -> ``Query`` (data, freshness, one in-flight fetch).

Every state change of a query goes through ``QueryCache.dispatch`` (TanStack query-core's reducer), so
freshness, retention, observers and the revision guard are kept in one place. Time comes from the injected
``clock``; nothing here sleeps or schedules.

Keys are ``(collection, method, deterministic request bytes)``. Freshness (``stale_after_s``) is separate
from retention (``evict_after_s``: the oldest data kept at all, the bound on what a stale or offline read
may return) and from the LRU bound (``max_entries``).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from wellspring_client.errors import NotFound

log = logging.getLogger("wellspring_client")

Key = tuple[str, str, bytes]
Observer = Callable[[Any], None]
Newer = Callable[[Any, Any], bool]  # is the first value the same version as the second, or a later one?

INVALID = -math.inf  # fresh_until of an invalidated query: it must be fetched again, never served stale


class Action(enum.Enum):
    """The transitions of a ``Query``, each applied by ``QueryCache.dispatch`` (its one reducer)."""

    FETCHING = "fetching"  # a fetch started (value: its future); later identical reads join it
    FETCHED = "fetched"  # that fetch answered (value: the data): fresh for stale_after_s
    SET = "set"  # data from elsewhere (a write, an event, a List that primes it, an optimistic guess)
    RESTORED = "restored"  # from a previous process (value: (data, age_s)): its age kept, stale at once
    FAILED = "failed"  # the fetch ended without data to keep (an error, or the revision guard said no)
    STALE = "stale"  # cannot vouch for it any more: serve while refreshing
    INVALIDATE = "invalidate"  # fetch again before serving (value: because of a known change)
    REMOVE = "remove"  # gone: the server said so, or evicted


@dataclass(slots=True)
class CacheStats:
    """Counters since the client started; ``snapshot()`` copies them."""

    hits: int = 0  # fresh hits: no RPC, no await
    stale_hits: int = 0  # served at once while a background refresh runs
    misses: int = 0  # a fetch was started
    dedup: int = 0  # joined a fetch already in flight instead of starting one
    batches: int = 0  # BatchGet RPCs issued by the loader for concurrent gets
    batched_ids: int = 0  # ids those batches carried
    rpcs: int = 0  # read RPCs sent (retries included)
    retries: int = 0
    evictions: int = 0
    invalidations: int = 0
    guard_drops: int = 0  # responses not stored: a change newer than their request was applied
    served_stale_offline: int = 0
    watch_events: int = 0
    watch_reconnects: int = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Query:
    """One cache entry. Read its fields freely; change them only through ``QueryCache.dispatch``."""

    __slots__ = (
        "changed",
        "collection",
        "data",
        "done",
        "fetch",
        "fresh_until",
        "has_data",
        "item_id",
        "key",
        "observers",
        "updated_at",
        "used",
    )

    def __init__(self, key: Key, collection: str, item_id: str | None) -> None:
        self.key = key
        self.collection = collection
        self.item_id = item_id  # set for the full-resource Get of one id: watch events update it in place
        self.data: Any = None
        self.has_data = False
        self.changed = False  # invalidated by a known change (a write, an event): never served offline
        self.updated_at = -math.inf
        self.fresh_until = INVALID
        self.used = -math.inf
        self.fetch: asyncio.Future[Any] | None = None
        self.observers: list[Observer] = []
        self.done: asyncio.Future[Any] | None = None  # ready(), once made

    def ready(self) -> asyncio.Future[Any]:
        """A completed future holding ``data``: awaiting it never yields to the event loop."""
        ready = self.done
        if ready is None:
            ready = self.done = asyncio.get_running_loop().create_future()
            ready.set_result(self.data)
        return ready

    def start_fetch(
        self,
        cache: QueryCache,
        run: Callable[[], Awaitable[Any]],
        guard_ids: Sequence[str] | None,
        newer: Newer,
        *,
        gate: Callable[[], Awaitable[bool]] | None = None,
        then: Callable[[Any, int], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Start this query's one fetch, which later identical reads join (TanStack's ``Query.fetch``).
        ``run``'s answer is kept only if no change applied since the read began outdates it (the revision
        guard, over ``guard_ids`` or the whole collection) and no newer version arrived meanwhile
        (``newer``); a NotFound removes the entry; any other failure keeps the data as it was. ``gate`` is
        awaited first (the cache's Watch making its first connection): when it waited, the read begins
        after it. ``then(value, token)`` follows every answer (priming the per-item entries)."""
        token = cache.token()

        async def fetch() -> Any:
            nonlocal token
            if gate is not None and await gate():
                token = cache.token()  # the read begins now: after the Watch's "from now", so it is kept
            try:
                value = await run()
            except NotFound:
                if self.fetch is task:  # gone: a stale copy must not be served any more
                    cache.dispatch(self, Action.REMOVE)
                raise
            except BaseException:
                if self.fetch is task:
                    cache.dispatch(self, Action.FAILED)
                raise
            self._settle(cache, task, value, token, guard_ids, newer)
            if then is not None:
                then(value, token)
            return value

        task = asyncio.ensure_future(fetch())
        cache.dispatch(self, Action.FETCHING, task)
        return task

    def _settle(
        self,
        cache: QueryCache,
        task: asyncio.Future[Any],
        value: Any,
        token: int,
        guard_ids: Sequence[str] | None,
        newer: Newer,
    ) -> None:
        if cache.outdated(token, self.collection, guard_ids):
            cache.stats.guard_drops += 1  # older than a change already applied: answer, don't keep
            if self.fetch is task:
                cache.dispatch(self, Action.FAILED)
        elif self.fetch is task:
            if self.item_id is not None and self.has_data and not newer(value, self.data):
                cache.dispatch(self, Action.FAILED)
            else:
                cache.dispatch(self, Action.FETCHED, value)


class QueryCache:
    """Queries by key, an index of single-resource entries by id, and the revision guard's generations."""

    def __init__(
        self,
        collections: Iterable[str] = (),
        *,
        stale_after_s: float = 5.0,
        evict_after_s: float = 300.0,
        max_entries: int = 10_000,
        clock: Callable[[], float],
        stats: CacheStats | None = None,
    ) -> None:
        if not 0 <= stale_after_s <= evict_after_s:
            raise ValueError("need 0 <= stale_after_s <= evict_after_s")
        self.stale_after_s = stale_after_s
        self.evict_after_s = evict_after_s
        self.max_entries = max_entries
        self.clock = clock
        self.stats = stats or CacheStats()
        self._queries: dict[Key, Query] = {}
        names = tuple(collections)  # the index is made up front, so the fast path never misses a dict
        self.items: dict[str, dict[str, Query]] = {name: {} for name in names}
        self._aggregates: dict[str, set[Key]] = {name: set() for name in names}
        # The revision guard: a fetch remembers ``token()`` when it starts; a change applied since then to
        # what it reads (``touch``) makes ``outdated`` true and its response is not stored.
        self._gen = 0
        self._id_gen: dict[tuple[str, str], int] = {}
        self._collection_gen: dict[str, int] = {}
        self._all_ids_gen: dict[str, int] = {}

    # --- lookup -----------------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._queries)

    def get(self, key: Key) -> Query | None:
        return self._queries.get(key)

    def build(self, key: Key, collection: str, item_id: str | None = None) -> Query:
        """The query for ``key``, created if absent (``item_id``: the full-resource Get of that id)."""
        query = self._queries.get(key)
        if query is None:
            if len(self._queries) >= self.max_entries:
                self._evict()
            query = self._queries[key] = Query(key, collection, item_id)
            query.used = self.clock()  # an entry being fetched is not the least recently used
            if item_id is None:
                self._aggregates.setdefault(collection, set()).add(key)
            else:
                self.items.setdefault(collection, {})[item_id] = query
        return query

    def servable_offline(self, query: Query, now: float) -> bool:
        """Data that may be returned when the server cannot be reached: not known to be out of date."""
        return query.has_data and not query.changed and now - query.updated_at < self.evict_after_s

    def servable(self, query: Query, now: float) -> bool:
        """Data that may be returned while a refresh runs: not invalidated and younger than evict_after."""
        return query.has_data and query.fresh_until != INVALID and now - query.updated_at < self.evict_after_s

    def keys(self, prefix: tuple[Any, ...] = ()) -> list[Key]:
        n = len(prefix)
        return [k for k in self._queries if k[:n] == prefix]

    # --- the one place a query changes --------------------------------------------------------------------

    def dispatch(self, query: Query, action: Action, value: Any = None) -> None:
        """Apply ``action`` to ``query`` and tell its observers when its data changed."""
        now = self.clock()
        notify = False
        match action:
            case Action.FETCHING:
                query.fetch = value
            case Action.FETCHED | Action.SET:
                if action is Action.FETCHED:
                    query.fetch = None
                query.data, query.has_data, query.done, query.changed = value, True, None, False
                query.updated_at = query.used = now
                query.fresh_until = now + self.stale_after_s
                notify = True
            case Action.RESTORED:
                query.data, query.has_data, query.done, query.changed = value[0], True, None, False
                query.updated_at = now - value[1]
                query.used = query.fresh_until = now
                notify = True
            case Action.FAILED:
                query.fetch = None
            case Action.STALE:
                if query.fresh_until > now:
                    query.fresh_until = now
            case Action.INVALIDATE:
                query.fresh_until = INVALID
                query.changed = query.changed or bool(value)
                query.fetch = None  # later callers must not join a fetch that started before the change
                self.stats.invalidations += 1
            case Action.REMOVE:
                if not query.observers:  # an observed query stays, empty, so its observers keep hearing
                    self._drop(query)
                query.data, query.has_data, query.done, query.fetch = None, False, None, None
                query.fresh_until = INVALID
                notify = True
        if notify:
            for observer in tuple(query.observers):
                try:
                    observer(query.data)
                except Exception:  # an observer's bug must not stop a write, a fetch or the Watch
                    log.exception("a cache observer failed")

    def _drop(self, query: Query) -> None:
        if self._queries.get(query.key) is not query:
            return  # already replaced: the successor's indexes are not this query's to touch
        del self._queries[query.key]
        if query.item_id is None:
            self._aggregates.get(query.collection, set()).discard(query.key)
        elif self.items.get(query.collection, {}).get(query.item_id) is query:
            del self.items[query.collection][query.item_id]

    def _evict(self) -> None:
        """Drop the least recently used tenth (amortised O(log n) per insert); observed queries stay."""
        ranked = sorted((q for q in self._queries.values() if not q.observers), key=lambda q: q.used)
        for query in ranked[: max(1, len(self._queries) // 10)]:
            self.dispatch(query, Action.REMOVE)
            self.stats.evictions += 1

    # --- changes: writes and watch events -----------------------------------------------------------------

    def token(self) -> int:
        return self._gen

    def outdated(self, token: int, collection: str, item_ids: Iterable[str] | None) -> bool:
        """Has a change that could affect this read been applied since ``token``? ``item_ids`` None means
        the read spans the collection (a List)."""
        if self._all_ids_gen.get(collection, 0) > token:
            return True
        if item_ids is None:
            return self._collection_gen.get(collection, 0) > token
        id_gen = self._id_gen
        return any(id_gen.get((collection, i), 0) > token for i in item_ids)

    def touch(self, collection: str, item_id: str | None) -> None:
        """Record a change of one resource (or, with None, of any number of them) and invalidate the
        multi-resource queries of its collection; the single-resource entry is the caller's to update."""
        self._gen += 1
        self._collection_gen[collection] = self._gen
        if item_id is None:
            self._all_ids_gen[collection] = self._gen
        else:
            if len(self._id_gen) > 100_000:  # bounded: forgetting ids is safe if every fetch is outdated
                self._id_gen.clear()
                for name in [*self._all_ids_gen, collection]:
                    self._all_ids_gen[name] = self._gen
            self._id_gen[collection, item_id] = self._gen
        for key in tuple(self._aggregates.get(collection, ())):
            self.dispatch(self._queries[key], Action.INVALIDATE, True)

    def apply(
        self,
        collection: str,
        item_id: str,
        value: Any,
        newer: Callable[[Any, Any], bool],
        key: Key | None = None,
    ) -> None:
        """A resource changed to ``value`` (None: deleted). The entry of its id takes the new value when it
        is newer than what it holds (``newer(new, old)``), else it is removed: removing is always safe.
        With ``key`` (a write's own result) a missing entry is created."""
        self.touch(collection, item_id)
        query = self.items.get(collection, {}).get(item_id)
        if query is None:
            if key is None or value is None:
                return
            query = self.build(key, collection, item_id)
        if value is not None and (not query.has_data or newer(value, query.data)):
            self.dispatch(query, Action.SET, value)
        else:
            self.dispatch(query, Action.REMOVE)

    def invalidate(self, prefix: tuple[Any, ...] = (), *, changed: bool = False) -> int:
        """Invalidate every query whose key starts with ``prefix``; returns how many. A shorter prefix
        also outdates every read of its collections in flight (the revision guard). ``changed``: the
        data is known to be out of date (a write), so it may not be served even when offline."""
        if len(prefix) == 3:  # one whole key: O(1), and only that query
            query = self._queries.get(prefix)
            if query is None:
                return 0
            self._gen += 1
            if query.item_id is None:
                self._collection_gen[query.collection] = self._gen
            else:
                self._id_gen[query.collection, query.item_id] = self._gen
            self.dispatch(query, Action.INVALIDATE, changed)
            return 1
        keys = self.keys(prefix)
        collections = {k[0] for k in keys} if prefix else set(self.items) | set(self._aggregates)
        for collection in collections:
            self.touch(collection, None)
        for key in keys:
            query = self._queries.get(key)
            if query is not None:
                self.dispatch(query, Action.INVALIDATE, changed)
        return len(keys)

    def mark_stale(self) -> None:
        """Everything cached may have changed unseen: serve it only while revalidating, and keep the
        answers of reads already in flight out of the cache."""
        for collection in set(self.items) | set(self._aggregates):
            self.touch(collection, None)
        for query in tuple(self._queries.values()):
            self.dispatch(query, Action.STALE)

    def clear(self) -> None:
        """Drop everything (observers are told None) and outdate every fetch in flight."""
        for collection in set(self.items) | set(self._aggregates):
            self.touch(collection, None)
        for query in tuple(self._queries.values()):
            self.dispatch(query, Action.REMOVE)

    def subscribe(
        self, key: Key, collection: str, item_id: str | None, observer: Observer
    ) -> Callable[[], None]:
        query = self.build(key, collection, item_id)
        query.observers.append(observer)

        def unsubscribe() -> None:
            if observer in query.observers:
                query.observers.remove(observer)

        return unsubscribe
