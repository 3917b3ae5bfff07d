"""The composition root: builds database, use cases, servicers and the server. Nothing runs at import."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass, field

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from wellspring.v1 import post_service_pb2, user_service_pb2, watch_service_pb2
from wellspring.v1 import post_service_pb2_grpc as post_rpc
from wellspring.v1 import user_service_pb2_grpc as user_rpc
from wellspring.v1 import watch_service_pb2_grpc as watch_rpc

from service.api.convert import encode_event, encode_post, encode_user
from service.api.interceptors import ServerInterceptor
from service.api.posts import PostServicer
from service.api.users import UserServicer
from service.api.watch import WatchServicer
from service.cache.redis_store import RedisStore
from service.cache.stores import CacheStore, MemoryStore
from service.cache.tier import CachePolicy, CacheTier
from service.config import ConfigError, Settings
from service.handlers.coherence import Coherence
from service.handlers.common import Clock, wall_clock_us
from service.handlers.feed import ChangeFeed, FeedLimits
from service.handlers.maintenance import Maintenance
from service.handlers.page_tokens import PageTokens
from service.handlers.posts import PostHandlers
from service.handlers.users import UserHandlers
from service.repository.base import Database
from service.repository.database import open_database
from service.repository.migrate import upgrade

log = logging.getLogger("wellspring")


class ListenError(OSError):
    """The configured address cannot be bound."""


_CLOSE_TIMEOUT_S = 3.0

SERVICE_NAMES = (
    user_service_pb2.DESCRIPTOR.services_by_name["UserService"].full_name,
    post_service_pb2.DESCRIPTOR.services_by_name["PostService"].full_name,
    watch_service_pb2.DESCRIPTOR.services_by_name["WatchService"].full_name,
)


@dataclass
class App:
    """A built, not yet started, service."""

    settings: Settings
    server: grpc.aio.Server
    port: int
    database: Database
    health: health.aio.HealthServicer
    interceptor: ServerInterceptor
    users: UserHandlers
    posts: PostHandlers
    cache: CacheTier | None
    maintenance: Maintenance
    coherence: Coherence | None
    feed: ChangeFeed

    @property
    def address(self) -> str:
        host = self.settings.addr.rsplit(":", 1)[0]
        return f"{host}:{self.port}"

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _readiness: asyncio.Task[None] | None = None
    _coherence_loop: asyncio.Task[None] | None = None
    _tailer: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen at once; health says SERVING only once the database answers (retried with backoff)."""
        await self._set_all(health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.start()
        self._readiness = asyncio.create_task(self._become_ready())
        self._tailer = asyncio.create_task(self.feed.run())
        if self.coherence is not None:
            self._coherence_loop = asyncio.create_task(self.coherence.run())

    async def _become_ready(self, max_delay_s: float = 5.0) -> None:
        """Wait for the database, then keep watching it: health follows it (NOT_SERVING while it is
        down), and expired idempotency keys are purged now and then."""
        delay = 0.05
        while True:
            try:
                await self.database.ping()
                break
            except Exception as error:  # any failure just means "not yet"
                log.warning("database not answering (%s); retrying in %.2fs", type(error).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, max_delay_s)
        await self._set_all(health_pb2.HealthCheckResponse.SERVING)
        self.ready.set()
        log.info("serving on %s (database: %s)", self.address, self.settings.database_url.split("://")[0])
        await self._watch()

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
                log.warning("database check failed: %s", type(error).__name__)
                healthy = False
            if healthy != serving:
                serving = healthy
                status = (
                    health_pb2.HealthCheckResponse.SERVING
                    if healthy
                    else health_pb2.HealthCheckResponse.NOT_SERVING
                )
                await self._set_all(status)

    async def stop(self, grace_s: float | None = None) -> None:
        """Health goes NOT_SERVING (then ``shutdown_drain_s`` for load balancers to notice), in-flight calls
        get ``grace_s`` to finish, the rest are cancelled; closing the database is bounded too."""
        for task in (self._readiness, self._coherence_loop, self._tailer):
            if task is not None:
                task.cancel()
        self.feed.close()  # watchers end now with UNAVAILABLE and where to resume, not at the grace's end
        await self.health.enter_graceful_shutdown()
        if self.settings.shutdown_drain_s:
            await asyncio.sleep(self.settings.shutdown_drain_s)
        await self.server.stop(self.settings.shutdown_grace_s if grace_s is None else grace_s)
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                if self.cache is not None:
                    await self.cache.store.close()
                await self.database.close()
        except TimeoutError:
            log.warning("closing connections took over %.0fs; leaving them", _CLOSE_TIMEOUT_S)

    async def _set_all(self, status: int) -> None:
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, status)


def _server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """TLS from the PEM files named in the settings, or None for plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    try:
        with open(settings.tls_key_file, "rb") as key, open(settings.tls_cert_file, "rb") as cert:
            return grpc.ssl_server_credentials([(key.read(), cert.read())])
    except OSError as error:
        raise ConfigError(f"cannot read the TLS key or certificate: {error}") from None


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
            test_delay_s=settings.test_redis_delay_s,
            test_plain_fills=settings.test_unsafe_plain_fills,
        )
    else:
        store = MemoryStore()
    policy = CachePolicy(ttl_s=settings.cache_ttl_s, op_timeout_s=settings.redis_timeout_s)
    return CacheTier(store, prefix=settings.cache_prefix, policy=policy)


async def bootstrap(
    settings: Settings,
    *,
    database: Database | None = None,
    cache: CacheTier | None = None,
    clock: Clock = wall_clock_us,
) -> App:
    if database is None:
        if settings.migrate_on_start:
            await asyncio.to_thread(upgrade, settings.database_url)
        database = open_database(
            settings.database_url, pool_size=settings.db_pool_size, pool_timeout_s=settings.db_pool_timeout_s
        )
    tokens = PageTokens(settings.page_token_secret)
    if cache is None and settings.cache_enabled and (settings.redis_url or settings.is_embedded):
        cache = build_cache(settings)
    # A shared store (Redis) needs the outbox and read leases; the in-process one cannot miss a write.
    coherence = Coherence(database, cache) if cache is not None and settings.redis_url else None
    posts = PostHandlers(database, tokens, encode=encode_post, cache=cache, clock=clock, coherence=coherence)
    users = UserHandlers(database, tokens, encode=encode_user, cache=cache, clock=clock, coherence=coherence)

    interceptor = ServerInterceptor(log_calls=settings.access_log)
    limit = settings.max_message_bytes
    server = grpc.aio.server(
        interceptors=[interceptor],
        options=[
            ("grpc.max_receive_message_length", limit),
            # responses are kept under max_response_bytes by the servicers; the margin covers framing
            ("grpc.max_send_message_length", settings.max_response_bytes + 64 * 1024),
            ("grpc.so_reuseport", 0),
        ],
    )
    most = settings.max_response_bytes
    user_rpc.add_UserServiceServicer_to_server(UserServicer(users, max_response_bytes=most), server)
    post_rpc.add_PostServiceServicer_to_server(PostServicer(posts, max_response_bytes=most), server)
    limits = FeedLimits(queue_events=settings.watch_queue_events, progress_s=settings.watch_progress_s)
    feed = ChangeFeed(database, encode_event, limits)
    watch_rpc.add_WatchServiceServicer_to_server(WatchServicer(feed), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME),
        server,
    )
    try:
        credentials = _server_credentials(settings)
        if credentials is None:
            port = server.add_insecure_port(settings.addr)
        else:
            port = server.add_secure_port(settings.addr, credentials)
    except RuntimeError as error:  # grpc's "Failed to bind": the port is taken or the host is not ours
        raise ListenError(f"cannot listen on {settings.addr}: {error}") from None
    if port == 0:
        raise ListenError(f"cannot listen on {settings.addr}")
    maintenance = Maintenance(
        database,
        retention_s=settings.idempotency_retention_s,
        change_log_retention_s=settings.change_log_retention_s,
        clock=clock,
    )
    return App(
        settings,
        server,
        port,
        database,
        health_servicer,
        interceptor,
        users,
        posts,
        cache,
        maintenance,
        coherence,
        feed,
    )


async def serve(settings: Settings, *, seed_demo: bool = False) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    app = await bootstrap(settings)
    if seed_demo:
        from service.seed import seed_if_empty

        await seed_if_empty(app.users, app.posts)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    await stop.wait()
    log.info("shutting down (grace %.1fs)", settings.shutdown_grace_s)
    # A call stuck where cancellation cannot reach (a driver waiting on a lock) must not keep the process
    # alive past the grace period: a watchdog ends it a few seconds later.
    bound = settings.shutdown_drain_s + settings.shutdown_grace_s + _CLOSE_TIMEOUT_S + 2
    watchdog = threading.Timer(bound, _force_exit)
    watchdog.daemon = True
    watchdog.start()
    await app.stop()
    log.info("stopped")


def _force_exit() -> None:
    log.error("shutdown did not finish in time; exiting anyway")
    logging.shutdown()
    os._exit(0)
