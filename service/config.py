"""Settings: one frozen value, read once from an injected mapping (the environment by default)."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import make_url

DEFAULT_DATABASE_URL = "sqlite:///var/wellspring.sqlite3"


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def _bool(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def _addr(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name) or default
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{name} must be HOST:PORT with a port in 0-65535, got {raw!r}")
    return raw


def _database_url(environ: Mapping[str, str], name: str) -> str:
    raw = environ.get(name) or DEFAULT_DATABASE_URL
    scheme = raw.split("://", 1)[0].split("+", 1)[0] if "://" in raw else ""
    if scheme not in ("sqlite", "postgresql", "postgres"):
        raise ConfigError(f"{name} must be a sqlite:///path or postgresql://… URL, got scheme {scheme!r}")
    if raw.startswith("sqlite+"):
        raise ConfigError(f"{name}: SQLite is driven through the stdlib driver; use sqlite:///path")
    if scheme == "sqlite" and not raw.startswith("sqlite:///"):
        # sqlite://x/y.db would name a host, which SQLite has not: the path needs three slashes
        raise ConfigError(f"{name}: use sqlite:///relative/path or sqlite:////absolute/path, got {raw!r}")
    if scheme == "postgres":  # the libpq and Heroku spelling; SQLAlchemy knows only postgresql://
        raw = "postgresql" + raw[len("postgres") :]
    try:  # a bad port would otherwise fail only at start, with make_url's traceback
        make_url(raw).port  # noqa: B018 (reading the port is the check)
    except ValueError:
        # never the URL itself: it may hold a password
        raise ConfigError(f"{name} is not a valid URL: its port must be a number") from None
    return raw


def _redis_url(environ: Mapping[str, str], name: str) -> str | None:
    raw = environ.get(name) or None
    if raw is not None and raw.split("://", 1)[0] not in ("redis", "rediss", "unix"):
        scheme = raw.split("://", 1)[0] if "://" in raw else ""  # only that: the rest may hold a password
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL, got scheme {scheme!r}")
    return raw


# Durations for which 0 would mean "at once" rather than "off": refused.
_POSITIVE = (
    "WELLSPRING_KEEPALIVE_TIME_S",
    "WELLSPRING_KEEPALIVE_TIMEOUT_S",
    "WELLSPRING_STREAM_STALL_S",
    "WELLSPRING_EXPORT_MAX_S",
)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment. See the README's configuration table.

    ``database_url``: ``sqlite:///relative/path`` is relative to the working directory (three slashes:
    ``sqlite:///tmp/x.db`` is ./tmp/x.db); an absolute path takes four (``sqlite:////tmp/x.db``). A
    missing directory is created only inside ./var (the default's data folder) unless
    ``sqlite_create_dirs`` (WELLSPRING_SQLITE_CREATE_DIRS=1); otherwise the server stops at start
    naming WELLSPRING_DATABASE_URL.

    ``shutdown_drain_s`` (WELLSPRING_SHUTDOWN_DRAIN_S, default 1): on SIGTERM health turns NOT_SERVING
    at once, then for this long the port stays open and new calls still run, so that whoever routes by
    health sees NOT_SERVING before the port closes: a health Watch (gRPC client-side health checking,
    Envoy's streaming checks) learns it within milliseconds, a poller within its interval. The
    default of 1 s covers Watch clients and pollers checking at least once a second; behind a load
    balancer that polls, set it to at least interval x unhealthy threshold (e.g. a Kubernetes readiness
    probe: periodSeconds x failureThreshold; with a preStop sleep already doing that, 0). A second
    SIGTERM/SIGINT ends the drain at once, and a server that never reported SERVING skips it.
    """

    addr: str = "127.0.0.1:50051"
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    tls_cert_file: str | None = None  # PEM certificate chain; with tls_key_file the port speaks TLS only
    tls_key_file: str | None = None
    page_token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    migrate_on_start: bool = True
    shutdown_grace_s: float = 10.0
    shutdown_drain_s: float = 1.0
    sqlite_create_dirs: bool = False
    # Calls running at once, streams included (health checks are never refused): RESOURCE_EXHAUSTED past it.
    max_concurrent_rpcs: int = 2000
    health_interval_s: float = 5.0
    idempotency_retention_s: float = 86_400.0
    idempotency_purge_interval_s: float = 600.0
    change_log_retention_s: float = 86_400.0
    watch_queue_events: int = 10_000
    watch_progress_s: float = 5.0
    # Watch streams kept by a replica, and by one connection (0: no per-connection cap); past either,
    # Watch is RESOURCE_EXHAUSTED with RetryInfo (a watcher costs memory and a share of every fan-out).
    watch_max_watchers: int = 1000
    watch_max_per_connection: int = 0
    # HTTP/2 and connection limits, passed to gRPC's core (README: "Connections and streams"). The idle and
    # age limits are off at 0; an aged connection gets a GOAWAY, then max_connection_age_grace_s for the
    # calls on it (keep it >= export_max_s so an Export that began before the GOAWAY can finish).
    max_concurrent_streams: int = 100
    max_metadata_bytes: int = 16 * 1024
    keepalive_time_s: float = 60.0
    keepalive_timeout_s: float = 20.0
    keepalive_min_ping_interval_s: float = 10.0
    keepalive_permit_without_calls: bool = True
    keepalive_max_ping_strikes: int = 2
    max_connection_idle_s: float = 300.0
    max_connection_age_s: float = 1800.0
    max_connection_age_grace_s: float = 900.0
    max_message_bytes: int = 4 * 1024 * 1024
    max_response_bytes: int = 4 * 1024 * 1024
    db_pool_size: int = 10
    db_pool_timeout_s: float = 5.0
    # An Export whose client reads nothing for stream_stall_s, or that runs past export_max_s, is ended
    # (ABORTED, with where to resume); at most export_max_concurrent hold a database snapshot at once.
    stream_stall_s: float = 30.0
    export_max_s: float = 900.0
    export_max_concurrent: int = 4
    log_level: str = "INFO"
    access_log: bool = True
    cache_enabled: bool = True
    cache_prefix: str = "ws:"
    cache_ttl_s: float = 300.0
    cache_max_bytes: int = 64 * 1024 * 1024  # the in-process cache: entries and List pages together
    cache_list_max_bytes: int = 16 * 1024 * 1024  # List pages one replica may have alive in the cache
    malloc_return_freed: bool = True  # large blocks from mmap, so RSS falls back after large reads
    redis_timeout_s: float = 0.05
    # A cache-outbox row still pending this long counts as abandoned (its writer died between commit and
    # invalidation): running replicas then apply it before renewing their read lease. A starting replica
    # applies every row, whatever its age, before its first lease.
    cache_abandoned_after_s: float = 2.0
    # Test-only knobs for the history checker: delay every Redis command by up to this long (widens
    # races), and fill with a plain SET instead of the versioned compare-and-set (must break the promise).
    test_redis_delay_s: float = 0.0
    test_unsafe_plain_fills: bool = False

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        database_url = _database_url(env, "WELLSPRING_DATABASE_URL")
        secret = env.get("WELLSPRING_PAGE_TOKEN_SECRET")
        if secret is not None and len(secret) < 16:
            raise ConfigError("WELLSPRING_PAGE_TOKEN_SECRET must be at least 16 characters")
        tls_cert, tls_key = (
            env.get("WELLSPRING_TLS_CERT_FILE") or None,
            env.get("WELLSPRING_TLS_KEY_FILE") or None,
        )
        if (tls_cert is None) != (tls_key is None):
            raise ConfigError("set both WELLSPRING_TLS_CERT_FILE and WELLSPRING_TLS_KEY_FILE, or neither")
        log_level = env.get("WELLSPRING_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"WELLSPRING_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}"
            )
        for name in _POSITIVE:
            if _float(env, name, 1.0) == 0:
                raise ConfigError(f"{name} must be positive")
        return cls(
            addr=_addr(env, "WELLSPRING_ADDR", "127.0.0.1:50051"),
            database_url=database_url,
            redis_url=_redis_url(env, "WELLSPRING_REDIS_URL"),
            tls_cert_file=tls_cert,
            tls_key_file=tls_key,
            page_token_secret=secret.encode() if secret else secrets.token_bytes(32),
            # The embedded default migrates itself; shared databases are migrated by `make migrate`.
            migrate_on_start=_bool(env, "WELLSPRING_MIGRATE_ON_START", database_url.startswith("sqlite")),
            shutdown_grace_s=_float(env, "WELLSPRING_SHUTDOWN_GRACE_S", 10.0),
            shutdown_drain_s=_float(env, "WELLSPRING_SHUTDOWN_DRAIN_S", 1.0),
            sqlite_create_dirs=_bool(env, "WELLSPRING_SQLITE_CREATE_DIRS", False),
            max_concurrent_rpcs=_int(env, "WELLSPRING_MAX_CONCURRENT_RPCS", 2000, minimum=1),
            health_interval_s=_float(env, "WELLSPRING_HEALTH_INTERVAL_S", 5.0),
            idempotency_retention_s=_float(env, "WELLSPRING_IDEMPOTENCY_RETENTION_S", 86_400.0),
            change_log_retention_s=_float(env, "WELLSPRING_CHANGE_LOG_RETENTION_S", 86_400.0),
            watch_queue_events=_int(env, "WELLSPRING_WATCH_QUEUE_EVENTS", 10_000, minimum=1),
            watch_progress_s=_float(env, "WELLSPRING_WATCH_PROGRESS_S", 5.0),
            watch_max_watchers=_int(env, "WELLSPRING_WATCH_MAX_WATCHERS", 1000, minimum=1),
            watch_max_per_connection=_int(env, "WELLSPRING_WATCH_MAX_PER_CONNECTION", 0),
            max_concurrent_streams=_int(env, "WELLSPRING_MAX_CONCURRENT_STREAMS", 100, minimum=1),
            max_metadata_bytes=_int(env, "WELLSPRING_MAX_METADATA_BYTES", 16 * 1024, minimum=1024),
            keepalive_time_s=_float(env, "WELLSPRING_KEEPALIVE_TIME_S", 60.0),
            keepalive_timeout_s=_float(env, "WELLSPRING_KEEPALIVE_TIMEOUT_S", 20.0),
            keepalive_min_ping_interval_s=_float(env, "WELLSPRING_KEEPALIVE_MIN_PING_INTERVAL_S", 10.0),
            keepalive_permit_without_calls=_bool(env, "WELLSPRING_KEEPALIVE_PERMIT_WITHOUT_CALLS", True),
            keepalive_max_ping_strikes=_int(env, "WELLSPRING_KEEPALIVE_MAX_PING_STRIKES", 2),
            max_connection_idle_s=_float(env, "WELLSPRING_MAX_CONNECTION_IDLE_S", 300.0),
            max_connection_age_s=_float(env, "WELLSPRING_MAX_CONNECTION_AGE_S", 1800.0),
            max_connection_age_grace_s=_float(env, "WELLSPRING_MAX_CONNECTION_AGE_GRACE_S", 900.0),
            max_message_bytes=_int(env, "WELLSPRING_MAX_MESSAGE_BYTES", 4 * 1024 * 1024, minimum=1024),
            max_response_bytes=_int(
                env, "WELLSPRING_MAX_RESPONSE_BYTES", 4 * 1024 * 1024, minimum=1024 * 1024
            ),
            db_pool_size=_int(env, "WELLSPRING_DB_POOL_SIZE", 10, minimum=1),
            db_pool_timeout_s=_float(env, "WELLSPRING_DB_POOL_TIMEOUT_S", 5.0),
            stream_stall_s=_float(env, "WELLSPRING_STREAM_STALL_S", 30.0),
            export_max_s=_float(env, "WELLSPRING_EXPORT_MAX_S", 900.0),
            export_max_concurrent=_int(env, "WELLSPRING_EXPORT_MAX_CONCURRENT", 4, minimum=1),
            log_level=log_level,
            access_log=_bool(env, "WELLSPRING_ACCESS_LOG", True),
            cache_enabled=_bool(env, "WELLSPRING_CACHE", True),
            cache_prefix=env.get("WELLSPRING_CACHE_PREFIX") or "ws:",
            cache_ttl_s=_float(env, "WELLSPRING_CACHE_TTL_S", 300.0),
            cache_max_bytes=_int(env, "WELLSPRING_CACHE_MAX_BYTES", 64 * 1024 * 1024, minimum=1024 * 1024),
            cache_list_max_bytes=_int(env, "WELLSPRING_CACHE_LIST_MAX_BYTES", 16 * 1024 * 1024),
            malloc_return_freed=_bool(env, "WELLSPRING_MALLOC_RETURN_FREED", True),
            redis_timeout_s=_float(env, "WELLSPRING_REDIS_TIMEOUT_S", 0.05),
            cache_abandoned_after_s=_float(env, "WELLSPRING_CACHE_ABANDONED_AFTER_S", 2.0),
            test_redis_delay_s=_float(env, "WELLSPRING_TEST_REDIS_DELAY_S", 0.0),
            test_unsafe_plain_fills=_bool(env, "WELLSPRING_TEST_UNSAFE_PLAIN_FILLS", False),
        )
