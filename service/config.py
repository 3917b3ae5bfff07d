"""Settings: one frozen value, read once from an injected mapping (the environment by default)."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit

import limits

DEFAULT_DATABASE_URL = "sqlite:///var/wellspring.sqlite3"
DEFAULT_RATE_LIMIT = "1000/second"  # each caller's, with authentication on


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _number(
    environ: Mapping[str, str], name: str, default: Any, kind: type[int] | type[float], minimum: int = 0
) -> Any:
    """An int or finite float of at least ``minimum``, or ``default`` when unset; refused naming ``name``."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        if minimum == 0:
            raise ConfigError(f"{name} must not be negative, got {raw!r}")
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
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
        parts = urlsplit(raw)
        if parts.port is None and parts.netloc.endswith(":"):  # "host:" with nothing after it
            raise ValueError("empty port")
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


def setting(default: Any, env: str, *, minimum: int | None = None, positive: bool = False) -> Any:
    """A field read from the environment variable ``env`` by ``Settings.from_env``, with its one default
    (``minimum``: the least integer accepted; ``positive``: a duration for which 0 would mean "at once"
    rather than "off", refused)."""
    return field(default=default, metadata={"env": env, "minimum": minimum, "positive": positive})


_PARSERS: dict[str, Callable[[Mapping[str, str], str, Any, int], Any]] = {
    "int": lambda env, name, default, minimum: _number(env, name, default, int, minimum),
    "float": lambda env, name, default, minimum: _number(env, name, default, float, minimum),
    "bool": lambda env, name, default, _: _bool(env, name, default),
}


def _read(environ: Mapping[str, str], f: Field[Any]) -> Any:
    name = f.metadata["env"]
    value = _PARSERS[str(f.type)](environ, name, f.default, f.metadata["minimum"] or 0)
    if f.metadata["positive"] and value == 0:
        raise ConfigError(f"{name} must be positive")
    return value


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
    # Service-to-service: a second port (same certificate) that requires a client certificate signed by
    # tls_client_ca_file; a call on it without a bearer token is its certificate's principal (the first
    # subject alternative name), with auth_client_cert_scopes.
    mtls_addr: str | None = None
    # Prometheus metrics on their own HTTP port (WELLSPRING_METRICS_ADDR: HOST:PORT, or a port alone for
    # 127.0.0.1); None: off.
    metrics_addr: str | None = None
    # Services (package.Service) whose calls the per-call metrics leave out, e.g. grpc.health.v1.Health
    # for load balancers' probes (WELLSPRING_METRICS_EXCLUDE, comma-separated).
    metrics_exclude: frozenset[str] = frozenset()
    # OpenTelemetry traces (service/observability/tracing.py): the exporter OTEL_TRACES_EXPORTER names, otlp
    # or console; None: off. The SDK reads the other OTEL_* variables itself; those it would ignore with
    # a warning when wrong (the sampler) are checked here.
    traces_exporter: str | None = None
    tls_client_ca_file: str | None = None
    auth_client_cert_scopes: frozenset[str] = frozenset({"read", "write", "import"})
    page_token_secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # Authentication (README "Authentication"): "jwt" (bearer tokens, HS256 with auth_hs256_secret or
    # RS256/ES256 against auth_jwks), "none" (said explicitly: every call is let in), or "" (not
    # configured: allowed on a loopback address only).
    auth: str = ""
    auth_hs256_secret: bytes | None = field(default=None, repr=False)
    auth_jwks: str | None = None  # a JWKS file path, or an https:// URL
    auth_issuer: str | None = None
    auth_audience: str | None = None
    auth_leeway_s: float = setting(30.0, "WELLSPRING_AUTH_LEEWAY_S")
    # Server reflection: None = on exactly when authentication is off
    reflection: bool | None = None
    # Each caller's budget in the ``limits`` notation ("1000/second"; README "Rate limits"), shared by the
    # replicas through Redis when redis_url is set. None: DEFAULT_RATE_LIMIT with authentication on, off
    # without it ("off" says so in any case).
    rate_limit: str | None = None
    # Callers never limited, by key: "sub:NAME" (a principal, e.g. a trusted service account) or
    # "peer:ipv4:10.0.0.5" (an address, e.g. a load balancer's health checks).
    rate_limit_exempt: frozenset[str] = frozenset()
    migrate_on_start: bool = True
    shutdown_grace_s: float = setting(10.0, "WELLSPRING_SHUTDOWN_GRACE_S")
    shutdown_drain_s: float = setting(1.0, "WELLSPRING_SHUTDOWN_DRAIN_S")
    sqlite_create_dirs: bool = setting(False, "WELLSPRING_SQLITE_CREATE_DIRS")
    # Calls running at once, streams included (health checks are never refused): RESOURCE_EXHAUSTED past it.
    max_concurrent_rpcs: int = setting(2000, "WELLSPRING_MAX_CONCURRENT_RPCS", minimum=1)
    health_interval_s: float = setting(5.0, "WELLSPRING_HEALTH_INTERVAL_S")
    idempotency_retention_s: float = setting(86_400.0, "WELLSPRING_IDEMPOTENCY_RETENTION_S")
    idempotency_purge_interval_s: float = 600.0
    change_log_retention_s: float = setting(86_400.0, "WELLSPRING_CHANGE_LOG_RETENTION_S")
    watch_queue_events: int = setting(10_000, "WELLSPRING_WATCH_QUEUE_EVENTS", minimum=1)
    watch_progress_s: float = setting(5.0, "WELLSPRING_WATCH_PROGRESS_S")
    # Watch streams kept by a replica, and by one connection (0: no per-connection cap); past either,
    # Watch is RESOURCE_EXHAUSTED with RetryInfo (a watcher costs memory and a share of every fan-out).
    watch_max_watchers: int = setting(1000, "WELLSPRING_WATCH_MAX_WATCHERS", minimum=1)
    watch_max_per_connection: int = setting(0, "WELLSPRING_WATCH_MAX_PER_CONNECTION")
    # Watch streams one principal may hold on a replica at once (0: no cap); RESOURCE_EXHAUSTED past it.
    watch_max_per_principal: int = setting(16, "WELLSPRING_WATCH_MAX_PER_PRINCIPAL")
    # HTTP/2 and connection limits, passed to gRPC's core (README: "Connections and streams"). The idle and
    # age limits are off at 0; an aged connection gets a GOAWAY, then max_connection_age_grace_s for the
    # calls on it (keep it >= export_max_s so an Export that began before the GOAWAY can finish).
    max_concurrent_streams: int = setting(100, "WELLSPRING_MAX_CONCURRENT_STREAMS", minimum=1)
    max_metadata_bytes: int = setting(16 * 1024, "WELLSPRING_MAX_METADATA_BYTES", minimum=1024)
    keepalive_time_s: float = setting(60.0, "WELLSPRING_KEEPALIVE_TIME_S", positive=True)
    keepalive_timeout_s: float = setting(20.0, "WELLSPRING_KEEPALIVE_TIMEOUT_S", positive=True)
    keepalive_min_ping_interval_s: float = setting(10.0, "WELLSPRING_KEEPALIVE_MIN_PING_INTERVAL_S")
    keepalive_permit_without_calls: bool = setting(True, "WELLSPRING_KEEPALIVE_PERMIT_WITHOUT_CALLS")
    keepalive_max_ping_strikes: int = setting(2, "WELLSPRING_KEEPALIVE_MAX_PING_STRIKES")
    max_connection_idle_s: float = setting(300.0, "WELLSPRING_MAX_CONNECTION_IDLE_S")
    max_connection_age_s: float = setting(1800.0, "WELLSPRING_MAX_CONNECTION_AGE_S")
    max_connection_age_grace_s: float = setting(900.0, "WELLSPRING_MAX_CONNECTION_AGE_GRACE_S")
    max_message_bytes: int = setting(4 * 1024 * 1024, "WELLSPRING_MAX_MESSAGE_BYTES", minimum=1024)
    max_response_bytes: int = setting(4 * 1024 * 1024, "WELLSPRING_MAX_RESPONSE_BYTES", minimum=1024 * 1024)
    db_pool_size: int = setting(10, "WELLSPRING_DB_POOL_SIZE", minimum=1)
    db_pool_timeout_s: float = setting(5.0, "WELLSPRING_DB_POOL_TIMEOUT_S")
    # An Export whose client reads nothing for stream_stall_s, or that runs past export_max_s, is ended
    # (ABORTED, with where to resume); at most export_max_concurrent hold a database snapshot at once.
    stream_stall_s: float = setting(30.0, "WELLSPRING_STREAM_STALL_S", positive=True)
    export_max_s: float = setting(900.0, "WELLSPRING_EXPORT_MAX_S", positive=True)
    export_max_concurrent: int = setting(4, "WELLSPRING_EXPORT_MAX_CONCURRENT", minimum=1)
    log_level: str = "INFO"
    access_log: bool = setting(True, "WELLSPRING_ACCESS_LOG")
    cache_enabled: bool = setting(True, "WELLSPRING_CACHE")
    cache_prefix: str = "ws:"
    cache_ttl_s: float = setting(300.0, "WELLSPRING_CACHE_TTL_S")
    # The in-process cache: entries and List pages together
    cache_max_bytes: int = setting(64 * 1024 * 1024, "WELLSPRING_CACHE_MAX_BYTES", minimum=1024 * 1024)
    # List pages one replica may have alive in the cache
    cache_list_max_bytes: int = setting(16 * 1024 * 1024, "WELLSPRING_CACHE_LIST_MAX_BYTES")
    # Large blocks from mmap, so RSS falls back after large reads
    malloc_return_freed: bool = setting(True, "WELLSPRING_MALLOC_RETURN_FREED")
    # The server's event loop: asyncio's own, or uvloop's (libuv) where it is installed. Not the default:
    # under load, a SIGTERM on uvloop refused calls it had accepted (README, WELLSPRING_UVLOOP)
    uvloop: bool = setting(False, "WELLSPRING_UVLOOP")
    redis_timeout_s: float = setting(0.05, "WELLSPRING_REDIS_TIMEOUT_S")
    # A cache-outbox row still pending this long counts as abandoned (its writer died between commit and
    # invalidation): running replicas then apply it before renewing their read lease. A starting replica
    # applies every row, whatever its age, before its first lease.
    cache_abandoned_after_s: float = setting(2.0, "WELLSPRING_CACHE_ABANDONED_AFTER_S")

    @property
    def auth_on(self) -> bool:
        return self.auth == "jwt" or self.mtls_addr is not None

    @property
    def effective_rate_limit(self) -> str | None:
        """The budget every caller gets, or None: no rate limit."""
        if self.rate_limit is None:
            return DEFAULT_RATE_LIMIT if self.auth_on else None
        return None if self.rate_limit == "off" else self.rate_limit

    @property
    def reflection_on(self) -> bool:
        return not self.auth_on if self.reflection is None else self.reflection

    def check_exposure(self) -> None:
        """Refuse to serve a non-loopback address without an authentication configuration, unless
        WELLSPRING_AUTH=none says so explicitly (secure by default)."""
        host = self.addr.rpartition(":")[0].strip("[]")
        loopback = host in ("localhost", "::1") or host.startswith("127.")
        if not loopback and self.auth == "" and self.mtls_addr is None:
            raise ConfigError(
                f"WELLSPRING_ADDR={self.addr} is not a loopback address and authentication is not "
                "configured: set WELLSPRING_AUTH=jwt (with WELLSPRING_AUTH_HS256_SECRET or "
                "WELLSPRING_AUTH_JWKS), or WELLSPRING_AUTH=none to serve without it"
            )

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
        log_level = (env.get("WELLSPRING_LOG_LEVEL") or _DEFAULTS["log_level"]).upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(
                f"WELLSPRING_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {log_level!r}"
            )
        read = {f.name: _read(env, f) for f in fields(cls) if "env" in f.metadata}
        return cls(
            **read,
            **_auth(env),
            **_mtls(env, tls_cert is not None),
            addr=_addr(env, "WELLSPRING_ADDR", _DEFAULTS["addr"]),
            database_url=database_url,
            redis_url=_redis_url(env, "WELLSPRING_REDIS_URL"),
            tls_cert_file=tls_cert,
            tls_key_file=tls_key,
            page_token_secret=secret.encode() if secret else secrets.token_bytes(32),
            # The embedded default migrates itself; shared databases are migrated by `make migrate`.
            migrate_on_start=_bool(env, "WELLSPRING_MIGRATE_ON_START", database_url.startswith("sqlite")),
            log_level=log_level,
            cache_prefix=env.get("WELLSPRING_CACHE_PREFIX") or _DEFAULTS["cache_prefix"],
            metrics_addr=_metrics_addr(env),
            metrics_exclude=frozenset(
                name.strip()
                for name in (env.get("WELLSPRING_METRICS_EXCLUDE") or "").split(",")
                if name.strip()
            ),
            traces_exporter=_traces_exporter(env),
        )


TRACE_EXPORTERS = ("otlp", "console")
TRACE_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)


def _traces_exporter(env: Mapping[str, str]) -> str | None:
    if (env.get("OTEL_SDK_DISABLED") or "").strip().lower() == "true":
        return None
    exporter = (env.get("OTEL_TRACES_EXPORTER") or "none").strip().lower()
    if exporter == "none":
        return None
    if exporter not in TRACE_EXPORTERS:
        raise ConfigError(f"OTEL_TRACES_EXPORTER must be otlp, console or none, got {exporter!r}")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if exporter == "otlp" and (protocol or "grpc").strip() != "grpc":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL must be grpc (the exporter installed), got {protocol!r}"
        )
    sampler = (env.get("OTEL_TRACES_SAMPLER") or "parentbased_always_on").strip().lower()
    if sampler not in TRACE_SAMPLERS:
        raise ConfigError(f"OTEL_TRACES_SAMPLER must be one of {', '.join(TRACE_SAMPLERS)}, got {sampler!r}")
    arg = env.get("OTEL_TRACES_SAMPLER_ARG")
    if sampler.endswith("traceidratio") and arg is not None:
        try:
            ratio = float(arg)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise ConfigError(f"OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got {arg!r}")
    return exporter


def _metrics_addr(env: Mapping[str, str]) -> str | None:
    raw = (env.get("WELLSPRING_METRICS_ADDR") or "").strip()
    if not raw:
        return None
    if raw.isdigit():  # a port alone: loopback, so metrics are not exposed by accident
        raw = f"127.0.0.1:{raw}"
    return _addr({"WELLSPRING_METRICS_ADDR": raw}, "WELLSPRING_METRICS_ADDR", "")


def _mtls(env: Mapping[str, str], tls: bool) -> dict[str, Any]:
    """WELLSPRING_MTLS_ADDR and what it needs, each mistake one line naming the setting."""
    addr = env.get("WELLSPRING_MTLS_ADDR") or None
    ca = env.get("WELLSPRING_TLS_CLIENT_CA_FILE") or None
    if (addr is None) != (ca is None):
        raise ConfigError("set both WELLSPRING_MTLS_ADDR and WELLSPRING_TLS_CLIENT_CA_FILE, or neither")
    if addr is not None and not tls:
        raise ConfigError("WELLSPRING_MTLS_ADDR needs WELLSPRING_TLS_CERT_FILE and WELLSPRING_TLS_KEY_FILE")
    if ca is not None and not os.path.isfile(ca):
        raise ConfigError(f"WELLSPRING_TLS_CLIENT_CA_FILE must be a readable PEM file, got {ca!r}")
    raw = env.get("WELLSPRING_AUTH_CLIENT_CERT_SCOPES")
    scopes = frozenset(raw.replace(",", " ").split()) if raw else _DEFAULTS["auth_client_cert_scopes"]
    return {
        "mtls_addr": _addr(env, "WELLSPRING_MTLS_ADDR", "") if addr else None,
        "tls_client_ca_file": ca,
        "auth_client_cert_scopes": scopes,
    }


def _auth(env: Mapping[str, str]) -> dict[str, Any]:
    """WELLSPRING_AUTH and what it needs, each mistake one line naming the setting."""
    secret = env.get("WELLSPRING_AUTH_HS256_SECRET") or None
    jwks = env.get("WELLSPRING_AUTH_JWKS") or None
    mode = (env.get("WELLSPRING_AUTH") or ("jwt" if secret or jwks else "")).lower()
    if mode not in ("", "jwt", "none"):
        raise ConfigError(f"WELLSPRING_AUTH must be jwt or none, got {mode!r}")
    if mode == "jwt":
        if (secret is None) == (jwks is None):
            raise ConfigError(
                "WELLSPRING_AUTH=jwt needs WELLSPRING_AUTH_HS256_SECRET or WELLSPRING_AUTH_JWKS (one)"
            )
        if secret is not None and len(secret) < 32:
            raise ConfigError("WELLSPRING_AUTH_HS256_SECRET must be at least 32 characters")
        if jwks is not None and not jwks.startswith("https://") and not os.path.isfile(jwks):
            raise ConfigError(
                f"WELLSPRING_AUTH_JWKS must be an https:// URL or a readable file, got {jwks!r}"
            )
    reflection = (env.get("WELLSPRING_REFLECTION") or "auto").lower()
    if reflection not in ("auto", "1", "0", "true", "false", "on", "off"):
        raise ConfigError(f"WELLSPRING_REFLECTION must be auto, 1 or 0, got {reflection!r}")
    rate_limit = (env.get("WELLSPRING_RATE_LIMIT") or "").strip() or None
    if rate_limit is not None and rate_limit != "off":
        try:
            limits.parse(rate_limit)
        except ValueError:
            raise ConfigError(
                f"WELLSPRING_RATE_LIMIT must be a rate such as 1000/second or 50/minute, or off; "
                f"got {rate_limit!r}"
            ) from None
    exempt = frozenset(
        k.strip() for k in (env.get("WELLSPRING_RATE_LIMIT_EXEMPT") or "").split(",") if k.strip()
    )
    wrong = sorted(k for k in exempt if not k.startswith(("sub:", "peer:")) or k in ("sub:", "peer:"))
    if wrong:
        raise ConfigError(
            f"WELLSPRING_RATE_LIMIT_EXEMPT takes sub:NAME or peer:ADDRESS entries, got {', '.join(wrong)}"
        )
    return {
        "rate_limit": rate_limit,
        "rate_limit_exempt": exempt,
        "auth": mode,
        "auth_hs256_secret": secret.encode() if secret else None,
        "auth_jwks": jwks,
        "auth_issuer": env.get("WELLSPRING_AUTH_ISSUER") or None,
        "auth_audience": env.get("WELLSPRING_AUTH_AUDIENCE") or None,
        "reflection": None if reflection == "auto" else reflection in ("1", "true", "on"),
    }


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings)}
# The defaults as a typed value, for the parts that take one of these settings and default to it (the cache
# tier, the change feed...): their defaults are these, never a literal of their own.
DEFAULTS = Settings(page_token_secret=b"")
