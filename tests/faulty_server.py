"""``python -m tests.faulty_server serve``: the real server (``python -m service``) with its Redis store
wrapped in ``FaultyStore``, for the tests that need faults the service must never have a switch for:

* ``WELLSPRING_TEST_REDIS_DELAY_S``: every cache read and write first waits up to this long (uniformly
  random), widening the races the coherence design closes;
* ``WELLSPRING_TEST_UNSAFE_PLAIN_FILLS=1``: fills are a plain SET instead of the versioned
  compare-and-set (the deliberately broken mode the history checker must catch).

These variables are read here, never by the service: its Settings hold no test-only knobs.
``tests/e2e/process.py`` runs this module instead of ``service`` when one of them is set.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import Sequence
from typing import Any

import redis.asyncio as redis

from service.__main__ import main
from service.bootstrap import build_cache
from service.cache.stores import CacheStore, Put
from service.cache.tier import CacheTier
from service.config import ConfigError, Settings

FAULT_VARIABLES = ("WELLSPRING_TEST_REDIS_DELAY_S", "WELLSPRING_TEST_UNSAFE_PLAIN_FILLS")


class FaultyStore:
    """A ``CacheStore`` that delays each read and write of ``inner`` and, with ``plain_fills``, fills with
    a plain SET (on a client of its own) instead of ``inner``'s compare-and-set. Everything else is
    ``inner``'s."""

    waits = True  # it sleeps: the tier's op timeout must bound it

    def __init__(self, inner: CacheStore, redis_url: str, *, delay_s: float, plain_fills: bool) -> None:
        self._inner = inner
        self._delay_s = delay_s
        self._plain = redis.Redis.from_url(redis_url) if plain_fills else None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _delay(self) -> None:
        if self._delay_s:
            await asyncio.sleep(random.uniform(0, self._delay_s))

    async def mget(self, keys: Sequence[str], timeout_s: float | None = None) -> list[bytes | None]:
        await self._delay()
        return await self._inner.mget(keys, timeout_s)

    async def put_if_newer(self, puts: Sequence[Put], bump: Sequence[str] = ()) -> int:
        await self._delay()
        if self._plain is not None and not bump:  # fills carry no bump; tombstones do
            async with self._plain.pipeline(transaction=False) as pipe:
                for key, _, blob, ttl_ms in puts:
                    pipe.set(key, blob, px=ttl_ms)
                await pipe.execute()
            return len(puts)
        return await self._inner.put_if_newer(puts, bump)

    async def close(self) -> None:
        if self._plain is not None:
            await self._plain.aclose()
        await self._inner.close()


def faulty_cache(settings: Settings) -> CacheTier | None:
    delay_s = float(os.environ.get("WELLSPRING_TEST_REDIS_DELAY_S") or 0)
    plain_fills = os.environ.get("WELLSPRING_TEST_UNSAFE_PLAIN_FILLS") == "1"
    if not settings.redis_url:
        raise ConfigError("tests.faulty_server injects Redis faults: set WELLSPRING_REDIS_URL")
    tier = build_cache(settings)
    tier.store = FaultyStore(tier.store, settings.redis_url, delay_s=delay_s, plain_fills=plain_fills)
    return tier


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], cache_for=faulty_cache))
