"""Redis through redis-py's asyncio client (one connection pool, hiredis parser when installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import cast
from urllib.parse import parse_qs, urlparse

import redis.asyncio as redis
from opentelemetry import trace
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from service.cache.inline import InlineReader, UnvettedRedis, loopback_address
from service.cache.status import Publish, Reachability, watch
from service.cache.stores import Put

# KEYS: the entry keys, then the counters to bump; ARGV[1]: how many entry keys; then per entry
# (version, blob, ttl_ms). Versions are below 2^53, so Lua's doubles hold them exactly.
_PUT_IF_NEWER = """
local n = tonumber(ARGV[1])
local written = 0
for i = 1, n do
  local version = tonumber(ARGV[3 * i - 1])
  local current = redis.call('GET', KEYS[i])
  if (not current) or tonumber(string.sub(current, 1, 16), 16) <= version then
    redis.call('SET', KEYS[i], ARGV[3 * i], 'PX', ARGV[3 * i + 1])
    written = written + 1
  end
end
for i = n + 1, #KEYS do
  redis.call('INCR', KEYS[i])
end
return written
"""

# KEYS[1]: generation counter; KEYS[2]: page key prefix. One round trip for "current generation + page".
_GET_PAGE = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', KEYS[2] .. ':' .. generation)}
"""

_PROBE_MIN_TIMEOUT_S = 1.0


def redis_address(url: str) -> str:
    """Where a Redis URL points, for logs: host:port/db (or the socket path), never the password."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        db = parse_qs(parsed.query).get("db", ["0"])[0]
        return f"unix:{parsed.path}/{db}"
    host = parsed.hostname or "localhost"
    host = f"[{host}]" if ":" in host else host
    db = parsed.path.lstrip("/") or "0"
    return f"{host}:{parsed.port or 6379}/{db}" + (" (TLS)" if parsed.scheme == "rediss" else "")


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisStore:
    """Entries in Redis. Every new connection first checks *which* Redis it reached (its ``run_id``):
    a Redis that restarted — empty, or worse, loaded from an old snapshot holding values that writes
    since then had tombstoned — is flushed of our keys by exactly one replica before any replica uses
    it again. Until then, commands on it fail, which the tier treats as a cache miss."""

    waits = True

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        max_connections: int = 64,
        socket_timeout_s: float = 1.0,
    ) -> None:
        self._prefix = prefix
        self._socket_timeout_s = socket_timeout_s
        self.address = redis_address(url)
        self._watch: asyncio.Task[None] | None = None
        address = loopback_address(url)
        self._inline = InlineReader(*address, lambda: self._trusted_run_id) if address else None
        self._trusted_run_id: str | None = None
        self._tracer: trace.Tracer | None = None  # see ``trace_with``
        self.recoveries = 0
        self._client = self._connect(url, max_connections, socket_timeout_s)
        # The probe has a client of its own, with a longer timeout than the calls' budget: a late answer
        # to a probe is not an outage (a stall of this process's loop delays it; see cache/status.py).
        self._probe_timeout_s = max(_PROBE_MIN_TIMEOUT_S, socket_timeout_s)
        self._prober = self._connect(url, 1, self._probe_timeout_s)
        self._put = self._client.register_script(_PUT_IF_NEWER)
        self._get_page = self._client.register_script(_GET_PAGE)

    @property
    def client(self) -> redis.Redis:
        """The calls' client (tracing instruments it); the inline reader and the probe are apart."""
        return self._client

    def _connect(self, url: str, max_connections: int, timeout_s: float) -> redis.Redis:
        return redis.Redis.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry_on_timeout=False,
            health_check_interval=0,
            redis_connect_func=self._on_connect,
        )

    @staticmethod
    async def _call(connection: Connection, *args: str | int | bytes) -> object:
        await connection.send_command(*args)
        return await connection.read_response()

    async def _on_connect(self, connection: Connection) -> None:
        await connection.on_connect()
        info = await self._call(connection, "INFO", "server")
        text = info.decode() if isinstance(info, bytes) else str(info)
        run_id = next(
            line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("run_id:")
        )
        if run_id == self._trusted_run_id:
            return
        marker = f"{self._prefix}incarnation:{run_id}"
        if not await self._call(connection, "EXISTS", marker):
            await self._recover(connection, run_id, marker)
        self._trusted_run_id = run_id

    async def _recover(self, connection: Connection, run_id: str, marker: str) -> None:
        """A Redis this service has not vetted: delete every key of ours, then mark it vetted."""
        lock = f"{self._prefix}recovering:{run_id}"
        if await self._call(connection, "SET", lock, "1", "NX", "PX", 30_000) is None:
            raise RedisConnectionError("another replica is vetting this Redis; not using it yet")
        cursor: int | bytes = 0
        pattern = _glob_escape(self._prefix) + "*"
        while True:
            reply = await self._call(connection, "SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
            cursor, keys = cast(tuple[bytes, list[bytes]], reply)
            doomed = [k for k in keys if k != lock.encode()]
            if doomed:
                await self._call(connection, "UNLINK", *doomed)
            if int(cursor) == 0:
                break
        await self._call(connection, "SET", marker, "1")
        await self._call(connection, "DEL", lock)
        self.recoveries += 1

    def trace_with(self, tracer: trace.Tracer) -> None:
        """With tracing on: the inline reader's MGETs (which OpenTelemetry's Redis instrumentation, on the
        asyncio client, cannot see) get a span by hand, with that instrumentation's name and attributes,
        inside a call's trace only."""
        self._tracer = tracer

    async def mget(self, keys: Sequence[str], timeout_s: float | None = None) -> list[bytes | None]:
        if self._inline is not None and self._trusted_run_id is not None:
            try:
                if self._tracer is not None and trace.get_current_span().is_recording():
                    with self._tracer.start_as_current_span(
                        "MGET", kind=trace.SpanKind.CLIENT, attributes=self._inline.span_attributes(len(keys))
                    ):
                        return self._inline.mget(keys, timeout_s or self._socket_timeout_s)
                return self._inline.mget(keys, timeout_s or self._socket_timeout_s)
            except UnvettedRedis:
                pass  # the asyncio client's connection hook vets (and if need be flushes) it first
        return cast(list[bytes | None], await self._client.mget(keys))

    async def put_if_newer(self, puts: Sequence[Put], bump: Sequence[str] = ()) -> int:
        keys = [p[0] for p in puts] + list(bump)
        args: list[bytes | int | str] = [len(puts)]
        for _, version, blob, ttl_ms in puts:
            args += [version, blob, ttl_ms]
        return int(await self._put(keys=keys, args=args))

    async def get_page(self, generation_key: str, page_key: str) -> tuple[int, bytes | None]:
        generation, blob = await self._get_page(keys=[generation_key, page_key])
        return int(generation), blob

    async def set_page(self, page_key: str, generation: int, blob: bytes, ttl_ms: int) -> None:
        await self._client.set(f"{page_key}:{generation}", blob, px=ttl_ms)

    async def ping(self) -> None:
        """The probe's PING, on its own connection (which vets a restarted Redis like any other)."""
        await self._prober.ping()

    def describe(self) -> str:
        return f"Redis at {self.address}"

    def watch(self, publish: Publish, *, interval_s: float) -> None:
        """Probe this Redis every ``interval_s`` until ``close`` (see service/cache/status.py)."""
        reach = Reachability(self.describe())
        probing = watch(self, reach, publish, interval_s=interval_s, timeout_s=self._probe_timeout_s)
        self._watch = asyncio.create_task(probing, name="redis watch")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.wait({self._watch})
        if self._inline is not None:
            self._inline.close()
        await self._prober.aclose()
        await self._client.aclose()
