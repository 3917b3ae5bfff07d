"""Prometheus metrics (``WELLSPRING_METRICS_ADDR``), with ``prometheus_client``, on a port of their own.

Two kinds, by what they cost:

* **Per call** (``GrpcMetrics``): the gRPC ecosystem's names and labels (go-grpc-prometheus's, which
  py-grpc-prometheus and grpc-ecosystem dashboards use): ``grpc_server_started_total``,
  ``grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}``, the
  ``grpc_server_handling_seconds`` histogram, ``grpc_server_msg_received_total`` / ``_sent_total``. The
  label children of each method are resolved once (when grpc first routes the method), so a call pays a
  few counter increments and one histogram observation, never a label lookup.
* **Read when scraped** (``ServiceCollector``): the counters the service keeps anyway — the cache tier's,
  the change feed's, the pool's, authentication's and the rate limit's — turned into metric families by a
  custom collector at scrape time. They cost the call path nothing.

Each app has its own ``CollectorRegistry`` (tests run several in one process); process and platform
metrics are registered in it too, with a build-info gauge.
"""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds: from a cached Get (~0.3 ms) to a long Export.
HANDLING_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)
METHOD_LABELS = ("grpc_type", "grpc_service", "grpc_method")
# grpc_code values as go-grpc-prometheus writes them (codes.Code.String()), which the ecosystem's
# dashboards and alerts filter on: "NotFound", not grpc.StatusCode's "NOT_FOUND".
GO_CODE_NAMES = {
    "OK": "OK",
    "CANCELLED": "Canceled",
    "UNKNOWN": "Unknown",
    "INVALID_ARGUMENT": "InvalidArgument",
    "DEADLINE_EXCEEDED": "DeadlineExceeded",
    "NOT_FOUND": "NotFound",
    "ALREADY_EXISTS": "AlreadyExists",
    "PERMISSION_DENIED": "PermissionDenied",
    "RESOURCE_EXHAUSTED": "ResourceExhausted",
    "FAILED_PRECONDITION": "FailedPrecondition",
    "ABORTED": "Aborted",
    "OUT_OF_RANGE": "OutOfRange",
    "UNIMPLEMENTED": "Unimplemented",
    "INTERNAL": "Internal",
    "UNAVAILABLE": "Unavailable",
    "DATA_LOSS": "DataLoss",
    "UNAUTHENTICATED": "Unauthenticated",
}


@dataclass
class MethodMetrics:
    """One method's label children: what a call of it touches."""

    started: Any
    seconds: Any
    received: Any
    sent: Any
    _handled: Callable[[str], Any]
    _by_code: dict[str, Any] = field(default_factory=dict)

    def handled(self, code: str) -> Any:
        """The child of ``code`` (grpc.StatusCode's name), labelled as gRPC's Go library spells codes."""
        child = self._by_code.get(code)
        if child is None:
            child = self._by_code[code] = self._handled(GO_CODE_NAMES.get(code, code))
        return child


def grpc_type(request_streaming: bool, response_streaming: bool) -> str:
    """The grpc_type label, as go-grpc-prometheus names the four kinds."""
    if request_streaming:
        return "bidi_stream" if response_streaming else "client_stream"
    return "server_stream" if response_streaming else "unary"


class GrpcMetrics:
    def __init__(self, registry: CollectorRegistry, exclude: frozenset[str] = frozenset()) -> None:
        self._exclude = exclude  # services left out
        self._started = Counter(
            "grpc_server_started", "RPCs started on the server.", METHOD_LABELS, registry=registry
        )
        self._handled = Counter(
            "grpc_server_handled",
            "RPCs completed on the server, by the status the client received.",
            (*METHOD_LABELS, "grpc_code"),
            registry=registry,
        )
        self._seconds = Histogram(
            "grpc_server_handling_seconds",
            "Time from the start of an RPC to its status, on the server.",
            METHOD_LABELS,
            buckets=HANDLING_BUCKETS,
            registry=registry,
        )
        self._received = Counter(
            "grpc_server_msg_received", "Request messages received.", METHOD_LABELS, registry=registry
        )
        self._sent = Counter(
            "grpc_server_msg_sent", "Response messages sent.", METHOD_LABELS, registry=registry
        )
        self._methods: dict[str, MethodMetrics] = {}

    def refused(self, full_method: str, request_streaming: bool, response_streaming: bool, code: str) -> None:
        """A call refused before the server interceptor saw it (admission, the metadata limit,
        authentication): started and handled with its code, like any other."""
        m = self.method(full_method, grpc_type(request_streaming, response_streaming))
        if m is not None:
            m.started.inc()
            m.handled(code).inc()
            m.seconds.observe(0.0)

    def method(self, full_method: str, grpc_type: str) -> MethodMetrics | None:
        """The children of ``/package.Service/Method`` (only methods grpc routed: the labels are bounded);
        None for a service left out."""
        found = self._methods.get(full_method)
        if found is None:
            service, _, name = full_method.lstrip("/").rpartition("/")
            if service in self._exclude:
                return None
            labels = (grpc_type, service, name)
            found = self._methods[full_method] = MethodMetrics(
                self._started.labels(*labels),
                self._seconds.labels(*labels),
                self._received.labels(*labels),
                self._sent.labels(*labels),
                lambda code: self._handled.labels(*labels, code),
            )
        return found


@dataclass
class FeedLag:
    """How far the change feed's tailer is behind the database's change log: in revisions, and in seconds
    since it first fell behind (0 while caught up). ``observe`` is fed by the app's metrics loop."""

    database_head: int = 0
    behind_since: float | None = None

    def observe(self, database_head: int, tailer_head: int, now: float) -> None:
        self.database_head = max(self.database_head, database_head)
        if tailer_head >= self.database_head:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = now

    def seconds(self, now: float) -> float:
        return 0.0 if self.behind_since is None else now - self.behind_since


@dataclass
class Sources:
    """What the collector reads at scrape time; each returns plain numbers (the app wires them)."""

    cache: Callable[[], Mapping[str, Any]] | None = None
    feed: Callable[[], Mapping[str, int]] | None = None
    lag: FeedLag | None = None
    pool: Callable[[], Mapping[str, int]] | None = None
    database: Callable[[], Mapping[str, int]] | None = None
    auth_failures: Callable[[], Mapping[str, int]] | None = None
    rate_limited: Callable[[], Mapping[str, int]] | None = None
    retried_transactions: Callable[[], int] | None = None
    serving: Callable[[], bool] | None = None


# cache tier counter -> (metric name, help)
CACHE_COUNTERS = {
    "hits": ("wellspring_cache_hits", "Cached reads answered from the cache tier."),
    "misses": ("wellspring_cache_misses", "Cached reads that had to load."),
    "fills": ("wellspring_cache_fills", "Entries written to the cache after a load."),
    "rejected_fills": ("wellspring_cache_rejected_fills", "Fills refused (a newer version or a tombstone)."),
    "tombstones": ("wellspring_cache_tombstones", "Tombstones written by writes."),
    "coalesced": ("wellspring_cache_coalesced_loads", "Reads that joined a load already in flight."),
    "errors": ("wellspring_cache_errors", "Cache operations that failed (answered from the database)."),
    "skipped": ("wellspring_cache_skipped", "Reads that bypassed the cache while its breaker was open."),
    "list_hits": ("wellspring_cache_list_page_hits", "List pages answered from the cache."),
    "list_misses": ("wellspring_cache_list_page_misses", "List pages that were read from the database."),
    "outbox_applied": ("wellspring_cache_outbox_applied", "Outbox invalidations applied after a commit."),
    "delayed_acks": ("wellspring_cache_delayed_acks", "Writes acknowledged only after the outbox drained."),
    "breaker_openings": ("wellspring_cache_breaker_openings", "Times the cache breaker opened."),
}
BREAKER_STATES = ("closed", "half_open", "open")


class ServiceCollector(Collector):
    """The service's own figures, read when Prometheus scrapes (see the module docstring)."""

    def __init__(self, sources: Sources, clock: Callable[[], float] = time.monotonic) -> None:
        self._sources = sources
        self._clock = clock

    def collect(self) -> Iterator[Any]:
        s = self._sources
        if s.serving is not None:
            yield _gauge("wellspring_serving", "1 while health says SERVING.", s.serving())
        if s.cache is not None:
            yield from _cache_families(s.cache())
        if s.feed is not None:
            feed = s.feed()
            yield _gauge(
                "wellspring_feed_head_revision",
                "The revision the change-feed tailer has reached.",
                feed["head"],
            )
            yield _gauge(
                "wellspring_feed_watchers", "Watch streams subscribed to the feed.", feed["watchers"]
            )
            yield _counter(
                "wellspring_feed_events_fanned_out", "Events handed to watchers.", feed["fanned_out"]
            )
            yield _counter(
                "wellspring_feed_watchers_too_slow",
                "Watch streams ended because they fell behind.",
                feed["too_slow"],
            )
            if s.lag is not None:
                now = self._clock()
                yield _gauge(
                    "wellspring_database_head_revision",
                    "The change log's latest revision.",
                    s.lag.database_head,
                )
                yield _gauge(
                    "wellspring_feed_lag_revisions",
                    "Revisions the tailer is behind the change log.",
                    max(0, s.lag.database_head - feed["head"]),
                )
                yield _gauge(
                    "wellspring_feed_lag_seconds",
                    "Seconds the tailer has been behind the change log.",
                    s.lag.seconds(now),
                )
        if s.pool is not None:
            pool = s.pool()
            for key, what in (("size", "Connections the pool keeps."), ("in_use", "Connections checked out."),
                              ("overflow", "Connections open beyond the pool size.")):  # fmt: skip
                yield _gauge(f"wellspring_db_pool_{key}", what, pool.get(key, 0))
        if s.database is not None:
            db = s.database()
            yield _gauge(
                "wellspring_idempotency_rows", "Request ids kept for replays.", db.get("idempotency_rows", 0)
            )
            yield _gauge(
                "wellspring_change_log_rows", "Rows in the change log.", db.get("change_log_rows", 0)
            )
            yield _gauge(
                "wellspring_change_log_compacted_revision",
                "The compaction watermark: revisions up to it are gone.",
                db.get("compacted", 0),
            )
        if s.retried_transactions is not None:
            yield _counter(
                "wellspring_db_retried_transactions",
                "Write transactions run again after a concurrency conflict.",
                s.retried_transactions(),
            )
        if s.auth_failures is not None:
            family = CounterMetricFamily(
                "wellspring_auth_failures", "Calls refused by authentication, by reason.", labels=["reason"]
            )
            for reason, count in sorted(s.auth_failures().items()):
                family.add_metric([reason], count)
            yield family
        if s.rate_limited is not None:
            family = CounterMetricFamily(
                "wellspring_rate_limited",
                "Calls refused by the rate limit, by method.",
                labels=["grpc_method"],
            )
            for method, count in sorted(s.rate_limited().items()):
                family.add_metric([method.rpartition("/")[2]], count)
            yield family


def _cache_families(snapshot: Mapping[str, Any]) -> Iterator[Any]:
    for key, (name, what) in CACHE_COUNTERS.items():
        yield _counter(name, what, snapshot.get(key, 0))
    state = GaugeMetricFamily(
        "wellspring_cache_breaker_state",
        "The cache breaker's state (1 for the current one).",
        labels=["state"],
    )
    for name in BREAKER_STATES:
        state.add_metric([name], 1.0 if snapshot.get("breaker_state") == name else 0.0)
    yield state
    yield _gauge(
        "wellspring_cache_lease_held",
        "1 while this replica holds the cache lease.",
        bool(snapshot.get("leased")),
    )
    yield _gauge(
        "wellspring_cache_outbox_pending",
        "Outbox invalidations not applied yet.",
        snapshot.get("outbox_pending", 0),
    )


def _gauge(name: str, what: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, what, value=float(value))


def _counter(name: str, what: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, what, value=float(value))


def build_info() -> tuple[str, str]:
    """The version installed and the git commit: ``WELLSPRING_GIT_COMMIT`` (set by an image build), else
    the checkout's HEAD if this runs from one, else "unknown"."""
    try:
        version = importlib.metadata.version("wellspring")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    commit = os.environ.get("WELLSPRING_GIT_COMMIT", "")
    if not commit:
        root = Path(__file__).resolve().parents[2]
        try:
            done = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                capture_output=True,
                text=True,
                timeout=2,
            )
            commit = done.stdout.strip() if done.returncode == 0 else ""
        except (OSError, subprocess.SubprocessError):
            commit = ""
    return version, commit or "unknown"


class Metrics:
    """The app's registry, its per-call metrics, and the HTTP endpoint once started."""

    def __init__(self, addr: str, exclude: frozenset[str] = frozenset()) -> None:
        self.addr = addr
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.grpc = GrpcMetrics(self.registry, exclude)
        self.lag = FeedLag()
        self.query_seconds = Histogram(
            "wellspring_db_query_seconds",
            "Time of each SQL statement.",
            buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 2.5),
            registry=self.registry,
        )
        version, commit = build_info()
        info = GaugeMetricFamily(
            "wellspring_build_info", "The running build (1).", labels=["version", "git_commit"]
        )
        info.add_metric([version, commit], 1.0)
        self.registry.register(_Fixed([info]))
        self._server: WSGIServer | None = None
        self.port = 0
        # Row counts and the compaction watermark, refreshed by the app's metrics loop.
        self.database_state: dict[str, int] = {}

    def watch(self, sources: Sources) -> None:
        self.registry.register(ServiceCollector(sources))

    def start(self) -> None:
        host, _, port = self.addr.rpartition(":")
        server, _thread = start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)
        self._server = server
        self.port = server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _Fixed(Collector):
    def __init__(self, families: list[Any]) -> None:
        self._families = families

    def collect(self) -> Iterator[Any]:
        yield from self._families
