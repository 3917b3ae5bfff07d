"""One benchmark run: every figure measured back to back against both servers, plus their control pairs.

The embedded server (SQLite, in-process cache) and the Redis-backed one (PostgreSQL + Redis) are measured in
the same alternating rounds; then the Redis is killed and the degraded pairs run; h2load comes last.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grpc_health.v1 import health_pb2
from wellspring.v1 import user_service_pb2

from bench import client as c
from bench.auth import AUTH_CONTROL, AuthServer, auth_pairs
from bench.cached import (
    CACHED_CONTROL,
    DEGRADED_CONTROL,
    CachedServer,
    cached_pairs,
    degraded_pairs,
    kill_redis,
    ready,
)
from bench.h2load import QpsResult, Target, measure_qps_ratio, write_body
from bench.pairs import Pair, PairResult, measure_pairs, warm_up
from bench.server import AccessLog, ServerProcess

CONTROL = "control_noop_vs_noop"
GET = "get_vs_noop"
LIST = "list50_vs_noop"
BATCH = "batchget100_speedup"
QPS = "get_qps_vs_noop"
CONTROL_TOLERANCE = 0.05
CONTROLS = {
    CONTROL: "control",
    CACHED_CONTROL: "cached control",
    DEGRADED_CONTROL: "degraded control",
    AUTH_CONTROL: "auth control",
}


@dataclass(frozen=True)
class Settings:
    """Loop bounds, chosen so one run takes about 1.5 minutes on 2 cores and three attempts fit in 5."""

    rounds: int = 40
    calls: int = 100  # per side per round for the cheap calls
    list_calls: int = 50
    batch_samples: int = 3  # each sample of the sequential side is 100 round trips
    batch_calls: int = 30  # BatchGetUsers(100) against Check on the Redis-backed server
    # The hit-ratio workload on the Redis-backed server, once per bench right after seeding (cold cache).
    zipf_calls: int = 3_000
    zipf_s: float = 1.1
    # Each h2load round runs GetUser, Check and Check again. Many short runs cancel drift (other load on the
    # machine) better than a few long ones; 2000 calls take about a second.
    qps_rounds: int = 12
    qps_requests: int = 2_000
    qps_warm_up: int = 2_000
    attempts: int = 3


@dataclass
class RunFigures:
    """What one run measured; the h2load part is absent when a failed control cut the run short."""

    pairs: dict[str, PairResult]
    qps: QpsResult | None = None
    seconds: float = 0.0

    @property
    def control(self) -> float:
        return self.pairs[CONTROL].ratio

    @property
    def controls(self) -> dict[str, float]:
        """Every control pair measured so far: one per server, and one more with the Redis down."""
        return {name: self.pairs[name].ratio for name in CONTROLS if name in self.pairs}

    @property
    def control_ok(self) -> bool:
        return all(abs(value - 1.0) <= CONTROL_TOLERANCE for value in self.controls.values())

    def control_summary(self) -> str:
        return ", ".join(f"{CONTROLS[name]} {value:.3f}" for name, value in self.controls.items())


def progress(message: str) -> None:
    """Progress goes to stderr so stdout holds only the report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def build_pairs(client: c.Client, ids: list[str], settings: Settings) -> list[Pair]:
    """The concurrency-1 pairs; the control compares two independent but identical Check callables."""
    batch_ids = c.batch_ids(ids)
    check = c.check_op(client)
    return [
        Pair(CONTROL, c.check_op(client), c.check_op(client), settings.calls),
        Pair(GET, c.get_user_op(client, ids), check, settings.calls),
        Pair(LIST, c.list_users_op(client), check, settings.list_calls),
        Pair(
            BATCH,
            c.sequential_gets_op(client, batch_ids),
            c.batch_get_op(client, batch_ids),
            settings.batch_samples,
        ),
    ]


def qps_targets(workdir: Path, ids: list[str]) -> tuple[Target, Target]:
    """GetUser of one warm id against health Check, as request bodies h2load can send."""
    get = write_body(workdir / "get_user.bin", user_service_pb2.GetUserRequest(id=ids[len(ids) // 2]))
    check = write_body(workdir / "check.bin", health_pb2.HealthCheckRequest())
    return Target("GetUser", c.GET_USER_METHOD, get), Target("Check", c.CHECK_METHOD, check)


def measure_degraded(cached: CachedServer, settings: Settings) -> dict[str, PairResult]:
    """Kill the Redis, let the breaker open, then GetUser against Check on the server left without it."""
    progress("killing the Redis-backed server's redis-server; GetUser must keep answering")
    kill_redis(cached)
    pairs = degraded_pairs(cached, settings.calls)
    warm_up(pairs)
    progress(f"alternating pairs with Redis down: {settings.rounds} rounds x {len(pairs)} pairs")
    return measure_pairs(pairs, settings.rounds)


def run_once(
    client: c.Client,
    server: ServerProcess,
    log: AccessLog,
    ids: list[str],
    workdir: Path,
    settings: Settings,
    cached: CachedServer,
    auth: AuthServer,
    *,
    last_attempt: bool,
) -> RunFigures:
    """Both servers' pairs in the same rounds, then the degraded pairs, then h2load (the slow part); each
    later step only when every control so far passed, or on the last attempt so the report is complete
    even when it has to be flagged as unreliable."""
    started = time.monotonic()
    ready(cached)  # Redis up (again), read by the server, every id cached
    c.warm(client, ids)
    c.warm(auth.client, auth.ids)
    pairs = [
        *build_pairs(client, ids, settings),
        *cached_pairs(cached, settings.calls, settings.batch_calls),
        *auth_pairs(auth, client, ids, settings.calls),
    ]
    warm_up(pairs)
    progress(f"alternating pairs: {settings.rounds} rounds x {len(pairs)} pairs on both servers")
    figures = RunFigures(measure_pairs(pairs, settings.rounds))
    progress(f"control pairs read {figures.control_summary()}")
    if figures.control_ok or last_attempt:
        figures.pairs.update(measure_degraded(cached, settings))
        progress(f"control pairs read {figures.control_summary()}")
    if figures.control_ok or last_attempt:
        get, check = qps_targets(workdir, ids)
        runs = f"{settings.qps_rounds} rounds of GetUser/Check/Check, {settings.qps_requests} calls per run"
        progress(f"h2load: {runs}, concurrency 64")
        figures.qps = measure_qps_ratio(
            server,
            log,
            get,
            check,
            rounds=settings.qps_rounds,
            requests=settings.qps_requests,
            warm_up=settings.qps_warm_up,
        )
    figures.seconds = time.monotonic() - started
    return figures
