"""Rate limits per principal: a budget in the ``limits`` library's notation (``1000/second``, ``50/minute``)
kept as a sliding-window counter — the previous fixed window's count, weighted by how much of it still
overlaps the sliding window, plus the current one's — which refills smoothly like a token bucket whose
burst is the whole budget. Shared by the replicas through Redis when they have one, else per process.

**Shared (Redis): the ``limits`` library, in leases.** Its ``SlidingWindowCounterRateLimiter`` keeps the
counts in Redis with its own Lua scripts (redis-py's asyncio client). Asked per call it costs ~170 µs of
CPU (180-370 µs of wall time, measured here) — a third of a cached Get — so a replica takes the budget in
leases instead: one ``hit(cost=lease)`` reserves ``lease`` units (1/20 of the budget), which the replica
then spends from memory for up to ``lease_s``. Units are counted in Redis before they are spent, so all
replicas together never admit more than the budget; at worst each holds one lease unspent when the
budget runs out (under-admitting by replicas x 5 %). One lease request per key is in flight at a time.

**Local: hand-written, the same algorithm.** ``limits``' in-memory storages scan every key they hold on
each hit (the asyncio one: measured 17 µs a hit with 10 keys, 512 µs with 10,000) or every 10 ms in a
thread (the synchronous one), so they cost O(keys) per call; ``_Windows`` is O(1) per call and bounded.

Once a key's budget is spent, its refusal and wait are remembered, so a caller hammering past its budget
costs a dict lookup per call, not a Redis call. Redis down (an error, or no answer within ``timeout_s``):
limits degrade to per-replica — the same budget kept in this process — for ``down_s``, then Redis is
asked again; calls never fail for it.

Bounded: at most ``max_keys`` keys are held (leases, refusals, local windows; ~200 bytes each); past that
the expired go first, then the oldest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError

from service.domain.errors import RateLimited

log = logging.getLogger("wellspring.ratelimit")

LEASE_PARTS = 20  # a lease is this fraction of the budget
MAX_KEYS = 20_000
_MIN_WAIT_S = 0.01


def parse_limit(text: str) -> RateLimitItem:
    """One budget in the ``limits`` notation; ValueError naming what is wrong."""
    try:
        item = parse(text)
    except ValueError:
        raise ValueError(f"not a rate limit such as 1000/second or 50/minute: {text!r}") from None
    if item.amount < 1:
        raise ValueError(f"a rate limit must allow at least 1 unit: {text!r}")
    return item


@dataclass(slots=True)
class _Window:
    """One key's sliding-window counter: the fixed window it is in, its count and the previous one's."""

    index: int
    current: int
    previous: int


class _Windows:
    def __init__(self, item: RateLimitItem, clock: Callable[[], float], max_keys: int) -> None:
        self._amount = item.amount
        self._expiry = float(item.get_expiry())
        self._clock = clock
        self._max_keys = max_keys
        self._windows: dict[str, _Window] = {}

    def __len__(self) -> int:
        return len(self._windows)

    def take(self, key: str, cost: int) -> float:
        """Spend ``cost`` and answer 0, or spend nothing and answer the seconds until it would fit."""
        now = self._clock()
        index, into = divmod(now, self._expiry)
        window = self._windows.get(key)
        if window is None:
            if len(self._windows) >= self._max_keys:
                self._evict(int(index))
            window = self._windows[key] = _Window(int(index), 0, 0)
        elif window.index != index:
            window.previous = window.current if window.index == index - 1 else 0
            window.current, window.index = 0, int(index)
        left = 1.0 - into / self._expiry  # the share of the previous window still inside the sliding one
        over = window.previous * left + window.current + cost - self._amount
        if over <= 0:
            window.current += cost
            return 0.0
        return self._wait(window, over, left, into)

    def _wait(self, window: _Window, over: float, left: float, into: float) -> float:
        """How long until ``over`` units have drained: the previous window's weight falls linearly to
        its end, then the current window's count becomes the previous one and falls the same way."""
        expiry = self._expiry
        if window.previous and over <= window.previous * left:
            return over * expiry / window.previous
        rest = over - window.previous * left
        to_end = expiry - into
        if rest > window.current or not window.current:
            return to_end + expiry  # more than this window holds: wait out both
        return to_end + rest * expiry / window.current

    def _evict(self, index: int) -> None:
        stale = [k for k, w in self._windows.items() if w.index < index - 1]
        for key in stale or list(self._windows)[: max(1, len(self._windows) // 2)]:
            del self._windows[key]


@dataclass(slots=True)
class _Held:
    units: int = 0
    until: float = 0.0  # the lease's units may be spent until then
    refused_until: float = 0.0  # answered from memory as refused until then


class Budgets:
    """``take(key, cost)`` spends ``cost`` units of ``key``'s budget or raises ``RateLimited``."""

    def __init__(
        self,
        limit: str,
        *,
        redis_url: str | None = None,
        prefix: str = "ws:",
        timeout_s: float = 0.05,
        down_s: float = 5.0,
        lease_s: float = 1.0,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self._item = parse_limit(limit)
        self._clock = clock
        self._timeout_s = timeout_s
        self._down_s = down_s
        self._lease_s = min(lease_s, float(self._item.get_expiry()))
        self._max_keys = max_keys
        self._local = _Windows(self._item, clock, max_keys)
        self._shared: SlidingWindowCounterRateLimiter | None = None
        if redis_url is not None:
            storage = RedisStorage(
                _async_uri(redis_url),
                implementation="redispy",
                key_prefix=f"{prefix}ratelimit",
                wrap_exceptions=True,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
            )
            self._shared = SlidingWindowCounterRateLimiter(storage)
        self._lease = max(1, self._item.amount // LEASE_PARTS)
        self._held: dict[str, _Held] = {}
        self._leasing: dict[str, asyncio.Future[None]] = {}
        self._down_until = 0.0
        self.degraded = 0  # times Redis failed and the budgets went per-replica

    @property
    def shared(self) -> bool:
        """Kept in Redis now (False: in this process, by configuration or while Redis is down)."""
        return self._shared is not None and self._clock() >= self._down_until

    def held(self, key: str) -> int:
        """The units of ``key``'s lease this replica may still spend (tests, benchmarks)."""
        held = self._held.get(key)
        return held.units if held is not None and self._clock() < held.until else 0

    async def take(self, key: str, cost: int) -> None:
        now = self._clock()
        held = self._held.get(key)
        if held is not None:
            if held.units >= cost and now < held.until:
                held.units -= cost
                return
            if now < held.refused_until:
                raise RateLimited(self.limit, cost, held.refused_until - now)
        if self._shared is None or now < self._down_until:
            self._take_locally(key, cost)
            return
        await self._take_shared(key, cost)

    def _take_locally(self, key: str, cost: int) -> None:
        wait = self._local.take(key, cost)
        if wait:
            self._refuse(key, cost, wait)

    def _refuse(self, key: str, cost: int, wait: float) -> None:
        wait = max(_MIN_WAIT_S, wait)
        held = self._keep(key)
        held.units, held.refused_until = 0, self._clock() + wait
        raise RateLimited(self.limit, cost, wait)

    def _keep(self, key: str) -> _Held:
        held = self._held.get(key)
        if held is None:
            if len(self._held) >= self._max_keys:
                now = self._clock()
                stale = [k for k, h in self._held.items() if h.until <= now and h.refused_until <= now]
                for old in stale or list(self._held)[: max(1, len(self._held) // 2)]:
                    del self._held[old]
            held = self._held[key] = _Held()
        return held

    async def _take_shared(self, key: str, cost: int) -> None:
        while (leasing := self._leasing.get(key)) is not None:
            await asyncio.shield(leasing)  # another call is asking for this key: use what it got
            held, now = self._held.get(key), self._clock()
            if held is not None and held.units >= cost and now < held.until:
                held.units -= cost
                return
            if held is not None and now < held.refused_until:
                raise RateLimited(self.limit, cost, held.refused_until - now)
        leasing = self._leasing[key] = asyncio.get_running_loop().create_future()
        try:
            await self._lease_for(key, cost)
        finally:
            del self._leasing[key]
            leasing.set_result(None)

    async def _lease_for(self, key: str, cost: int) -> None:
        assert self._shared is not None
        shared, item = self._shared, self._item
        want = max(cost, self._lease)
        try:
            async with asyncio.timeout(self._timeout_s):
                granted = await shared.hit(item, key, cost=want)
                if not granted:
                    stats = await shared.get_window_stats(item, key)
                    want = min(want, stats.remaining)
                    granted = want >= cost and await shared.hit(item, key, cost=want)
        except (StorageError, TimeoutError, OSError) as error:
            self._went_down(error)
            self._take_locally(key, cost)
            return
        if not granted:
            self._refuse(key, cost, stats.reset_time - time.time())
        held = self._keep(key)
        held.units, held.until, held.refused_until = want - cost, self._clock() + self._lease_s, 0.0

    async def close(self) -> None:
        """Close the Redis connections of the shared budgets."""
        client = getattr(getattr(self._shared and self._shared.storage, "bridge", None), "storage", None)
        if client is not None:
            await client.aclose()

    def _went_down(self, error: BaseException) -> None:
        self._down_until = self._clock() + self._down_s
        self.degraded += 1
        cause = type(getattr(error, "storage_error", None) or error).__name__
        log.warning("rate limits are per replica for %.0f s: Redis did not answer (%s)", self._down_s, cause)


def _async_uri(redis_url: str) -> str:
    """The ``limits`` form of a redis-py URL (``async+redis://…``, ``async+redis+unix://…``)."""
    if redis_url.startswith("unix://"):
        return f"async+redis+unix://{redis_url.removeprefix('unix://')}"
    return f"async+{redis_url}"
