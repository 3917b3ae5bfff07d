"""SDK figures: the Python client's cache hit against a dict lookup and against its peers, a round trip,
deduplication and batching, all measured in one run against a server process of their own.

The server is the embedded default (a fresh SQLite file, in-process cache, access log on), started once the
other parts' servers have stopped, so ``python -m bench --only sdk`` runs just this part. It is seeded with
``seed_users`` users by one ImportUsers stream on the bench's own sync channel (not through the SDK under
test). Everything else goes through ``wellspring_client.WellspringClient`` on one asyncio event loop:

* a *hit* client (``stale_after_s`` = ``evict_after_s`` = 600 s, far longer than the run) whose cache holds
  ``hit_users`` users, loaded by one concurrent burst of ``get_user`` (they coalesce into one BatchGet);
* an *RPC* client with ``stale_after_s=0`` **and** ``evict_after_s=0``: every ``get_user`` is a miss and
  one GetUser round trip (``stale_after_s=0`` alone would not do: the entry would still be servable stale,
  answered at once with a background refresh); ``client.invalidate()`` before each call was not used:
  even for one key it scans every cached key and every aggregate query (~80 us with 1000 entries cached),
  a cost that is not the round trip's;
* a *cold* client for deduplication and batching, asked only for ids it never saw.

Per-call costs of ~100 ns cannot be timed call by call (the clock costs as much), so the pairs here time
tight loops: one side of a round is one loop of ``n`` calls over the same cycled ids, its figure the loop
time / ``n``. Otherwise it is the method of bench/pairs.py (DESIGN.md section 6): every pair in every round,
pair order rotated, which side goes first alternated, the collector paused inside rounds, and a figure is the
median of the per-round ratios. ``n`` is calibrated per side (the fastest of three loops, collector
paused): as many calls as fit ``side_budget_ms``, at most ``max_calls`` and at least ``min_calls``; the
second side of a control runs as many calls as the first. Both sides of a pair use the same calling convention
unless the name says otherwise: ``await f(k)`` in the loop for the async figures, ``f(k)`` for the sync
ones. Two control pairs (dict against an identical dict, async and sync) must read 1.00 +/- 0.05, or the
pairs are measured again (``--attempts``), and the report is flagged when no attempt passed.

Peers, each primed with the same users and asked for the same ids: ``cachetools`` (``TTLCache`` +
``cached`` on a sync function), ``functools.lru_cache``, ``aiocache`` (``@cached`` and
``SimpleMemoryCache.get``, default settings), ``async-lru`` (``@alru_cache(ttl=...)``), ``cashews``
(``mem://``) and ``clientele`` (``@cache.memoize`` over ``@client.get``, as its docs use it; see
``clientele_peer``). ``pystackquery`` is not a peer: its releases (1.0.1, 1.0.2) require Python >= 3.12 and
its source uses 3.12-only syntax (PEP 695 generics), so it neither installs nor imports on 3.11. A sync
peer is compared with the dict in its own convention (``lookup_sync``), and with both SDK paths:
``await client.get_user`` (the figure the brief asks for, across conventions) and ``client.cached_user``
(same convention).

The round trips: ``client_hit_vs_rpc`` (hit / RPC client's get_user) and ``client_rpc_vs_raw_rpc``
(the RPC client's get_user / a bare ``grpc.aio`` GetUser stub call) are pairs like the others, with every
round trip confirmed in the server's access log. ``dedup_rpcs_per_1000``: 1000 concurrent ``get_user`` of
one cold id, the RPCs the server logged (the client's own count is the cross-check), worst of a few ids.
``batching_speedup``: 100 sequential ``get_user`` of fresh ids against 100 concurrent ones (one BatchGet),
alternated, median of the per-round ratios; the BatchGets the server logged per round are reported too.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiocache
import cachetools
import grpc
from async_lru import alru_cache
from cashews import Cache as CashewsCache
from clientele import api as clientele_api
from clientele import testing as clientele_testing
from clientele.cache import MemoryBackend as ClienteleMemory
from clientele.cache import memoize as clientele_memoize
from clientele.http.fake_backend import FakeHTTPBackend
from wellspring.v1 import user_service_pb2
from wellspring.v1 import user_service_pb2_grpc as user_rpc

from bench import client as c
from bench.pairs import PairResult
from bench.run import CONTROL_TOLERANCE, progress
from bench.server import AccessLog, Backend, BenchError, ServerProcess, running_server
from bench.streaming import import_call, import_requests
from wellspring_client import User, WellspringClient

CONTROL = "control_dict_vs_dict"
SYNC_CONTROL = "control_sync_dict_vs_dict"
HIT_VS_DICT = "client_hit_vs_dict"
HIT_VS_SUBSCRIPT = "client_hit_vs_subscript"
SYNC_HIT_VS_DICT = "client_sync_hit_vs_dict"
HIT_VS_RPC = "client_hit_vs_rpc"
RPC_VS_RAW = "client_rpc_vs_raw_rpc"
CONTROLS = {CONTROL: "control", SYNC_CONTROL: "sync control"}

HIT_NS = "client_hit_ns"
SYNC_HIT_NS = "client_sync_hit_ns"
DICT_NS = "dict_lookup_ns"
RPC_US = "client_rpc_us"
DEDUP = "dedup_rpcs_per_1000"
BATCHING = "batching_speedup"
BATCHGETS = "batchget_rpcs_per_round"

GET_USER = c.GET_USER_METHOD
BATCH_GET_USERS = "/wellspring.v1.UserService/BatchGetUsers"
USER_SERVICE = "/wellspring.v1.UserService/"
LONG_S = 600.0  # the hit client's freshness and the peers' TTL: far longer than the run
LOG_SETTLE_S = 0.1  # after the expected calls are logged, how long to wait for any unexpected ones

Loop = Callable[[Sequence[str]], Awaitable[int]]


@dataclass(frozen=True)
class SdkSettings:
    """Sizes chosen so the part takes about 20 s on 2 cores, the server's start and stop included (about 35 s
    when a failed control uses all three attempts)."""

    seed_users: int = 6_000
    hit_users: int = 1_000
    rounds: int = 30  # timed, after two untimed ones
    max_calls: int = 100_000  # per side per round: a dict lookup's loop still takes 2-3 ms
    min_calls: int = 8
    side_budget_ms: float = 3.0
    dedup_calls: int = 1_000
    dedup_ids: int = 5
    batch_size: int = 100
    batch_rounds: int = 12  # timed, after one untimed
    attempts: int = 3


# --- the loops: one code object per calling convention, so both sides of a pair run the same bytecode -------


def awaited(fn: Callable[[str], Awaitable[object]]) -> Loop:
    """``await fn(k)`` for each key; returns the loop's wall time in ns."""

    async def run(keys: Sequence[str]) -> int:
        clock = time.perf_counter_ns
        started = clock()
        for k in keys:
            await fn(k)
        return clock() - started

    return run


def called(fn: Callable[[str], object]) -> Loop:
    """``fn(k)`` for each key, no await (the sync fast paths and the sync peers)."""

    async def run(keys: Sequence[str]) -> int:
        clock = time.perf_counter_ns
        started = clock()
        for k in keys:
            fn(k)
        return clock() - started

    return run


def subscripted(table: dict[str, User]) -> Loop:
    """``table[k]`` inline in the loop: no call at all."""

    async def run(keys: Sequence[str]) -> int:
        clock = time.perf_counter_ns
        started = clock()
        for k in keys:
            table[k]
        return clock() - started

    return run


@dataclass
class Side:
    """One side of a pair: a loop over ``keys`` cycled; ``calls`` per round once calibrated. Sides are
    shared between pairs (the dict baseline is one side of many), so each is calibrated once."""

    label: str
    loop: Loop
    keys: Sequence[str]
    calls: int = 0
    ns_per_call_estimate: float = 0.0
    total_calls: int = 0  # every call made, warm-up and calibration included: for the stats cross-checks
    round_keys: Sequence[str] = ()
    twin: Side | None = None  # a control's second side runs as many calls as its first

    async def run(self, calls: int | None = None) -> float:
        """One loop; ns per call."""
        keys = self.round_keys if calls is None else cycled(self.keys, calls)
        elapsed = await self.loop(keys)
        self.total_calls += len(keys)
        return elapsed / len(keys)


@dataclass(frozen=True)
class LoopPair:
    name: str
    a: Side
    b: Side


def cycled(keys: Sequence[str], n: int) -> list[str]:
    return [keys[i % len(keys)] for i in range(n)]


async def calibrate(sides: Sequence[Side], settings: SdkSettings) -> None:
    """Per side: double the calls until one loop takes 1 ms (or ``max_calls``); the estimate is the fastest
    of three more loops of that size, with the collector paused, so a hiccup while calibrating cannot cut a
    side's rounds short. A side with a ``twin`` (a control's second side) takes its twin's size."""
    budget_ns = settings.side_budget_ms * 1e6
    gc.collect()
    gc.disable()
    try:
        for side in sides:
            if side.twin is not None:
                continue
            n = 16
            while (await side.run(n)) * n < 1e6 and n < settings.max_calls:
                n *= 2
            side.ns_per_call_estimate = min([await side.run(n) for _ in range(3)])
            side.calls = max(
                settings.min_calls, min(settings.max_calls, int(budget_ns / side.ns_per_call_estimate))
            )
        for side in sides:
            side.round_keys = cycled(side.keys, side.calls)
        for side in sides:
            if side.twin is not None:  # the very same keys list: nothing but the function differs
                side.calls, side.ns_per_call_estimate = side.twin.calls, side.twin.ns_per_call_estimate
                side.round_keys = side.twin.round_keys
    finally:
        gc.enable()


async def measure_round(pair: LoopPair, a_first: bool) -> tuple[float, float]:
    if a_first:
        a = await pair.a.run()
        b = await pair.b.run()
    else:
        b = await pair.b.run()
        a = await pair.a.run()
    return a, b


async def measure_loop_pairs(
    pairs: Sequence[LoopPair], rounds: int, warm_up: int = 2
) -> dict[str, PairResult]:
    """bench/pairs.measure_pairs for loops on the event loop: every pair each round, order rotated, A/B
    order alternated, the collector paused inside a round and run between rounds. The first ``warm_up``
    rounds are not kept."""
    results = {pair.name: PairResult(pair.name) for pair in pairs}
    was_enabled = gc.isenabled()
    try:
        for r in range(warm_up + rounds):
            gc.collect()
            gc.disable()
            shift = r % len(pairs)
            for pair in [*pairs[shift:], *pairs[:shift]]:
                a, b = await measure_round(pair, a_first=r % 2 == 0)
                if r < warm_up:
                    continue
                result = results[pair.name]
                result.ratios.append(a / b)
                result.a_medians_ns.append(a)  # ns per call of this round's loop
                result.b_medians_ns.append(b)
            gc.enable()
    finally:
        if was_enabled:
            gc.enable()
    return results


# --- the peers ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Peer:
    """A caching library, its hit path as a loop, and whether that path is sync."""

    name: str
    title: str
    sync: bool
    side: Side
    # Where the peer shows it: loads that went past its cache so far. Once primed it must stay at the number
    # of users primed (every measured call a hit); checked after the pairs.
    loads: Callable[[], int] | None = None


async def build_peers(table: dict[str, User], keys: Sequence[str]) -> list[Peer]:
    """Each peer caches a loader over ``table`` and is primed with every key (then hits only)."""

    def load_sync(k: str) -> User:
        return table[k]

    async def load(k: str) -> User:
        return table[k]

    by_cachetools = cachetools.cached(cachetools.TTLCache(maxsize=10_000, ttl=LONG_S))(load_sync)
    by_lru = functools.lru_cache(maxsize=10_000)(load_sync)
    by_aiocache = aiocache.cached(ttl=LONG_S)(load)
    memory = aiocache.SimpleMemoryCache()
    by_alru = alru_cache(maxsize=10_000, ttl=LONG_S)(load)
    cashews = CashewsCache()
    cashews.setup("mem://")
    by_cashews = cashews(ttl=LONG_S)(load)
    by_clientele, clientele_http = clientele_peer(table)
    for k in table:
        by_cachetools(k)
        by_lru(k)
        await by_aiocache(k)
        await memory.set(k, table[k], ttl=LONG_S)
        await by_alru(k)
        await by_cashews(k)
        await by_clientele(k)
    return [
        Peer(
            "cachetools",
            "cachetools.cached(TTLCache) on a sync def",
            True,
            Side("cachetools", called(by_cachetools), keys),
        ),
        Peer("lru_cache", "functools.lru_cache on a sync def", True, Side("lru_cache", called(by_lru), keys)),
        Peer(
            "aiocache",
            "@aiocache.cached (SimpleMemoryCache)",
            False,
            Side("aiocache", awaited(by_aiocache), keys),
        ),
        Peer(
            "aiocache_get",
            "aiocache SimpleMemoryCache.get",
            False,
            Side("aiocache_get", awaited(memory.get), keys),
        ),
        Peer("async_lru", "@alru_cache(ttl=...)", False, Side("async_lru", awaited(by_alru), keys)),
        Peer("cashews", "@cashews cache(ttl=...), mem://", False, Side("cashews", awaited(by_cashews), keys)),
        Peer(
            "clientele",
            "@clientele cache.memoize(ttl=...) over @client.get, MemoryBackend(max_size=10_000)",
            False,
            Side("clientele", awaited(by_clientele), keys),
            loads=lambda: len(clientele_http.requests),
        ),
    ]


def clientele_peer(table: dict[str, User]) -> tuple[Callable[[str], Awaitable[User]], FakeHTTPBackend]:
    """clientele's ``@cache.memoize`` the way its docs use it: above ``@client.get("/users/{user_id}")`` on an
    ``APIClient``; the function returns ``table[user_id]`` (the injected, empty ``result`` is ignored).

    What a measured call runs: only memoize's async wrapper on a hit, i.e. the cache key built from the
    arguments (``inspect.signature(...).bind_partial`` on the public signature ``@client.get`` sets, giving
    ``"GET:/users/{user_id}:user_id=<k>"``) and ``MemoryBackend.get`` (an RLock, the entry's TTL check against
    ``time.time()``, an LRU ``move_to_end``). Neither ``@client.get`` nor any HTTP code runs on a hit. Its
    HTTP backend is clientele's own in-process fake (``clientele.testing.configure_client_for_testing``): no
    socket anywhere, and its log of requests counts the misses (priming makes one per user, the pairs must
    add none). Two settings differ from the defaults, both to keep every call a hit: the TTL (``LONG_S``)
    and the backend (memoize's default is one global ``MemoryBackend(max_size=128)``, an LRU that 1,000
    cycled ids would miss every time; ``max_size=10_000`` as for the other peers). memoize also works on a
    bare ``async def``, but that is not how the docs use it, and a hit is then about twice as slow: the key
    needs ``inspect.signature`` of the bare function, built from its code object on every call."""
    client = clientele_api.APIClient(base_url="http://127.0.0.1")
    http = clientele_testing.configure_client_for_testing(client)

    @clientele_memoize(ttl=LONG_S, backend=ClienteleMemory(max_size=10_000))
    @client.get("/users/{user_id}")
    async def get_user(user_id: str, result: object) -> User:
        return table[user_id]

    return get_user, http


# --- what one attempt measures and what the part found ------------------------------------------------------


@dataclass
class PairsRun:
    """One attempt at the pairs."""

    pairs: dict[str, PairResult]
    seconds: float

    @property
    def controls(self) -> dict[str, float]:
        return {name: self.pairs[name].ratio for name in CONTROLS if name in self.pairs}

    @property
    def control_ok(self) -> bool:
        return all(abs(v - 1.0) <= CONTROL_TOLERANCE for v in self.controls.values())

    def control_summary(self) -> str:
        return ", ".join(f"{CONTROLS[name]} {value:.3f}" for name, value in self.controls.items())


@dataclass(frozen=True)
class DedupRound:
    calls: int
    server_rpcs: int  # UserService calls the server logged for the burst
    client_rpcs: int
    misses: int
    dedup: int
    seconds: float


@dataclass(frozen=True)
class BatchRound:
    sequential_s: float
    concurrent_s: float
    sequential_server: Counter[str]  # method -> calls logged during the sequential side
    concurrent_server: Counter[str]

    @property
    def ratio(self) -> float:
        return self.sequential_s / self.concurrent_s

    @property
    def batch_gets(self) -> int:
        return self.concurrent_server[BATCH_GET_USERS]


@dataclass
class SdkOutcome:
    address: str = ""
    pid: int = 0
    seed_users: int = 0
    seed_s: float = 0.0
    hit_users: int = 0
    prime_batches: int = 0
    attempts: list[PairsRun] = field(default_factory=list)
    sides: list[Side] = field(default_factory=list)
    pair_sides: dict[str, tuple[Side, Side]] = field(default_factory=dict)  # pair name -> (A, B)
    peers: list[Peer] = field(default_factory=list)
    dedup: list[DedupRound] = field(default_factory=list)
    batching: list[BatchRound] = field(default_factory=list)
    batch_size: int = 0
    # Over calibration and every attempt at the pairs: the clients' stats deltas, the calls each side made
    # and the GetUser calls the server logged.
    hit_stats: dict[str, int] = field(default_factory=dict)
    rpc_stats: dict[str, int] = field(default_factory=dict)
    hit_calls: int = 0
    rpc_calls: int = 0
    raw_calls: int = 0
    server_gets: int = 0
    peer_loads: dict[str, int] = field(default_factory=dict)  # peer -> loads past its cache, priming included
    problems: list[str] = field(
        default_factory=list
    )  # broken invariants: the figures measured something else
    seconds: float = 0.0

    @property
    def final(self) -> PairsRun:
        return self.attempts[-1]

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.final.control_ok and not self.problems

    def figures(self) -> dict[str, float]:
        """Figure name -> value, in report order."""
        pairs = self.final.pairs
        values: dict[str, float] = {name: pairs[name].ratio for name in (CONTROL, SYNC_CONTROL)}
        values[HIT_VS_DICT] = pairs[HIT_VS_DICT].ratio
        values[HIT_VS_SUBSCRIPT] = pairs[HIT_VS_SUBSCRIPT].ratio
        values[SYNC_HIT_VS_DICT] = pairs[SYNC_HIT_VS_DICT].ratio
        values[HIT_NS] = pairs[HIT_VS_DICT].a_us * 1000
        values[SYNC_HIT_NS] = pairs[SYNC_HIT_VS_DICT].a_us * 1000
        values[DICT_NS] = pairs[HIT_VS_DICT].b_us * 1000
        values[HIT_VS_RPC] = pairs[HIT_VS_RPC].ratio
        values[RPC_VS_RAW] = pairs[RPC_VS_RAW].ratio
        values[RPC_US] = pairs[HIT_VS_RPC].b_us
        if self.dedup:
            values[DEDUP] = max(r.server_rpcs for r in self.dedup) * 1000 / self.dedup[0].calls
        if self.batching:
            values[BATCHING] = statistics.median(r.ratio for r in self.batching)
            values[BATCHGETS] = max(r.batch_gets for r in self.batching)
        for peer in self.peers:
            values[peer_ns(peer.name)] = pairs[peer_vs_dict(peer.name)].a_us * 1000
            values[peer_vs_dict(peer.name)] = pairs[peer_vs_dict(peer.name)].ratio
            values[hit_vs(peer.name)] = pairs[hit_vs(peer.name)].ratio
            if peer.sync:
                values[sync_hit_vs(peer.name)] = pairs[sync_hit_vs(peer.name)].ratio
        return values


def peer_ns(name: str) -> str:
    return f"peer_hit_ns_{name}"


def peer_vs_dict(name: str) -> str:
    return f"peer_{name}_vs_dict"


def hit_vs(name: str) -> str:
    return f"client_hit_vs_{name}"


def sync_hit_vs(name: str) -> str:
    return f"client_sync_hit_vs_{name}"


# --- the measurements ---------------------------------------------------------------------------------------


@dataclass
class Clients:
    hit: WellspringClient
    rpc: WellspringClient
    cold: WellspringClient
    raw: grpc.aio.Channel


def channel_options() -> list[tuple[str, Any]]:
    return [("grpc.enable_http_proxy", 0)]  # all traffic stays on 127.0.0.1, whatever *_proxy says


async def open_clients(address: str) -> Clients:
    options = channel_options()
    hit = WellspringClient(address, channel_options=options, stale_after_s=LONG_S, evict_after_s=LONG_S)
    rpc = WellspringClient(address, channel_options=options, stale_after_s=0, evict_after_s=0)
    cold = WellspringClient(address, channel_options=options, stale_after_s=LONG_S, evict_after_s=LONG_S)
    raw = grpc.aio.insecure_channel(address, options=options)
    await raw.channel_ready()
    for client in (hit, rpc, cold):
        await client.start()
    return Clients(hit, rpc, cold, raw)


async def close_clients(clients: Clients) -> None:
    for client in (clients.hit, clients.rpc, clients.cold):
        await client.close()
    await clients.raw.close()


async def prime(client: WellspringClient, ids: Sequence[str]) -> tuple[dict[str, User], int]:
    """Every id into the hit client's cache by one concurrent burst; the table of what it holds."""
    before = client.stats.batches
    users = await asyncio.gather(*(client.get_user(i) for i in ids))
    if [u.id for u in users] != list(ids):
        raise BenchError("priming the hit client returned other users than asked for")
    table: dict[str, User] = {}
    for i in ids:
        user = client.cached_user(i)
        if user is None:
            raise BenchError(f"user {i} is not a fresh cache entry right after priming")
        table[i] = user
    return table, client.stats.batches - before


@dataclass(frozen=True)
class Sides:
    """The sides whose calls are cross-checked against the clients' stats and the server, and all of them."""

    hit: Side
    rpc: Side
    raw: Side
    every: list[Side]


def build_pairs(
    clients: Clients, table: dict[str, User], ids: Sequence[str], peers: list[Peer]
) -> tuple[list[LoopPair], Sides]:
    """The sides once, then the pairs over them."""
    keys = list(ids)

    async def lookup(k: str) -> User:
        return table[k]

    async def lookup_again(k: str) -> User:  # the control's other side: an identical, separate function
        return table[k]

    def lookup_sync(k: str) -> User:
        return table[k]

    def lookup_sync_again(k: str) -> User:
        return table[k]

    get = user_rpc.UserServiceStub(clients.raw).GetUser
    request = user_service_pb2.GetUserRequest

    def raw_get(k: str) -> Awaitable[object]:
        return get(request(id=k), timeout=c.CALL_TIMEOUT_S)

    dict_async = Side("await lookup(k)", awaited(lookup), keys)
    dict_async_again = Side(
        "await lookup(k), a second function", awaited(lookup_again), keys, twin=dict_async
    )
    dict_sync = Side("lookup_sync(k)", called(lookup_sync), keys)
    dict_sync_again = Side(
        "lookup_sync(k), a second function", called(lookup_sync_again), keys, twin=dict_sync
    )
    subscript = Side("table[k] inline", subscripted(table), keys)
    hit = Side("await client.get_user(k), fresh hit", awaited(clients.hit.get_user), keys)
    sync_hit = Side("client.cached_user(k)", called(clients.hit.cached_user), keys)
    rpc = Side("await get_user(k), RPC client (GetUser round trip)", awaited(clients.rpc.get_user), keys)
    raw = Side("await stub.GetUser(GetUserRequest(id=k)), bare grpc.aio", awaited(raw_get), keys)
    pairs = [
        LoopPair(CONTROL, dict_async, dict_async_again),
        LoopPair(SYNC_CONTROL, dict_sync, dict_sync_again),
        LoopPair(HIT_VS_DICT, hit, dict_async),
        LoopPair(HIT_VS_SUBSCRIPT, hit, subscript),
        LoopPair(SYNC_HIT_VS_DICT, sync_hit, dict_sync),
        LoopPair(HIT_VS_RPC, hit, rpc),
        LoopPair(RPC_VS_RAW, rpc, raw),
    ]
    for peer in peers:
        pairs.append(LoopPair(peer_vs_dict(peer.name), peer.side, dict_sync if peer.sync else dict_async))
        pairs.append(LoopPair(hit_vs(peer.name), hit, peer.side))
        if peer.sync:
            pairs.append(LoopPair(sync_hit_vs(peer.name), sync_hit, peer.side))
    every = [dict_async, dict_async_again, dict_sync, dict_sync_again, subscript, hit, sync_hit, rpc, raw]
    return pairs, Sides(hit, rpc, raw, every + [p.side for p in peers])


async def logged(log: AccessLog, expected: Counter[str], timeout_s: float = 10.0) -> Counter[str]:
    """Method -> calls the server logged since the last take: waits until at least ``expected`` of each
    are in, then ``LOG_SETTLE_S`` more for any that were not expected (so they are counted too)."""
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout_s
    while True:
        for (method, _status), n in log.take().items():
            counts[method] += n
        if all(counts[m] >= n for m, n in expected.items()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(LOG_SETTLE_S)
    for (method, _status), n in log.take().items():
        counts[method] += n
    return counts


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


async def measure_dedup(
    client: WellspringClient, log: AccessLog, ids: Sequence[str], calls: int
) -> list[DedupRound]:
    """Per id (never asked for before): ``calls`` concurrent get_user; what reached the server."""
    rounds = []
    for uid in ids:
        await logged(log, Counter())  # anything earlier is not this burst's
        before = client.stats.snapshot()
        started = time.perf_counter()
        users = await asyncio.gather(*(client.get_user(uid) for _ in range(calls)))
        seconds = time.perf_counter() - started
        if len(users) != calls or any(u.id != uid for u in users):
            raise BenchError(f"dedup burst for {uid}: some calls returned another user")
        changed = delta(client.stats.snapshot(), before)
        counts = await logged(log, Counter({GET_USER: 1}))
        server = sum(n for method, n in counts.items() if method.startswith(USER_SERVICE))
        rounds.append(
            DedupRound(
                calls,
                server,
                changed.get("rpcs", 0),
                changed.get("misses", 0),
                changed.get("dedup", 0),
                seconds,
            )
        )
    return rounds


async def _timed(run: Callable[[], Awaitable[object]]) -> float:
    gc.collect()
    gc.disable()  # as in bench/pairs.py: the client's collector is not timed
    try:
        started = time.perf_counter()
        await run()
        return time.perf_counter() - started
    finally:
        gc.enable()


async def measure_batching(
    client: WellspringClient, log: AccessLog, ids: Sequence[str], settings: SdkSettings
) -> list[BatchRound]:
    """Alternate 100 sequential and 100 concurrent get_user, each side on ids nobody asked for yet (cold in
    the client and on the server alike); the first round is untimed."""
    size = settings.batch_size
    needed = 2 * size * (settings.batch_rounds + 1)
    if len(ids) < needed:
        raise BenchError(f"batching needs {needed} fresh ids, have {len(ids)}")
    rounds = []
    for r in range(settings.batch_rounds + 1):
        seq_ids = ids[2 * r * size : (2 * r + 1) * size]
        conc_ids = ids[(2 * r + 1) * size : (2 * r + 2) * size]

        async def sequential(seq_ids: Sequence[str] = seq_ids) -> None:
            for i in seq_ids:
                if (await client.get_user(i)).id != i:
                    raise BenchError(f"get_user({i}) returned another user")

        async def concurrent(conc_ids: Sequence[str] = conc_ids) -> None:
            users = await asyncio.gather(*(client.get_user(i) for i in conc_ids))
            if [u.id for u in users] != list(conc_ids):
                raise BenchError("concurrent get_user returned other users than asked for")

        await logged(log, Counter())
        times: dict[str, float] = {}
        server: dict[str, Counter[str]] = {}
        expected = {"sequential": Counter({GET_USER: size}), "concurrent": Counter({BATCH_GET_USERS: 1})}
        order = ["sequential", "concurrent"] if r % 2 == 0 else ["concurrent", "sequential"]
        for side in order:
            times[side] = await _timed(sequential if side == "sequential" else concurrent)
            server[side] = await logged(log, expected[side])
        if r == 0:
            continue
        rounds.append(
            BatchRound(times["sequential"], times["concurrent"], server["sequential"], server["concurrent"])
        )
    return rounds


def check_invariants(outcome: SdkOutcome) -> None:
    """The hit side made only fresh hits, and every RPC-side call was a real round trip the server logged;
    otherwise a figure measured something other than its name says."""
    hits = outcome.hit_stats
    if hits.get("hits", 0) != outcome.hit_calls or set(hits) - {"hits"}:
        outcome.problems.append(
            f"hit client: {outcome.hit_calls:,} get_user calls, stats changed by {hits} "
            "(expected one fresh hit per call and nothing else)"
        )
    rpcs = outcome.rpc_stats
    if rpcs.get("rpcs", 0) != outcome.rpc_calls or rpcs.get("misses", 0) != outcome.rpc_calls:
        outcome.problems.append(
            f"RPC client: {outcome.rpc_calls:,} get_user calls, stats changed by {rpcs} "
            "(expected one miss and one RPC per call)"
        )
    expected = outcome.rpc_calls + outcome.raw_calls
    if outcome.server_gets != expected:
        outcome.problems.append(
            f"the server logged {outcome.server_gets:,} GetUser during the pairs; the RPC client and the "
            f"bare stub made {expected:,}"
        )
    for name, loads in outcome.peer_loads.items():
        if loads != outcome.hit_users:
            outcome.problems.append(
                f"peer {name}: {loads:,} loads past its cache for {outcome.hit_users:,} users primed "
                "(expected one per user, all while priming: every measured call a hit)"
            )
    for i, r in enumerate(outcome.dedup, 1):
        if r.client_rpcs != r.server_rpcs:
            outcome.problems.append(
                f"dedup burst {i}: the client counted {r.client_rpcs} RPCs, the server logged {r.server_rpcs}"
            )
    for i, r in enumerate(outcome.batching, 1):
        seq, conc = r.sequential_server, r.concurrent_server
        if seq[GET_USER] != outcome.batch_size or seq[BATCH_GET_USERS]:
            outcome.problems.append(
                f"batching round {i}: the sequential side reached the server as {dict(seq)}"
            )
        if conc[GET_USER]:
            outcome.problems.append(
                f"batching round {i}: the concurrent side reached the server as {dict(conc)}"
            )


async def measure_pairs(
    clients: Clients, log: AccessLog, ids: Sequence[str], settings: SdkSettings, outcome: SdkOutcome
) -> None:
    """Prime, calibrate, then the pairs until both controls pass or the attempts are used up."""
    progress(f"sdk: {settings.hit_users} users into the hit client's cache and into each peer")
    table, outcome.prime_batches = await prime(clients.hit, ids)
    outcome.hit_users = len(table)
    outcome.peers = await build_peers(table, ids)
    pairs, sides = build_pairs(clients, table, ids, outcome.peers)
    outcome.sides = sides.every
    outcome.pair_sides = {pair.name: (pair.a, pair.b) for pair in pairs}
    hit, rpc, raw = sides.hit, sides.rpc, sides.raw
    await logged(log, Counter())
    hit_before, rpc_before = clients.hit.stats.snapshot(), clients.rpc.stats.snapshot()
    await calibrate(outcome.sides, settings)
    for attempt in range(1, settings.attempts + 1):
        progress(
            f"sdk: alternating loop pairs, {settings.rounds} rounds x {len(pairs)} pairs "
            f"(attempt {attempt} of at most {settings.attempts})"
        )
        started = time.monotonic()
        run = PairsRun(await measure_loop_pairs(pairs, settings.rounds), 0.0)
        run.seconds = time.monotonic() - started
        outcome.attempts.append(run)
        progress(f"sdk: control pairs read {run.control_summary()}")
        if run.control_ok:
            break
        then = "measuring the pairs again" if attempt < settings.attempts else "no attempts left"
        progress(f"sdk: a control is not within 1.00 +/- {CONTROL_TOLERANCE}; {then}")
    outcome.hit_calls, outcome.rpc_calls, outcome.raw_calls = (
        hit.total_calls,
        rpc.total_calls,
        raw.total_calls,
    )
    counts = await logged(log, Counter({GET_USER: rpc.total_calls + raw.total_calls}))
    outcome.server_gets = counts[GET_USER]
    outcome.peer_loads = {peer.name: peer.loads() for peer in outcome.peers if peer.loads is not None}
    outcome.hit_stats = delta(clients.hit.stats.snapshot(), hit_before)
    outcome.rpc_stats = delta(clients.rpc.stats.snapshot(), rpc_before)


async def measure_all(address: str, log: AccessLog, ids: Sequence[str], settings: SdkSettings) -> SdkOutcome:
    outcome = SdkOutcome(batch_size=settings.batch_size)
    hit_ids = ids[: settings.hit_users]
    dedup_ids = ids[settings.hit_users : settings.hit_users + settings.dedup_ids]
    batch_ids = ids[settings.hit_users + settings.dedup_ids :]
    clients = await open_clients(address)
    try:
        await measure_pairs(clients, log, hit_ids, settings, outcome)
        progress(f"sdk: {settings.dedup_ids} x {settings.dedup_calls} concurrent get_user of one cold id")
        outcome.dedup = await measure_dedup(clients.cold, log, dedup_ids, settings.dedup_calls)
        progress(
            f"sdk: {settings.batch_size} sequential against {settings.batch_size} concurrent get_user of "
            f"fresh ids, {settings.batch_rounds} rounds after one untimed"
        )
        outcome.batching = await measure_batching(clients.cold, log, batch_ids, settings)
    finally:
        await close_clients(clients)
    check_invariants(outcome)
    return outcome


def seed(server: ServerProcess, users: int) -> tuple[list[str], float]:
    """``users`` users by one ImportUsers stream on a plain sync channel: the SDK under test is not used."""
    client = c.connect(server.address)
    try:
        requests = import_requests("sdk", users, 500)
        seconds = import_call(client, requests)
    finally:
        client.close()
    return [u.id for r in requests for u in r.users], seconds


def measure_sdk(workdir: Path, attempts: int = 3, settings: SdkSettings | None = None) -> SdkOutcome:
    """A server of its own for the block; stopped (exit 0 required) before returning."""
    settings = settings or SdkSettings(attempts=attempts)
    started = time.monotonic()
    home = workdir / "sdk"
    home.mkdir(exist_ok=True)
    backend = Backend(f"sqlite:///{home / 'sdk.sqlite3'}")
    progress("sdk: starting an embedded server (fresh SQLite file)")
    with running_server(home, backend, name="sdk") as server:
        progress(
            f"sdk: server pid {server.pid} SERVING on {server.address}; seeding {settings.seed_users:,} users"
        )
        ids, seed_s = seed(server, settings.seed_users)
        outcome = asyncio.run(measure_all(server.address, AccessLog(server.log_path), ids, settings))
        outcome.address, outcome.pid = server.address, server.pid
        outcome.seed_users, outcome.seed_s = len(ids), seed_s
        progress("sdk: stopping the server with SIGTERM")
    outcome.seconds = time.monotonic() - started
    return outcome
