"""The Redis-backed server: a second ``python -m service serve`` with WELLSPRING_REDIS_URL set, on PostgreSQL.

What it adds to the run, all against this one server and its own redis-server:

* ``cached_get_vs_noop`` and ``cached_batchget100_vs_noop``: warm reads served from Redis against health
  Check, measured in the same alternating rounds as the embedded server's pairs, with a control pair of its
  own;
* ``hit_ratio``: a Zipf-distributed GetUser workload from a cold cache (right after seeding, every user's
  slot holds only the tombstone its CreateUser left), counted by Redis itself: each GetUser that reaches
  Redis is one MGET, each miss one fill script (EVALSHA). The model "first access of a key misses, every
  later one hits" (TTL 300 s, far longer than the run, and no writes) is printed next to it as a check;
* ``degraded_get_vs_noop``: GetUser against Check after the bench killed the Redis and the breaker opened;
  the server must keep answering from the database.

The server reads from Redis only while it holds a read lease (renewed every 250 ms once SERVING) and while its
breaker is closed, so before measuring, the bench waits until a GetUser visibly reaches Redis (an MGET).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from wellspring.v1 import user_service_pb2

from bench import client as c
from bench.backing import Database, RedisCounters, RedisServer, fresh_database, redis_server
from bench.pairs import Pair
from bench.server import Backend, BenchError, ServerProcess, running_server

CACHED_CONTROL = "cached_control_noop_vs_noop"
CACHED_GET = "cached_get_vs_noop"
CACHED_BATCH = "cached_batchget100_vs_noop"
HIT_RATIO = "hit_ratio"
DEGRADED_CONTROL = "degraded_control_noop_vs_noop"
DEGRADED_GET = "degraded_get_vs_noop"

PROBE_ID = "bench-lease-probe"  # never created: GetUser answers NOT_FOUND, after an MGET when leased
REACH_TIMEOUT_S = 30.0  # the breaker's cool-down after a long outage is at most 10 s
ZIPF_SEED = 1122
BREAKER_CALLS = 20  # GetUser calls right after the kill: the first failures open the breaker


@dataclass
class CachedServer:
    """The Redis-backed server, its Redis and database, a client on it and the ids it was seeded with."""

    server: ServerProcess
    redis: RedisServer
    database: Database
    client: c.Client
    ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HitRatio:
    """One Zipf workload: how many calls, how many distinct keys, and what Redis counted meanwhile."""

    calls: int
    distinct: int
    zipf_s: float
    redis: RedisCounters
    seconds: float

    @property
    def hits(self) -> int:
        """Reads answered from Redis: MGETs that were not followed by a fill."""
        return self.redis.mget - self.redis.evalsha

    @property
    def measured(self) -> float:
        return self.hits / self.calls

    @property
    def model(self) -> float:
        """First access of each key misses, all later ones hit."""
        return 1 - self.distinct / self.calls

    @property
    def every_read_reached_redis(self) -> bool:
        return self.redis.mget == self.calls


@contextmanager
def cached_deployment(workdir: Path) -> Iterator[CachedServer]:
    """Database, Redis and server for the block; the server stops first (exit 0 required), then Redis is
    killed and the database dropped."""
    with fresh_database(workdir) as database, redis_server(workdir) as redis:
        backend = Backend(database.url, redis.url, migrate_on_start=not database.shared)
        with running_server(workdir, backend, name="cached") as server:
            client = c.connect(server.address)
            try:
                yield CachedServer(server, redis, database, client)
            finally:
                client.close()


def reads_reach_redis(side: CachedServer, timeout_s: float = REACH_TIMEOUT_S) -> None:
    """Wait until a GetUser makes the server send an MGET to Redis: it holds its read lease, its breaker is
    closed and it has vetted this Redis."""
    request = user_service_pb2.GetUserRequest(id=PROBE_ID)
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        before = side.redis.counters().mget
        try:
            side.client.users.GetUser(request, timeout=c.CALL_TIMEOUT_S)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise BenchError(f"GetUser of the probe id failed: {error}") from None
        if side.redis.counters().mget > before:
            return
        time.sleep(0.05)
    raise BenchError(f"the Redis-backed server sent no read to Redis within {timeout_s:.0f}s")


def warm_cache(side: CachedServer) -> None:
    """BatchGetUsers over every id, twice (each batch: one MGET, one fill script for its misses); the second
    pass must reach Redis with every batch and fill nothing: every key is cached."""
    c.warm(side.client, side.ids)
    before = side.redis.counters()
    batches = c.warm(side.client, side.ids)
    window = side.redis.counters() - before
    if window.mget != batches or window.evalsha != 0:
        raise BenchError(
            f"cache not warm after one pass: the second pass sent {window.mget} MGETs for {batches} "
            f"batches and {window.evalsha} fills (expected 0)"
        )


def ready(side: CachedServer) -> None:
    """Redis up (started again if the degraded phase killed it), read by the server, and every id cached."""
    if not side.redis.running:
        side.redis.start()
    reads_reach_redis(side)
    warm_cache(side)


def zipf_ids(ids: list[str], calls: int, s: float, seed: int = ZIPF_SEED) -> list[str]:
    """``calls`` ids drawn with P(rank k) ~ 1/k^s; ranks are assigned in a shuffled order, so the hot keys
    are not simply the first ones seeded."""
    rng = random.Random(seed)
    ranked = list(ids)
    rng.shuffle(ranked)
    weights = [1 / rank**s for rank in range(1, len(ranked) + 1)]
    return rng.choices(ranked, weights=weights, k=calls)


def measure_hit_ratio(side: CachedServer, calls: int, s: float) -> HitRatio:
    """The Zipf workload, one GetUser at a time, on the cold cache left by seeding."""
    workload = [user_service_pb2.GetUserRequest(id=i) for i in zipf_ids(side.ids, calls, s)]
    reads_reach_redis(side)  # the probe's own MGET and fill happen before the window opens
    get = side.client.users.GetUser
    before = side.redis.counters()
    started = time.monotonic()
    for request in workload:
        get(request, timeout=c.CALL_TIMEOUT_S)
    seconds = time.monotonic() - started
    window = side.redis.counters() - before
    return HitRatio(calls, len({r.id for r in workload}), s, window, seconds)


def cached_pairs(side: CachedServer, calls: int, batch_calls: int) -> list[Pair]:
    """Warm reads on the Redis-backed server against Check on it, and its own control pair."""
    client = side.client
    check = c.check_op(client)
    return [
        Pair(CACHED_CONTROL, c.check_op(client), c.check_op(client), calls),
        Pair(CACHED_GET, c.get_user_op(client, side.ids), check, calls),
        Pair(CACHED_BATCH, c.batch_get_op(client, c.batch_ids(side.ids)), check, batch_calls),
    ]


def degraded_pairs(side: CachedServer, calls: int) -> list[Pair]:
    """GetUser against Check once the Redis is gone (reads go to the database), and a control pair."""
    client = side.client
    check = c.check_op(client)
    return [
        Pair(DEGRADED_CONTROL, c.check_op(client), c.check_op(client), calls),
        Pair(DEGRADED_GET, c.get_user_op(client, side.ids), check, calls),
    ]


def kill_redis(side: CachedServer) -> None:
    """SIGKILL the Redis, then GetUser until the breaker must be open: each call has to succeed (served by
    the database), or the server failed the promise that Redis failing never fails a request."""
    side.redis.kill()
    get = c.get_user_op(side.client, side.ids)
    for _ in range(BREAKER_CALLS):
        try:
            get()
        except grpc.RpcError as error:
            raise BenchError(f"GetUser failed with the Redis down: {error}") from None
