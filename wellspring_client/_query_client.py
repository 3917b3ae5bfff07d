"""``QueryClient``: the protocol every read and write follows, for every collection — QueryClient →
``QueryCache`` (key → Query) → ``Query`` (see ``_cache.py``). The ``ResourceClient`` of each collection only
builds requests and keys; how a read is answered (fresh hit, stale hit and refresh, joining the fetch in
flight, or a new fetch under the revision guard), retried and bounded by deadlines, and what a write does
to the cache, is here, once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from wellspring_client._cache import Action, CacheStats, Key, Query, QueryCache
from wellspring_client._resources import WRITE_EFFECTS, Effect, Resource, newer
from wellspring_client._retry import DEFAULT_RETRY, NO_RETRY, RetryPolicy, call_with_retry
from wellspring_client.errors import (
    Cancelled,
    Conflict,
    DeadlineExceeded,
    NotFound,
    ServerError,
    Unavailable,
    WellspringError,
)
from wellspring_client.transport import Transport

# A write that failed this way may still have happened: what it would have changed is invalidated.
_AMBIGUOUS = (Unavailable, DeadlineExceeded, Cancelled, ServerError)
# A read made while the cache's Watch is making its first connection waits this long at most for it: a
# read that began before the Watch's "from now" may predate it, so the revision guard would not keep its
# answer (and the next identical read would cost another RPC). Usually the wait is one round trip.
FIRST_WATCH_WAIT_S = 1.0

Prime = Callable[[Any, int], None]


@dataclass(frozen=True, slots=True)
class Timing:
    """Time and randomness, injected so tests run on a fake clock: ``clock`` (seconds, monotonic),
    ``sleep`` (the retry backoff's wait) and ``rng`` (the backoff's jitter, in [0, 1))."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: Callable[[], float] = random.random


class QueryClient:
    """The cache, the transport and the policies (deadline, retries, stale-on-unavailable) that every
    collection's reads and writes share."""

    def __init__(
        self,
        transport: Transport,
        cache: QueryCache,
        *,
        timeout_s: float,
        retry: RetryPolicy = DEFAULT_RETRY,
        serve_stale_on_unavailable: bool = False,
        timing: Timing = Timing(),
    ) -> None:
        self.transport = transport
        self.cache = cache
        self.stats: CacheStats = cache.stats
        self.timeout_s = timeout_s
        self.retry = retry
        self.serve_stale = serve_stale_on_unavailable
        self.timing = timing
        self.clock = timing.clock
        self.first_watch: asyncio.Event | None = None  # set: the cache's Watch went live or failed once
        self.closed = False
        self._tasks: set[asyncio.Future[Any]] = set()

    # --- reads ----------------------------------------------------------------------------------------------

    def query(
        self,
        key: Key,
        collection: str,
        item_id: str | None,
        guard_ids: Sequence[str] | None,
        run: Callable[[], Awaitable[Any]],
        timeout: float | None,
        allow_stale: bool | None,
        prime: Prime | None = None,
    ) -> Awaitable[Any]:
        """Fresh hit, stale hit (+ background refresh), join the fetch in flight, or start one."""
        now = self.clock()
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
        prime: Prime | None,
    ) -> asyncio.Future[Any]:
        if self.closed:
            raise Cancelled("the client was closed")
        task = query.start_fetch(self.cache, run, guard_ids, newer, gate=self._first_watch, then=prime)
        self.track(task)
        return task

    async def _first_watch(self) -> bool:
        """While the cache's Watch makes its first connection, wait until that attempt went live or
        failed, ``FIRST_WATCH_WAIT_S`` at most (true: it waited). A read that goes out after it is not
        older than what the Watch follows; one that goes out before it (the Watch is slow, or down and
        reconnecting) is still guarded."""
        if self.first_watch is None or self.first_watch.is_set():
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FIRST_WATCH_WAIT_S):
                await self.first_watch.wait()
        return True

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
        serve = self.serve_stale if allow_stale is None else allow_stale
        if serve and self.cache.servable_offline(query, self.clock()):
            self.stats.served_stale_offline += 1
            return query.data
        raise error

    def shared(self, timeout: float | None) -> float:
        """The deadline of a read RPC that later callers may join: the client's, or a caller's longer one.
        A shorter per-call ``timeout`` bounds only that caller's wait (in ``_wait``), so one impatient
        caller never fails the call for the others."""
        return self.timeout_s if timeout is None else max(timeout, self.timeout_s)

    async def read_rpc(self, method: str, request: Any, timeout: float | None) -> Any:
        """One read RPC, retried on UNAVAILABLE with backoff inside one deadline."""
        deadline = self.clock() + (self.timeout_s if timeout is None else timeout)
        first = True

        async def attempt(remaining: float | None) -> Any:
            nonlocal first
            self.stats.rpcs += 1
            if not first:
                self.stats.retries += 1
            first = False
            return await self.transport.unary(method, request, remaining)

        return await self._retried(attempt, deadline, self.retry)

    async def _retried(
        self, attempt: Callable[[float | None], Awaitable[Any]], deadline: float, policy: RetryPolicy
    ) -> Any:
        timing = self.timing
        return await call_with_retry(
            attempt, deadline=deadline, policy=policy, clock=timing.clock, sleep=timing.sleep, rng=timing.rng
        )

    def prime(self, resource: Resource[Any, Any], items: Callable[[Any], Iterable[Any]]) -> Prime:
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
                    cache.dispatch(query, Action.SET, item)

        return prime

    # --- writes ---------------------------------------------------------------------------------------------

    async def write(
        self,
        resource: Resource[Any, Any],
        verb: str,
        request: Any,
        item_id: str | None,
        timeout: float | None,
        retryable: bool,
    ) -> Any:
        """Send a unary write (retried only when ``retryable``: it carries a request_id) and apply its
        effect; a write that may have happened invalidates what it would have changed."""
        if self.closed:
            raise Cancelled("the client was closed")
        method = resource.method(verb)
        deadline = self.clock() + (self.timeout_s if timeout is None else timeout)
        attempt = lambda remaining: self.transport.unary(method, request, remaining)  # noqa: E731
        try:
            response = await self._retried(attempt, deadline, self.retry if retryable else NO_RETRY)
        except (*_AMBIGUOUS, asyncio.CancelledError):  # it may have happened
            self.after_write(resource, method, item_id, None, request)
            raise
        except (Conflict, NotFound):  # the cached copy is what is out of date: read it again
            if item_id is not None:
                self.cache.apply(resource.collection, item_id, None, newer)
            raise
        value = resource.from_pb(response) if verb in ("Create", "Update") else None
        self.after_write(resource, method, item_id or (value.id if value else None), value, request)
        return value

    def after_write(
        self, resource: Resource[Any, Any], method: str, item_id: str | None, value: Any, request: Any = None
    ) -> None:
        """Apply ``WRITE_EFFECTS[method]``; ``value`` None means the outcome is unknown or a delete, and
        ``request`` None an outcome so unknown that every cascade applies."""
        effect = WRITE_EFFECTS[method]
        if effect.effect is Effect.COLLECTION or item_id is None:
            self.cache.invalidate((resource.collection,), changed=True)
        elif effect.effect is Effect.STORE and value is not None:
            self.cache.apply(resource.collection, item_id, value, newer, key=resource.get_key(item_id))
        else:
            self.cache.apply(resource.collection, item_id, None, newer)
        for collection in effect.cascades(request):
            self.cache.invalidate((collection,), changed=True)

    # --- background work ------------------------------------------------------------------------------------

    def track(self, task: asyncio.Future[Any]) -> None:
        """Keep ``task`` until it ends (closing cancels it); its failure is retrieved, never unhandled."""
        self._tasks.add(task)
        task.add_done_callback(self._forget)

    def background(self, awaitable: Awaitable[Any]) -> None:
        self.track(asyncio.ensure_future(awaitable))

    def _forget(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a background refresh's failure is not an unhandled error

    async def close(self) -> None:
        """Refuse new calls and cancel the work in flight (its waiters get ``Cancelled``)."""
        self.closed = True
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
