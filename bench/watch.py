"""Watch fan-out: many watchers on one server, one writer, and how late each watcher hears of each write.

The watchers are grpc.aio streams in one event loop (a thread per stream would cost more than the server),
spread over a few channels that each get their own connection. Latency is the watcher's ``time.time()`` when
the message is read minus the event's ``user.update_time``, which the server takes from the wall clock just
before the commit; client and server run on the same machine, so both read the same clock. It includes the
commit, the tailer noticing it (LISTEN/NOTIFY on PostgreSQL, a 10 ms ``data_version`` poll on SQLite), the
fan-out, the network and the client's own event loop.

Every watcher must receive every write; a missing or duplicated delivery is reported as a failure, not
averaged away.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from dataclasses import dataclass, field

import grpc
from wellspring.v1 import resources_pb2, user_service_pb2, watch_service_pb2
from wellspring.v1 import user_service_pb2_grpc as user_rpc
from wellspring.v1 import watch_service_pb2_grpc as watch_rpc

from bench.server import BenchError

READY_TIMEOUT_S = 30.0  # every watcher's first (progress) message
DRAIN_TIMEOUT_S = 5.0  # after the last write, for the last deliveries
CALL_TIMEOUT_S = 10.0
# A channel of its own per connection: channels with equal arguments share one connection by default.
CHANNEL_OPTIONS = [("grpc.enable_http_proxy", 0), ("grpc.use_local_subchannel_pool", 1)]


@dataclass(frozen=True)
class FanoutPlan:
    """How many watchers on how many channels, and the writes they should all see."""

    watchers: int
    channels: int
    ids: list[str]  # one UpdateUser per id, in order
    spacing_s: float


@dataclass
class Watcher:
    """One stream's state: ready once its first (progress) message came; etag -> latency of each event."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    latencies_ns: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    error: str = ""


@dataclass(frozen=True)
class FanoutResult:
    """Latencies (ms, sorted) of every delivery of an acknowledged write, and what did not arrive."""

    watchers: int
    channels: int
    writes: int
    spacing_s: float
    latencies_ms: list[float]
    missing: int  # watcher x write deliveries that never came
    short_watchers: int  # watchers missing at least one write
    duplicates: int
    errors: list[str]
    ready_s: float  # until every watcher had its progress message
    writes_s: float  # first write sent to last acknowledged

    @property
    def expected(self) -> int:
        return self.watchers * self.writes

    @property
    def complete(self) -> bool:
        return self.missing == 0 and self.duplicates == 0 and not self.errors

    def percentile(self, q: int) -> float:
        """The q-th percentile (1..99) over all deliveries."""
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p99(self) -> float:
        return self.percentile(99)


async def _follow(stub: watch_rpc.WatchServiceStub, watcher: Watcher) -> None:
    """Read one Watch stream until cancelled; the receive time is taken once per message, before decoding
    its events, so a batch of events is not charged for the client's own work on the earlier ones."""
    request = watch_service_pb2.WatchRequest(collections=["users"], start_revision=0)
    call = stub.Watch(request)
    try:
        async for message in call:
            received_ns = time.time_ns()
            if not message.events:
                watcher.ready.set()
                continue
            for event in message.events:
                etag = event.user.etag
                if etag in watcher.latencies_ns:
                    watcher.duplicates += 1
                watcher.latencies_ns[etag] = received_ns - event.user.update_time.ToNanoseconds()
    except grpc.aio.AioRpcError as error:
        watcher.error = f"{error.code().name}: {error.details()}"
    finally:
        watcher.ready.set()  # an ended stream must not hold up the start; its error is reported


async def _write(users: user_rpc.UserServiceStub, plan: FanoutPlan) -> list[str]:
    """One UpdateUser per id on a fixed schedule (not back to back), returning each write's etag. The bio
    carries a fresh token: an update that changes nothing commits nothing and would never be delivered."""
    token = secrets.token_hex(4)
    loop = asyncio.get_running_loop()
    started = loop.time()
    etags = []
    for k, user_id in enumerate(plan.ids):
        await asyncio.sleep(max(0.0, started + k * plan.spacing_s - loop.time()))
        user = resources_pb2.User(id=user_id, bio=f"watched write {k} of run {token}")
        reply = await users.UpdateUser(user_service_pb2.UpdateUserRequest(user=user), timeout=CALL_TIMEOUT_S)
        etags.append(reply.etag)
    return etags


async def _drain(watchers: list[Watcher], etags: list[str]) -> None:
    """Until every watcher holds every write, or the drain timeout; a straggler is then counted missing."""
    wanted = set(etags)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(wanted <= w.latencies_ns.keys() or w.error for w in watchers):
            return
        await asyncio.sleep(0.02)


def _result(
    plan: FanoutPlan, watchers: list[Watcher], etags: list[str], ready_s: float, writes_s: float
) -> FanoutResult:
    wanted = set(etags)
    latencies = sorted(ns / 1e6 for w in watchers for etag, ns in w.latencies_ns.items() if etag in wanted)
    short = [w for w in watchers if not wanted <= w.latencies_ns.keys()]
    return FanoutResult(
        watchers=len(watchers),
        channels=plan.channels,
        writes=len(etags),
        spacing_s=plan.spacing_s,
        latencies_ms=latencies,
        missing=len(watchers) * len(etags) - len(latencies),
        short_watchers=len(short),
        duplicates=sum(w.duplicates for w in watchers),
        errors=sorted({w.error for w in watchers if w.error}),
        ready_s=ready_s,
        writes_s=writes_s,
    )


async def _fanout(address: str, plan: FanoutPlan) -> FanoutResult:
    channels = [grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) for _ in range(plan.channels + 1)]
    stubs = [watch_rpc.WatchServiceStub(channel) for channel in channels[1:]]
    watchers = [Watcher() for _ in range(plan.watchers)]
    tasks = [asyncio.create_task(_follow(stubs[i % len(stubs)], w)) for i, w in enumerate(watchers)]
    try:
        started = time.monotonic()
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await asyncio.gather(*(w.ready.wait() for w in watchers))
        except TimeoutError:
            raise BenchError(f"not every watcher was caught up within {READY_TIMEOUT_S:.0f}s") from None
        ready_s = time.monotonic() - started
        started = time.monotonic()
        etags = await _write(user_rpc.UserServiceStub(channels[0]), plan)  # the writer's own connection
        writes_s = time.monotonic() - started
        await _drain(watchers, etags)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel in channels:
            await channel.close()
    return _result(plan, watchers, etags, ready_s, writes_s)


def measure_fanout(address: str, plan: FanoutPlan) -> FanoutResult:
    """The whole fan-out in an event loop of its own; the rest of the bench stays synchronous."""
    return asyncio.run(_fanout(address, plan))
