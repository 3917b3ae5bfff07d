"""Read-through and invalidation over a CacheStore: the only cache API the use cases see.

Promise (DESIGN §3): no read that starts after a write was acknowledged returns older data. Reads fill
with the version they loaded, writes leave a tombstone with the new version before they are
acknowledged, and the store never lets an older version replace a newer one. Any store failure is
counted, trips the breaker and turns into a cache miss: Redis failing slows requests, never fails them.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from opentelemetry import trace

from service.cache.breaker import CircuitBreaker
from service.cache.budget import PAGE_OVERHEAD, ExpiringBytes
from service.cache.entries import ABSENT, TOMBSTONE, VALUE, pack, unpack
from service.cache.stores import CacheStore, Put
from service.config import DEFAULTS

Loaded = dict[str, tuple[int, bytes]]  # id -> (version, payload) for the ids that exist
Loader = Callable[[list[str]], Awaitable[Loaded]]
# (bytes of the cache hits so far, ids still to load) -> None, or raises to refuse the read
Admit = Callable[[int, list[str]], Awaitable[None]]
MGET_PIECE = 100  # keys per MGET: a read refused for its size stops after one piece of large values
_RNG_FLOOR = 1e-12
_MAX_DRAW = -math.log(_RNG_FLOOR)  # the most XFetch's -log(random) can be
_PRUNE_MOVES = 64


@dataclass(frozen=True, slots=True)
class CachePolicy:
    ttl_s: float = DEFAULTS.cache_ttl_s
    jitter: float = 0.1
    absent_ttl_s: float = 5.0
    tombstone_ttl_s: float = 900.0  # far above any request deadline: a slow fill cannot outlive it
    list_ttl_s: float = 30.0
    op_timeout_s: float = DEFAULTS.redis_timeout_s
    xfetch_beta: float = 1.0
    share_window_s: float = 1.0
    # List pages: at most list_max_bytes of them stored by this process within any list TTL (so at most
    # that much of them alive in the store at once, per replica), none above list_max_page_bytes.
    list_max_bytes: int = DEFAULTS.cache_list_max_bytes
    list_max_page_bytes: int = 1024 * 1024


class CacheTier:
    def __init__(
        self,
        store: CacheStore,
        *,
        prefix: str = "ws:",
        policy: CachePolicy | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        rng: Callable[[], float] = random.random,
        perf: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.policy = policy or CachePolicy()
        self.breaker = breaker or CircuitBreaker(clock=clock)
        self._clock = clock
        self._wall_ms = wall_ms
        self._rng = rng
        self._perf = perf
        self._lease_required = False
        self._lease_until = 0.0
        # key -> (monotonic start of the database load, its result): in flight or recently finished
        # (an OrderedDict: finished loads move to the young end, and are pruned from the old end)
        self._loads: OrderedDict[str, tuple[float, asyncio.Future[tuple[int, bytes] | None]]] = OrderedDict()
        self._prune_timer: asyncio.TimerHandle | None = None
        # hits, misses, fills, rejected_fills, tombstones, errors, early_refreshes, list_hits, ...
        self.counters: Counter[str] = Counter()
        hold_s = self.policy.list_ttl_s * (1 + self.policy.jitter)  # the longest a page lives
        self.list_bytes = ExpiringBytes(self.policy.list_max_bytes, hold_s, clock=clock)

    def key(self, collection: str, resource_id: str) -> str:
        return f"{self.prefix}{collection}:{resource_id}"

    def require_lease(self) -> None:
        """Shared store: read from it only while a lease granted by the coherence loop is valid."""
        self._lease_required = True

    def grant_lease(self, until: float) -> None:
        self._lease_until = until

    def revoke_lease(self) -> None:
        self._lease_until = 0.0

    def _leased(self) -> bool:
        return not self._lease_required or self._clock() < self._lease_until

    async def _guarded(
        self, call: Callable[[float], Awaitable[Any]], deadline: float | None, *, reading: bool = True
    ) -> Any:
        """Run ``call(budget)`` within the op timeout and the caller's remaining deadline (a store that
        never waits is not timed: it cannot pass either); None on failure
        (the budget is passed in too, for stores that enforce it themselves, like a socket timeout).
        Reads and fills also need the read lease; invalidations are always attempted."""
        budget = self.policy.op_timeout_s
        if deadline is not None:
            budget = min(budget, deadline - self._clock())
        if budget <= 0 or (reading and not self._leased()) or not self.breaker.allow():
            self.counters["skipped"] += 1
            return None
        try:
            if getattr(self.store, "waits", True):  # a wrapper that does not say is bounded
                async with asyncio.timeout(budget):
                    result = await call(budget)
            else:
                result = await call(budget)
        except TimeoutError:
            self.counters["errors"] += 1
            self.breaker.trip()
            return None
        except Exception:  # any Redis or connection error: the database answers instead
            self.counters["errors"] += 1
            self.breaker.failure()
            return None
        self.breaker.success()
        return result

    def _ttl_ms(self, base_s: float) -> int:
        jitter = 1 + self.policy.jitter * (2 * self._rng() - 1)
        return max(1, int(base_s * jitter * 1000))

    def _fresh(self, expiry_ms: int, delta_us: int, now_ms: float | None = None) -> bool:
        """XFetch: refresh early with a probability that grows as expiry nears and with the load cost. An
        entry further from its expiry than the earliest refresh any draw could ask for is fresh without a
        draw (most of them: a 1 ms load draws only within ~28 ms of its expiry)."""
        now = self._wall_ms() if now_ms is None else now_ms
        scale = delta_us / 1000 * self.policy.xfetch_beta
        if now + scale * _MAX_DRAW < expiry_ms:
            return True
        return now + scale * -math.log(max(self._rng(), _RNG_FLOOR)) < expiry_ms

    async def read_through(
        self,
        collection: str,
        ids: Sequence[str],
        load: Loader,
        deadline: float | None = None,
        admit: Admit | None = None,
    ) -> dict[str, bytes | None]:
        """Payload per id (None: absent). One MGET per MGET_PIECE ids; the misses in one ``load``; the
        fills in one call. ``admit``, when given, sees the hits' bytes after each MGET and the misses
        before the load, and may refuse the read (by raising) before more is fetched."""
        reader_started = self._clock()
        unique = list(dict.fromkeys(ids))
        found: dict[str, bytes | None] = {}
        misses: dict[str, int] = {}  # id -> the version seen in its slot (0: empty)
        reachable, hit_bytes = True, 0
        for start in range(0, len(unique), MGET_PIECE):
            piece = unique[start : start + MGET_PIECE]
            blobs = None
            if reachable:
                keys = [self.key(collection, i) for i in piece]
                blobs = await self._guarded(partial(_mget, self.store, keys), deadline)
                reachable = blobs is not None
            hit_bytes += self._sort_slots(piece, blobs, found, misses)
            if admit is not None and hit_bytes:
                await admit(hit_bytes, [])
        span = trace.get_current_span()
        if span.is_recording():  # tracing on: what the cache answered, on the call's span
            if len(unique) == 1:
                span.set_attribute("wellspring.cache.hit", not misses)
            else:  # a batch: how many of its ids each way
                hits = len(unique) - len(misses)
                span.set_attributes({"wellspring.cache.hits": hits, "wellspring.cache.misses": len(misses)})
        if misses:
            if admit is not None:
                await admit(hit_bytes, list(misses))
            loaded = await self._load(collection, misses, load, deadline, reachable, reader_started)
            found.update(loaded)
        return found

    def _sort_slots(
        self,
        ids: list[str],
        blobs: list[bytes | None] | None,
        found: dict[str, bytes | None],
        misses: dict[str, int],
    ) -> int:
        """Each id into ``found`` (a fresh value, or known absent) or ``misses`` (with the version its slot
        held); returns the bytes of the values found, framed as in a response."""
        hit_bytes = hits = 0
        now_ms = self._wall_ms()  # one moment for the whole batch
        for resource_id, blob in zip(ids, blobs or [None] * len(ids), strict=True):
            seen = 0
            if blob is not None:
                entry = unpack(blob)
                seen = entry.version
                if entry.kind == VALUE and self._fresh(entry.expiry_ms, entry.delta_us, now_ms):
                    found[resource_id] = entry.payload
                    hit_bytes += len(entry.payload) + 6
                    hits += 1
                    continue
                if entry.kind == ABSENT:
                    found[resource_id] = None
                    hits += 1
                    continue
                if entry.kind == VALUE:
                    self.counters["early_refreshes"] += 1
            misses[resource_id] = seen
        if hits:
            self.counters["hits"] += hits
        if hits < len(ids):
            self.counters["misses"] += len(ids) - hits
        return hit_bytes

    async def _load(
        self,
        collection: str,
        seen: dict[str, int],
        load: Loader,
        deadline: float | None,
        cache_reachable: bool,
        reader_started: float,
    ) -> dict[str, bytes | None]:
        """Single-flight, without ever serving a reader something older than a write acknowledged before
        it began. A reader may take another caller's load (in flight, or finished within
        ``share_window_s``) if that load started no earlier than the reader did, or if it found a row
        at least as new as the version the reader read in the cache slot: every write acknowledged
        before the reader began left a tombstone of at least its own version there. Otherwise (and
        always when the slot was empty or unread) it loads again."""
        keys = {i: self.key(collection, i) for i in seen}
        horizon = reader_started - self.policy.share_window_s
        candidates = {}
        for resource_id, key in keys.items():
            known = self._loads.get(key)
            if known is not None and (not known[1].done() or known[0] >= horizon):
                candidates[resource_id] = known
        result: dict[str, bytes | None] = {}
        mine = [i for i in seen if i not in candidates]
        if mine:
            result.update(await self._load_mine(collection, mine, keys, load, deadline, cache_reachable))
        again: list[str] = []
        for resource_id, (load_started, future) in candidates.items():
            row = await asyncio.shield(future)
            # Only a version actually read from the slot vouches for a load: an empty slot, or one not read
            # at all (no lease, breaker open), may have lost the tombstone of a write acknowledged since.
            fresh_enough = seen[resource_id] > 0 and row is not None and row[0] >= seen[resource_id]
            if load_started >= reader_started or fresh_enough:
                result[resource_id] = None if row is None else row[1]
                self.counters["coalesced"] += 1
            else:
                again.append(resource_id)
        if candidates:
            span = trace.get_current_span()
            if span.is_recording():  # joined another call's load instead of loading: single-flight
                span.set_attribute("wellspring.cache.coalesced", len(candidates) - len(again))
        if again:
            result.update(await self._load_mine(collection, again, keys, load, deadline, cache_reachable))
        return result

    async def _load_mine(
        self,
        collection: str,
        mine: list[str],
        keys: dict[str, str],
        load: Loader,
        deadline: float | None,
        cache_reachable: bool,
    ) -> dict[str, bytes | None]:
        loop = asyncio.get_running_loop()
        load_started = self._clock()
        futures = {i: loop.create_future() for i in mine}
        self._prune(load_started)
        for resource_id, future in futures.items():
            self._loads[keys[resource_id]] = (load_started, future)
        result: dict[str, bytes | None] = {}
        try:
            started = self._perf()
            rows = await load(mine)
            delta_us = int((self._perf() - started) * 1e6)
        except BaseException as error:
            for resource_id, future in futures.items():
                future.set_exception(error)
                future.exception()  # retrieved: the waiters re-raise it themselves
                if self._loads.get(keys[resource_id], (0, None))[1] is future:
                    del self._loads[keys[resource_id]]  # a failure is not shareable later
            raise
        for resource_id in mine:
            row = rows.get(resource_id)
            futures[resource_id].set_result(row)
            result[resource_id] = None if row is None else row[1]
            if self._loads.get(keys[resource_id], (0, None))[1] is futures[resource_id]:
                self._loads.move_to_end(keys[resource_id])
        self._prune_soon(loop)
        if cache_reachable:
            await self._fill(collection, mine, rows, delta_us, deadline)
        return result

    def _prune_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        """Prune again once these loads are too old to share, even if no other load comes to do it: the
        rows of a burst of reads must not stay in memory until the next read."""
        if self._prune_timer is None:
            armed_at = self._clock()
            self._prune_timer = loop.call_later(
                self.policy.share_window_s * 2, self._pruned_later, loop, armed_at
            )

    def _pruned_later(self, loop: asyncio.AbstractEventLoop, armed_at: float) -> None:
        self._prune_timer = None
        now = self._clock()
        self._prune(now)
        if self._loads and now > armed_at:  # (a frozen test clock would re-arm it for ever)
            self._prune_soon(loop)

    def _prune(self, now: float) -> None:
        """Forget finished loads too old to share: they hold whole rows (a 400 kB post each), so they are
        dropped on every load, oldest first, not when their number grows large. The walk stops at the
        first young finished one; loads still in flight met on the way move to the young end (at most
        _PRUNE_MOVES a call, so a walk costs O(1) plus what it drops)."""
        horizon = now - self.policy.share_window_s
        moves = 0
        while self._loads and moves < _PRUNE_MOVES:
            key, (started, future) = next(iter(self._loads.items()))
            if not future.done():
                self._loads.move_to_end(key)
                moves += 1
            elif started < horizon:
                del self._loads[key]
            else:
                break

    async def _fill(
        self, collection: str, ids: list[str], rows: Loaded, delta_us: int, deadline: float | None
    ) -> None:
        now_ms = self._wall_ms()
        puts: list[Put] = []
        for resource_id in ids:
            row = rows.get(resource_id)
            if row is None:
                ttl = self._ttl_ms(self.policy.absent_ttl_s)
                puts.append(
                    (self.key(collection, resource_id), 0, pack(0, ABSENT, now_ms + ttl, delta_us), ttl)
                )
            else:
                version, payload = row
                ttl = self._ttl_ms(self.policy.ttl_s)
                blob = pack(version, VALUE, now_ms + ttl, delta_us, payload)
                puts.append((self.key(collection, resource_id), version, blob, ttl))
        written = await self._guarded(lambda _: self.store.put_if_newer(puts), deadline)
        if written is not None:
            self.counters["fills"] += written
            self.counters["rejected_fills"] += len(puts) - written

    async def invalidate(
        self, collection: str, changes: Sequence[tuple[str, int, bool]], deadline: float | None = None
    ) -> bool:
        """For each committed (id, new version, deleted): a tombstone (for a delete, a versioned "absent"
        entry, so NOT_FOUND is served from the cache), plus one bump of the collection's list generation,
        all in one call. Returns False when the store could not be reached."""
        if not changes:
            return True
        ttl = self._ttl_ms(self.policy.tombstone_ttl_s)
        expiry = self._wall_ms() + ttl
        puts = [
            (self.key(collection, i), v, pack(v, ABSENT if deleted else TOMBSTONE, expiry, 0), ttl)
            for i, v, deleted in changes
        ]
        written = await self._guarded(
            lambda _: self.store.put_if_newer(puts, bump=[self._generation_key(collection)]),
            deadline,
            reading=False,
        )
        if written is None:
            self.counters["invalidation_failures"] += 1
            return False
        self.counters["tombstones"] += len(puts)
        return True

    def _generation_key(self, collection: str) -> str:
        return f"{self.prefix}gen:{collection}"

    async def cached_page(
        self, collection: str, page_key: str, deadline: float | None = None
    ) -> tuple[int | None, bytes | None]:
        """(generation, page) for a list request; generation None when the store is unavailable."""
        got = await self._guarded(
            lambda _: self.store.get_page(
                self._generation_key(collection), f"{self.prefix}list:{collection}:{page_key}"
            ),
            deadline,
        )
        if got is None:
            return None, None
        generation, blob = got
        self.counters["list_hits" if blob is not None else "list_misses"] += 1
        return generation, blob

    def keeps_pages_of(self, size: int) -> bool:
        """Whether a List page of ``size`` bytes is small enough to be stored at all."""
        return size <= self.policy.list_max_page_bytes

    async def store_page(
        self, collection: str, page_key: str, generation: int, blob: bytes, deadline: float | None = None
    ) -> None:
        """Store a List page, unless it is above ``list_max_page_bytes`` (a page that large costs more
        to keep than to compute) or would take this process past ``list_max_bytes`` of pages stored
        within their lifetime."""
        key = f"{self.prefix}list:{collection}:{page_key}"
        size = len(key) + len(blob) + PAGE_OVERHEAD
        if not self.keeps_pages_of(len(blob)) or not self.list_bytes.admit(size):
            self.counters["list_not_stored"] += 1
            return
        await self._guarded(
            lambda _: self.store.set_page(key, generation, blob, self._ttl_ms(self.policy.list_ttl_s)),
            deadline,
        )

    def snapshot(self) -> dict[str, Any]:
        """Counters plus breaker state, for tests, benchmarks and the metrics exporter."""
        return {
            **self.counters,
            "breaker_state": self.breaker.state.value,
            "breaker_openings": self.breaker.openings,
            "leased": self._leased(),
        }


async def _mget(store: CacheStore, keys: list[str], budget: float | None) -> list[bytes | None]:
    return await store.mget(keys, budget)
