"""The composition root: builds database, use cases, servicers and the server. Nothing runs at import."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import grpc
import sqlalchemy as sa
from grpc_health.v1 import _async as health_aio  # what grpc_health.v1.health exports as `aio`
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.pool import QueuePool
from wellspring.v1 import watch_service_pb2
from wellspring.v1 import watch_service_pb2_grpc as watch_rpc

from service.api.admission import Admission
from service.api.auth import Authentication
from service.api.bindings import BINDINGS
from service.api.convert import encode_event
from service.api.interceptors import ServerInterceptor
from service.api.limits import MetadataLimit
from service.api.privacy import private_fields, public_parts
from service.api.ratelimit import RateLimit
from service.api.resources import ResourceApi, add_to_server
from service.api.watch import WatchServicer
from service.auth.budgets import Budgets, parse_limit
from service.auth.scopes import COST_BY_VERB
from service.auth.tokens import TokenVerifier
from service.cache.redis_store import RedisStore
from service.cache.status import CACHE_HEALTH_SERVICE
from service.cache.stores import CacheStore, MemoryStore
from service.cache.tier import CachePolicy, CacheTier
from service.changes.feed import ChangeFeed, FeedLimits
from service.config import ConfigError, Settings
from service.domain.specs import REGISTRY
from service.handlers.coherence import Coherence
from service.handlers.common import RETRIED, Clock, wall_clock_us
from service.handlers.maintenance import Maintenance
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from service.malloc import return_freed_memory
from service.observability.metrics import GrpcMetrics, Metrics, Sources
from service.repository.base import Database
from service.repository.database import DatabaseProblem, describe, open_database, problem
from service.repository.migrate import head_revision, is_known_revision, upgrade

if TYPE_CHECKING:  # the SDK is imported only when tracing is on (it costs start-up time)
    from service.observability.tracing import Tracing

log = logging.getLogger("wellspring")


class ListenError(OSError):
    """The configured address cannot be bound."""


_CLOSE_TIMEOUT_S = 3.0
# After the signal the server keeps dispatching at most this long for gRPC's core to hand over the calls
# it had already accepted (Admission.settled); counted within the grace.
_SETTLE_MAX_S = 1.0
# Once every admitted call has finished, gRPC's own stop waits at most this for what is left (see _drain):
# it returns as soon as nothing is left, so only streams stalled behind an unread message hold it all.
# 0.25 s was too short on a loaded 2-core machine: a late call's refusal still being answered was
# cancelled (the client saw CANCELLED instead of UNAVAILABLE SERVER_SHUTTING_DOWN).
_STOP_GRACE_S = 1.0

SERVICE_NAMES = (
    *(BINDINGS[spec.collection].service.full_name for spec in REGISTRY),
    watch_service_pb2.DESCRIPTOR.services_by_name["WatchService"].full_name,
)


@dataclass
class App:
    """A built, not yet started, service."""

    settings: Settings
    server: grpc.aio.Server
    port: int
    database: Database
    health: health_aio.HealthServicer
    interceptor: ServerInterceptor
    resources: dict[str, ResourceHandlers[Any, Any]]  # every registered collection's use cases
    cache: CacheTier | None
    maintenance: Maintenance
    coherence: Coherence | None
    feed: ChangeFeed
    admission: Admission

    @property
    def address(self) -> str:
        host = self.settings.addr.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    # The schema revision the database must be at (checked before SERVING); None: not checked (a
    # database passed in by a test).
    required_revision: str | None = None
    # Migrate to required_revision in the readiness path (WELLSPRING_MIGRATE_ON_START): a database that
    # is not there yet is retried like any first contact, with the port bound and health NOT_SERVING.
    migrate_on_start: bool = False
    # Awaited once the database answers, before health says SERVING (``--seed-demo``'s seeding).
    on_ready: Callable[[], Awaitable[None]] | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _hurry: asyncio.Event = field(default_factory=asyncio.Event)
    _loops: asyncio.Task[None] | None = None  # the TaskGroup of the three below (``_supervise``)
    _readiness: asyncio.Task[None] | None = None
    _coherence_loop: asyncio.Task[None] | None = None
    _tailer: asyncio.Task[None] | None = None
    # WELLSPRING_METRICS_ADDR: the registry and its HTTP endpoint (started in ``bootstrap``)
    metrics: Metrics | None = None
    # OTEL_TRACES_EXPORTER: the tracer provider and its exporter (flushed on stop)
    tracing: Tracing | None = None
    serving: bool = False  # what health last said (the metrics' wellspring_serving)
    _observer: asyncio.Task[None] | None = None

    async def start(self, on_ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Listen at once; health says SERVING only once the database answers (retried with backoff)
        and ``on_ready``, if given, has run."""
        if on_ready is not None:
            self.on_ready = on_ready
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        self._loops = asyncio.create_task(self._supervise(), name="background loops")

    async def _supervise(self) -> None:
        """The background loops in one TaskGroup: readiness (then health and purges), the change feed's
        tailer, cache coherence. One that fails cancels the others and ends the group with its error,
        which ``until`` raises: a replica whose feed or coherence loop died must stop (and be restarted)
        rather than serve on without it. ``stop`` cancels them one by one, in its order."""
        async with asyncio.TaskGroup() as group:
            self._readiness = group.create_task(self._become_ready(), name="readiness")
            self._tailer = group.create_task(self.feed.run(), name="change-feed tailer")
            if self.coherence is not None:
                self._coherence_loop = group.create_task(self.coherence.run(), name="cache coherence")
            if self.metrics is not None:
                self._observer = group.create_task(self._observe(self.metrics), name="metrics")

    async def _observe(self, metrics: Metrics, interval_s: float = 1.0, counts_every: int = 15) -> None:
        """What the metrics read from the database, which a scrape (a thread) cannot ask for itself: the
        change log's head each second (the feed's lag), the row counts every ``counts_every`` seconds.
        A failed read is skipped (health reports the database); the figures keep their last values."""
        tick = 0
        while True:
            try:
                async with self.database.reading() as uow:
                    head = await uow.changes.latest()
                    if tick % counts_every == 0:
                        metrics.database_state.update(
                            change_log_rows=await uow.changes.count(),
                            idempotency_rows=await uow.idempotency.count(),
                            compacted=await uow.changes.compacted(),
                        )
                metrics.lag.observe(head, self.feed.head, time.monotonic())
            except Exception as error:  # the database is away: readiness says so
                log.debug("metrics: database figures skipped (%s)", type(error).__name__)
            tick += 1
            await asyncio.sleep(interval_s)

    async def _become_ready(self, max_delay_s: float = 5.0) -> None:
        """Wait for the database, then keep watching it: health follows it (NOT_SERVING while it is
        down), and expired idempotency keys are purged now and then. A problem no retry can fix (no
        such database or role, a bad password, an unmigrated schema) ends the task with it as
        ``DatabaseProblem``: ``until`` raises it, and ``serve`` stops the process."""
        delay = 0.05
        while True:
            try:
                await self._first_contact()
                if self.on_ready is not None:
                    await self.on_ready()
                break
            except Exception as error:  # transient ones (refused, unresolvable host) mean "not yet"
                found = problem(error, self.settings.database_url)
                if found.permanent:
                    raise found from None
                log.warning("database not answering: %s; retrying in %.2fs", found, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay_s)
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)
        self.ready.set()
        log.info(
            "serving on %s (database: %s; cache: %s; event loop: %s)",
            self.address,
            self.settings.database_url.split("://")[0],
            describe_cache(self.settings, self.cache),
            type(asyncio.get_running_loop()).__module__.split(".")[0],
        )
        await self._watch()

    async def _first_contact(self) -> None:
        if self.required_revision is not None:
            at = await self.database.schema_revision()
            if at is not None and not is_known_revision(at):
                # a newer build migrated it (a rolling deploy): serving a schema we do not know is unsafe
                raise DatabaseProblem(
                    f"the database schema is at {at}, newer than this build (head {self.required_revision}):"
                    f" deploy the newer version or downgrade ({describe(self.settings.database_url)})",
                    permanent=True,
                )
            if at != self.required_revision and self.migrate_on_start:
                url, create_dirs = self.settings.database_url, self.settings.sqlite_create_dirs
                await asyncio.to_thread(upgrade, url, self.required_revision, create_dirs=create_dirs)
                at = await self.database.schema_revision()
            if at != self.required_revision:
                raise DatabaseProblem(
                    f"database is not migrated (at {at or 'no revision'}, need {self.required_revision}):"
                    f" run `make migrate` ({describe(self.settings.database_url)})",
                    permanent=True,
                )
        await self.database.ping()

    async def until(self, *events: asyncio.Event) -> None:
        """Until one of ``events`` is set; raises what ended the background loops if that comes first
        (the start's ``DatabaseProblem``, or a loop's unexpected error)."""
        waiters = {asyncio.create_task(event.wait()) for event in events}
        loops = {self._loops} if self._loops is not None else set()
        try:
            await asyncio.wait(waiters | loops, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        ended = self._loops is not None and self._loops.done() and not self._loops.cancelled()
        if ended and not any(event.is_set() for event in events):
            assert self._loops is not None
            raise _first_error(self._loops)

    def hurry(self) -> None:
        """End the shutdown's drain now (a second signal: the operator does not want to wait)."""
        self._hurry.set()

    async def _watch(self) -> None:
        serving, last_purge = True, 0.0
        while True:
            await asyncio.sleep(self.settings.health_interval_s)
            try:
                await self.database.ping()
                if time.monotonic() - last_purge > self.settings.idempotency_purge_interval_s:
                    last_purge = time.monotonic()
                    purged = await self.maintenance.purge_idempotency_keys()
                    if purged:
                        log.info("purged %d expired idempotency keys", purged)
                    compacted = await self.maintenance.compact_change_log()
                    if compacted:
                        log.info("compacted %d change-log rows", compacted)
                healthy = True
            except Exception as error:  # the database is unreachable, or the purge failed with it
                log.warning("database check failed: %s", problem(error, self.settings.database_url))
                healthy = False
            if healthy != serving:
                serving = healthy
                status = (
                    health_pb2.HealthCheckResponse.SERVING
                    if healthy
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                await self._set_all(status)

    async def stop(self, grace_s: float | None = None) -> bool:
        """Shut down; True when every admitted call finished within the grace (``shutdown_grace_s`` unless
        ``grace_s`` is given, counted from the end of the drain). The order is decided here:

        1. Listener and admission. Health turns NOT_SERVING and Watch streams end at once with where to
           resume (an open Watch would otherwise hold the grace). For ``shutdown_drain_s`` (1 s by
           default; skipped when never SERVING, cut short by ``hurry``) the port stays open and new
           calls still run, for load balancers to see NOT_SERVING and move away (Settings says how long
           they need); then the server keeps dispatching until gRPC's core has handed over every call
           it had accepted (``Admission.settled``, at most ``_SETTLE_MAX_S``): core's shutdown cancels
           the calls still queued in it, so ``server.stop`` must wait. From then on new calls
           are refused UNAVAILABLE with RetryInfo.
        2. In-flight calls run to completion within the grace. Then ``server.stop``: GOAWAY, the port
           closes, and what still runs when the grace is over is cancelled.
        3. The change feed's tailer: no watcher is left to feed.
        4. The cache tier and coherence: a write in flight records and applies its invalidations through
           them, so the lease loop stops and Redis closes only now, after one last renewal that deletes
           the applied outbox rows and applies any failed ones, and the invalidations of writes the
           grace cancelled after their commit (applied, or marked failed for the other replicas to
           apply before they lease again). What a kill -9 leaves pending, a starting replica applies
           before its first lease (Coherence).
        5. The database, last: every step above may use it. Steps 3-5 are bounded by ``_CLOSE_TIMEOUT_S``.
        """
        grace = self.settings.shutdown_grace_s if grace_s is None else grace_s
        if self._readiness is not None:  # health stays NOT_SERVING; no purge competes with the calls
            self._readiness.cancel()
        await self.health.enter_graceful_shutdown()
        self.feed.close()
        if self.ready.is_set():  # one that never said SERVING has no balancer to wait for
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.shutdown_drain_s):
                    await self._hurry.wait()
        finished = await self._drain(grace)
        await self._close_backends()
        return finished

    async def _drain(self, grace_s: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        await self.admission.settled(min(_SETTLE_MAX_S, grace_s))
        self.admission.close()
        finished = await self.admission.drained(deadline - loop.time())
        if not finished:
            log.warning(
                "the shutdown grace of %.1fs ran out with %d calls still running; cancelling them",
                grace_s,
                self.admission.running,
            )
        # Calls that arrived meanwhile are answered (refused) before core's shutdown could cancel them.
        await self.admission.settled(min(_SETTLE_MAX_S, max(deadline - loop.time(), 0.0)))
        self.admission.finish()
        # What is left: refusals finishing their answer, health Watches just told to end, and streams
        # ended for stalling whose answer waits behind a message their client does not read (they gave
        # their slot back and will not finish by themselves). A moment for the first two, then GOAWAY.
        await self.server.stop(min(max(deadline - loop.time(), 0.0), _STOP_GRACE_S))
        return finished

    async def _close_backends(self) -> None:
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await _cancelled(self._tailer)
                await _cancelled(self._coherence_loop)
                await _cancelled(self._observer)
                if self._loops is not None:  # what ended it early was raised by ``until``
                    self._loops.cancel()
                    await asyncio.wait({self._loops})
                if self.coherence is not None:
                    await self.coherence.renew()
                if self.cache is not None:
                    await self.cache.store.close()
                if self.interceptor.rate_limit is not None:
                    await self.interceptor.rate_limit.budgets.close()
                await self.database.close()
                if self.metrics is not None:
                    self.metrics.stop()
                if self.tracing is not None:
                    await asyncio.to_thread(self.tracing.shutdown)  # the last batch's export
        except TimeoutError:
            log.warning("closing connections took over %.0fs; leaving them", _CLOSE_TIMEOUT_S)

    async def _set_all(self, status: int) -> None:
        self.serving = status == health_pb2.HealthCheckResponse.SERVING
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)


async def _cancelled(task: asyncio.Task[None] | None) -> None:
    """Cancel a background loop and wait for it to end (``asyncio.wait`` neither raises the loop's error
    nor swallows a cancellation of the caller, such as the close timeout's)."""
    if task is None:
        return
    task.cancel()
    await asyncio.wait({task})
    if not task.cancelled() and task.exception() is not None:
        log.error("%s had failed", task.get_name(), exc_info=task.exception())


def _first_error(loops: asyncio.Task[None]) -> BaseException:
    """What ended the TaskGroup of background loops: its first error (the others are logged)."""
    error = loops.exception()
    if isinstance(error, BaseExceptionGroup):
        for other in error.exceptions[1:]:
            log.error("a background loop also failed", exc_info=other)
        return error.exceptions[0]
    return error or RuntimeError("the background loops ended")


def _server_credentials(settings: Settings, *, client_ca: bool = False) -> grpc.ServerCredentials | None:
    """TLS from the PEM files named in the settings, or None for plaintext; with ``client_ca``, TLS that
    requires a client certificate signed by the client CA (grpc requests one only when it requires it)."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    try:
        with open(settings.tls_key_file, "rb") as key, open(settings.tls_cert_file, "rb") as cert:
            pairs = [(key.read(), cert.read())]
    except OSError as error:
        names = "WELLSPRING_TLS_KEY_FILE/WELLSPRING_TLS_CERT_FILE"
        raise ConfigError(f"{names}: cannot read the TLS key or certificate: {error}") from None
    if not client_ca or settings.tls_client_ca_file is None:
        return grpc.ssl_server_credentials(pairs)
    try:
        with open(settings.tls_client_ca_file, "rb") as ca:
            roots = ca.read()
    except OSError as error:
        raise ConfigError(f"WELLSPRING_TLS_CLIENT_CA_FILE: cannot read it: {error}") from None
    return grpc.ssl_server_credentials(pairs, root_certificates=roots, require_client_auth=True)


def connection_options(settings: Settings) -> list[tuple[str, int]]:
    """gRPC core's per-connection limits (names and meanings: grpc/impl/channel_arg_names.h and
    doc/keepalive.md). Streams past ``max_concurrent_streams`` are refused by HTTP/2 itself (a gRPC
    client queues them); metadata past ``max_metadata_bytes`` is RESOURCE_EXHAUSTED, always (soft limit =
    hard limit, so nothing is refused at random); a client pinging more often than allowed without data
    gets a GOAWAY after ``max_ping_strikes``; idle connections (no call open) and old ones are closed
    with a GOAWAY, old ones after a grace for the calls on them."""

    def ms(seconds: float) -> int:
        return min(int(seconds * 1000), 2**31 - 1)

    options = [
        ("grpc.max_concurrent_streams", settings.max_concurrent_streams),
        # Core's "overload protection" (on by default) keeps counting a finished stream against the limit
        # until the application has freed it, and resets new streams meanwhile with REFUSED_STREAM, which
        # grpc.aio clients surface as UNAVAILABLE "Stream removed" (measured: 23 of 300 concurrent calls
        # on one channel). The admission cap bounds what the application holds; the transport's count of
        # open streams is the per-connection bound.
        ("grpc.http.overload_protection", 0),
        ("grpc.max_metadata_size", settings.max_metadata_bytes),
        ("grpc.absolute_max_metadata_size", settings.max_metadata_bytes),
        ("grpc.keepalive_time_ms", ms(settings.keepalive_time_s)),
        ("grpc.keepalive_timeout_ms", ms(settings.keepalive_timeout_s)),
        ("grpc.http2.min_ping_interval_without_data_ms", ms(settings.keepalive_min_ping_interval_s)),
        ("grpc.keepalive_permit_without_calls", int(settings.keepalive_permit_without_calls)),
        ("grpc.http2.max_ping_strikes", settings.keepalive_max_ping_strikes),
    ]
    if settings.max_connection_idle_s:
        options.append(("grpc.max_connection_idle_ms", ms(settings.max_connection_idle_s)))
    if settings.max_connection_age_s:
        options.append(("grpc.max_connection_age_ms", ms(settings.max_connection_age_s)))
        options.append(("grpc.max_connection_age_grace_ms", ms(settings.max_connection_age_grace_s)))
    return options


def build_cache(settings: Settings) -> CacheTier:
    """Redis when WELLSPRING_REDIS_URL is set, else the in-process stand-in with the same rules. The
    stand-in is only used on the embedded (single-process) default: with a shared database and no Redis,
    replicas could serve each other's overwritten values, so there is no cache at all."""
    store: CacheStore
    if settings.redis_url:
        store = RedisStore(
            settings.redis_url,
            prefix=settings.cache_prefix,
            socket_timeout_s=max(settings.redis_timeout_s, 0.5),
        )
    else:
        store = MemoryStore(max_bytes=settings.cache_max_bytes)
    policy = CachePolicy(
        ttl_s=settings.cache_ttl_s,
        op_timeout_s=settings.redis_timeout_s,
        list_max_bytes=settings.cache_list_max_bytes,
    )
    return CacheTier(store, prefix=settings.cache_prefix, policy=policy)


def describe_cache(settings: Settings, cache: CacheTier | None) -> str:
    """Which cache tier is active, for the start-up line."""
    if cache is not None:
        return cache.store.describe()
    if not settings.cache_enabled:
        return "none (WELLSPRING_CACHE=0)"
    return "none (a shared database without WELLSPRING_REDIS_URL)"


def watch_cache(
    cache: CacheTier | None, health_servicer: health_aio.HealthServicer, interval_s: float
) -> None:
    """Health service "wellspring.cache": SERVING while the cache answers, NOT_SERVING while Redis does not
    (probed every ``interval_s``, outages logged: service/cache/status.py); unknown (NOT_FOUND) when
    there is no cache. The overall "" status does not follow it: calls keep working without the cache,
    and restarting a replica would not bring Redis back."""
    if cache is None:
        return

    async def publish(up: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if up else health_pb2.HealthCheckResponse.NOT_SERVING
        await health_servicer.set(CACHE_HEALTH_SERVICE, status)

    cache.store.watch(publish, interval_s=interval_s)


async def bootstrap(
    settings: Settings,
    *,
    database: Database | None = None,
    cache: CacheTier | None = None,
    clock: Clock = wall_clock_us,
    tracing: Tracing | None = None,
) -> App:
    """The port is bound and the TLS files read first: a start that cannot listen fails before it
    touches (creates, migrates) the database. A failure after that closes the port again. ``tracing``
    (a test's, with its own exporter) stands in for the one OTEL_TRACES_EXPORTER would configure."""
    if tracing is None and settings.traces_exporter is not None:
        from service.observability.tracing import Tracing

        tracing = Tracing.from_environment(settings.traces_exporter)
    # First: refusals (overload, shutdown) cost nothing downstream, and it counts what a shutdown waits for.
    metrics = None
    if settings.metrics_addr is not None:
        metrics = Metrics(settings.metrics_addr, settings.metrics_exclude)
    per_call = metrics.grpc if metrics is not None else None
    admission = Admission(
        max_concurrent_rpcs=settings.max_concurrent_rpcs, log_calls=settings.access_log, metrics=per_call
    )
    interceptor = ServerInterceptor(
        log_calls=settings.access_log,
        stall_s=settings.stream_stall_s,
        rate_limit=_rate_limit(settings),
        metrics=per_call,
        trace_ids=tracing is not None,
    )
    authentication = _authentication(settings, per_call)
    server = _server(settings, admission, interceptor, authentication, tracing)
    port = _listen(server, settings)
    try:
        if metrics is not None:
            _listen_metrics(metrics)
        required_revision = None
        if database is None:
            database = _open_database(settings)
            required_revision = head_revision()
        app = _assemble(settings, server, port, database, cache, clock, admission, interceptor, tracing)
        if tracing is not None:
            _instrument(app, tracing)
        if metrics is not None:
            app.metrics = metrics
            _watch_metrics(app, metrics, authentication)
    except BaseException:
        await server.stop(None)
        if metrics is not None:
            metrics.stop()
        if tracing is not None:
            tracing.shutdown()
        raise
    app.required_revision = required_revision
    app.migrate_on_start = required_revision is not None and settings.migrate_on_start
    return app


def _rate_limit(settings: Settings) -> RateLimit | None:
    """Each caller's budget, shared through Redis when there is one (None: no rate limit)."""
    limit = settings.effective_rate_limit
    if limit is None:
        return None
    item = parse_limit(limit)
    most = max(COST_BY_VERB.values())
    if item.amount < most:
        raise ConfigError(
            f"WELLSPRING_RATE_LIMIT must allow at least {most} units (one Export), got {limit!r}"
        )
    budgets = Budgets(
        limit, redis_url=settings.redis_url, prefix=settings.cache_prefix, timeout_s=settings.redis_timeout_s
    )
    return RateLimit(budgets, settings.rate_limit_exempt)


def _authentication(settings: Settings, metrics: GrpcMetrics | None = None) -> list[Authentication]:
    """The token (and client-certificate) check, when authentication is on (an empty list when off)."""
    if not settings.auth_on:
        return []
    verifier = None
    if settings.auth == "jwt":
        verifier = TokenVerifier(
            secret=settings.auth_hs256_secret,
            jwks=settings.auth_jwks,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            leeway_s=settings.auth_leeway_s,
        )
    certificates = settings.auth_client_cert_scopes if settings.mtls_addr is not None else None
    return [
        Authentication(
            verifier,
            reflection_open=settings.reflection_on,
            log_calls=settings.access_log,
            certificate_scopes=certificates,
            metrics=metrics,
        )
    ]


def _listen_metrics(metrics: Metrics) -> None:
    try:
        metrics.start()
    except OSError as error:
        raise ListenError(
            f"WELLSPRING_METRICS_ADDR: cannot listen on {metrics.addr}: {error.strerror or error}"
        ) from None


def _watch_metrics(app: App, metrics: Metrics, authentication: list[Authentication]) -> None:
    """What the metrics read when scraped, from the parts of ``app`` that count it."""
    feed, cache, rate_limit = app.feed, app.cache, app.interceptor.rate_limit

    def feed_state() -> dict[str, int]:
        return {"head": feed.head, "watchers": feed.watchers, "fanned_out": feed.fanned_out,
                "too_slow": feed.too_slow}  # fmt: skip

    # A scrape runs on the metrics server's thread: counters the event loop mutates are copied with one C
    # call each (dict(...), atomic under the GIL) before they are iterated.
    def auth_failures() -> dict[str, int]:
        total: Counter[str] = Counter()
        for check in authentication:
            total.update(dict(check.failures))
        return dict(total)

    metrics.watch(
        Sources(
            cache=cache.snapshot if cache is not None else None,
            feed=feed_state,
            lag=metrics.lag,
            pool=lambda: _pool_state(app.database),
            database=lambda: metrics.database_state,
            auth_failures=auth_failures if authentication else None,
            rate_limited=(lambda: dict(rate_limit.refused)) if rate_limit is not None else None,
            retried_transactions=lambda: RETRIED["transactions"],
            serving=lambda: app.serving,
        )
    )
    engine = _sync_engine(app.database)
    if engine is not None:
        _time_statements(engine, metrics.query_seconds)


def _instrument(app: App, tracing: Tracing) -> None:
    """Statements and Redis commands into the calls' traces (service/observability/tracing.py)."""
    app.tracing = tracing
    engine = _sync_engine(app.database)
    if engine is not None:
        tracing.instrument_engine(engine)
    if app.cache is not None and isinstance(app.cache.store, RedisStore):
        tracing.instrument_redis(app.cache.store)


def _sync_engine(database: Database) -> sa.Engine | None:
    engine = getattr(database, "engine", None)
    engine = getattr(engine, "sync_engine", engine)  # PostgreSQL's is an AsyncEngine
    return engine if isinstance(engine, sa.Engine) else None


def _pool_state(database: Database) -> dict[str, int]:
    engine = getattr(database, "engine", None)
    pool = getattr(getattr(engine, "sync_engine", engine), "pool", None)
    if not isinstance(pool, QueuePool):
        return {}
    return {"size": pool.size(), "in_use": pool.checkedout(), "overflow": max(0, pool.overflow())}


def _time_statements(engine: sa.Engine, histogram: Any) -> None:
    """Every SQL statement's time into ``histogram``: SQLAlchemy's cursor events (a few µs each)."""

    def before(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool) -> None:
        conn.info["wellspring_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: Any, params: Any, context: Any, many: bool) -> None:
        started = conn.info.pop("wellspring_started", None)
        if started is not None:
            histogram.observe(time.perf_counter() - started)

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)


def _server(
    settings: Settings,
    admission: Admission,
    interceptor: ServerInterceptor,
    authentication: list[Authentication],
    tracing: Tracing | None = None,
) -> grpc.aio.Server:
    server = grpc.aio.server(
        # oversized metadata is refused after admission has counted the call (service/api/limits.py), and
        # before a token in it is parsed
        interceptors=[
            admission,
            MetadataLimit(
                settings.max_metadata_bytes, log_calls=settings.access_log, metrics=interceptor.metrics
            ),
            # the call's span: refusals by authentication are traced too, the others are not worth it
            *([tracing.server_interceptor()] if tracing is not None else []),
            *authentication,
            interceptor,
        ],
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            # responses are kept under max_response_bytes by the servicers; the margin covers framing
            ("grpc.max_send_message_length", settings.max_response_bytes + 64 * 1024),
            ("grpc.so_reuseport", 0),
            *connection_options(settings),
        ],
    )
    admission.attach()  # finds this server's call counts in channelz, for the shutdown's settle
    return server


def _listen(server: grpc.aio.Server, settings: Settings) -> int:
    """Bind (core binds here and listens from ``start``): a taken port is known before anything else."""
    credentials = _server_credentials(settings)
    port = _bind(server, "WELLSPRING_ADDR", settings.addr, credentials)
    if settings.mtls_addr is not None:
        _bind(
            server, "WELLSPRING_MTLS_ADDR", settings.mtls_addr, _server_credentials(settings, client_ca=True)
        )
    return port


def _bind(server: grpc.aio.Server, name: str, addr: str, credentials: grpc.ServerCredentials | None) -> int:
    try:
        port = (
            server.add_insecure_port(addr)
            if credentials is None
            else server.add_secure_port(addr, credentials)
        )
    except RuntimeError as error:  # grpc's "Failed to bind": the port is taken or the host is not ours
        raise ListenError(f"{name}: cannot listen on {addr}: {error}") from None
    if port == 0:
        raise ListenError(f"{name}: cannot listen on {addr}")
    return port


def _open_database(settings: Settings) -> Database:
    # Not migrated here: App._first_contact does it (WELLSPRING_MIGRATE_ON_START), retrying while the
    # database is not there yet.
    return open_database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout_s=settings.db_pool_timeout_s,
        export_slots=settings.export_max_concurrent,
        # A safety net under the stall timeout: PostgreSQL itself ends a snapshot left idle longer.
        snapshot_idle_timeout_s=settings.stream_stall_s + 30,
        create_dirs=settings.sqlite_create_dirs,
    )


def _assemble(
    settings: Settings,
    server: grpc.aio.Server,
    port: int,
    database: Database,
    cache: CacheTier | None,
    clock: Clock,
    admission: Admission,
    interceptor: ServerInterceptor,
    tracing: Tracing | None = None,
) -> App:
    tokens = PageTokens(settings.page_token_secret)
    if cache is None and settings.cache_enabled and (settings.redis_url or settings.is_embedded):
        cache = build_cache(settings)
    # A shared store (Redis) needs the outbox and read leases; the in-process one cannot miss a write.
    coherence = (
        Coherence(database, cache, abandoned_after_s=settings.cache_abandoned_after_s, clock_us=clock)
        if cache is not None and settings.redis_url
        else None
    )
    resources: dict[str, ResourceHandlers[Any, Any]] = {}
    for spec in REGISTRY:
        binding = BINDINGS[spec.collection]
        handlers = resources[spec.collection] = ResourceHandlers(
            spec, database, tokens, encode=binding.encode, cache=cache, clock=clock, coherence=coherence
        )
        api = ResourceApi(
            binding,
            handlers,
            max_response_bytes=settings.max_response_bytes,
            export_max_s=settings.export_max_s,
        )
        add_to_server(binding, api, server)
    limits = FeedLimits(
        queue_events=settings.watch_queue_events,
        progress_s=settings.watch_progress_s,
        max_watchers=settings.watch_max_watchers,
        max_watchers_per_connection=settings.watch_max_per_connection,
        max_watchers_per_principal=settings.watch_max_per_principal,
    )
    private = {
        name: fields
        for name, b in BINDINGS.items()
        if (fields := private_fields(b.spec, b.message)) is not None
    }
    feed = ChangeFeed(database, encode_event, limits, public_part=public_parts(private))
    tracer = tracing.tracer if tracing is not None else None
    watch_rpc.add_WatchServiceServicer_to_server(WatchServicer(feed, tracer), server)
    health_servicer = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    watch_cache(cache, health_servicer, settings.health_interval_s)
    if settings.reflection_on:
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection((*SERVICE_NAMES, health_name, reflection.SERVICE_NAME), server)
    maintenance = Maintenance(database, settings, clock=clock)
    return App(
        settings,
        server,
        port,
        database,
        health_servicer,
        interceptor,
        resources,
        cache,
        maintenance,
        coherence,
        feed,
        admission=admission,
    )


async def serve(
    settings: Settings,
    *,
    seed_demo: bool = False,
    cache_for: Callable[[Settings], CacheTier | None] | None = None,
) -> int:
    """Run until SIGTERM or SIGINT, then shut down gracefully. The exit code: 0, or 1 when the grace ran
    out with calls still running (they were cancelled). First (unless WELLSPRING_MALLOC_RETURN_FREED=0)
    malloc is told to give large freed blocks back to the system: otherwise RSS stays near its peak
    after a burst of large reads (service/malloc.py says why and what it costs)."""
    settings.check_exposure()
    if settings.auth == "none":
        log.warning("authentication is off (WELLSPRING_AUTH=none): every caller may read and write anything")
    if settings.malloc_return_freed:
        return_freed_memory()
    app = await bootstrap(settings, cache=cache_for(settings) if cache_for is not None else None)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: app.hurry() if stop.is_set() else stop.set())
    await app.start(on_ready=_seeding(app) if seed_demo else None)
    # What start-up built (modules, classes, functions: ~100k objects) lives as long as the process. Out
    # of the collector's sight, a full collection, which bulk work such as an import triggers every few
    # chunks, scans only what came after: a pause of a few ms instead of ~60-250 ms on the event loop.
    gc.freeze()
    try:
        await app.until(stop)
    except DatabaseProblem:  # at start, and no retry can fix it: main prints it
        await app.stop(0)
        raise
    log.info("shutting down (grace %.1fs)", settings.shutdown_grace_s)
    # A call stuck where cancellation cannot reach (a driver waiting on a lock) must not keep the process
    # alive past the grace period: a watchdog ends it a few seconds later. The settle is within the grace.
    bound = settings.shutdown_drain_s + settings.shutdown_grace_s + _CLOSE_TIMEOUT_S + 2
    watchdog = threading.Timer(bound, _force_exit)
    watchdog.daemon = True
    watchdog.start()
    finished = await app.stop()
    log.info("stopped", extra={"fields": {"refused": dict(app.admission.refused)}})
    return 0 if finished else 1


def _seeding(app: App) -> Callable[[], Awaitable[None]]:
    """``--seed-demo``: seeded after the schema check (an unmigrated one says so) and before SERVING, so
    whoever waits for SERVING finds the demo data."""

    async def seed() -> None:
        from service.seed import seed_if_empty

        await seed_if_empty(app.resources)

    return seed


def _force_exit() -> None:
    log.error("shutdown did not finish in time; exiting anyway")
    logging.shutdown()
    os._exit(1)
