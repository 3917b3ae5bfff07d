"""Redis through redis-py's asyncio client (one connection pool, hiredis parser when installed)."""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as redis

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


class RedisStore:
    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._put = client.register_script(_PUT_IF_NEWER)
        self._get_page = client.register_script(_GET_PAGE)

    @classmethod
    def from_url(cls, url: str, *, max_connections: int = 64, socket_timeout_s: float = 1.0) -> RedisStore:
        client = redis.Redis.from_url(
            url,
            max_connections=max_connections,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry_on_timeout=False,
            health_check_interval=0,
        )
        return cls(client)

    async def mget(self, keys: Sequence[str]) -> list[bytes | None]:
        return list(await self._client.mget(keys))

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
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()
