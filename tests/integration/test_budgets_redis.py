"""Budgets shared through a real Redis (the ``limits`` library's sliding-window counter, taken in leases):
two replicas' budgets together admit the budget and no more; a replica asks Redis once per lease, not per
call, even for calls arriving at once; with Redis gone, calls are limited per replica and never fail for
it; with Redis back, the budget is shared again."""

from __future__ import annotations

import asyncio
import secrets

import pytest

from service.auth.budgets import LEASE_PARTS, Budgets
from service.domain.errors import RateLimited
from tests.conftest import RedisProcess


def pair(redis: RedisProcess, limit: str, **options: float) -> tuple[Budgets, Budgets]:
    prefix = f"t{secrets.token_hex(3)}:"
    return (
        Budgets(limit, redis_url=redis.url, prefix=prefix, timeout_s=0.5, **options),
        Budgets(limit, redis_url=redis.url, prefix=prefix, timeout_s=0.5, **options),
    )


async def admitted(budgets: Budgets, key: str, cost: int, tries: int) -> int:
    done = 0
    for _ in range(tries):
        try:
            await budgets.take(key, cost)
            done += cost
        except RateLimited:
            pass
    return done


async def test_two_replicas_admit_the_budget_and_no_more(redis_server: RedisProcess) -> None:
    first, second = pair(redis_server, "200/minute")
    try:
        got = await asyncio.gather(admitted(first, "sub:ada", 1, 300), admitted(second, "sub:ada", 1, 300))
        lease = 200 // LEASE_PARTS
        assert 200 - 2 * lease <= sum(got) <= 200, got  # each may hold one lease unspent
        assert min(got) > 0  # both replicas took part
        assert await admitted(first, "sub:bob", 1, 10) == 10  # another principal's budget is its own
    finally:
        await first.close()
        await second.close()


async def test_redis_is_asked_once_a_lease_even_for_calls_at_once(
    redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    budgets, other = pair(redis_server, "1000/minute")
    await other.close()
    assert budgets._shared is not None
    asked = 0
    hit = budgets._shared.hit

    async def counted(*args: object, **kwargs: object) -> bool:
        nonlocal asked
        asked += 1
        return await hit(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(budgets._shared, "hit", counted)
    try:
        await asyncio.gather(*(budgets.take("sub:ada", 1) for _ in range(200)))
        assert asked == 200 // (1000 // LEASE_PARTS)  # 4 leases of 50 units
    finally:
        await budgets.close()


async def test_redis_down_limits_per_replica_and_never_fails_a_call(redis_server: RedisProcess) -> None:
    first, second = pair(redis_server, "100/minute", down_s=0.3)
    try:
        await first.take("sub:ada", 1)
        assert first.shared
        redis_server.kill()
        # Per replica now: each admits the whole budget on its own, and refuses past it.
        assert await admitted(first, "sub:eve", 1, 150) == 100
        assert await admitted(second, "sub:eve", 1, 150) == 100
        assert first.degraded >= 1 and not first.shared
        redis_server.start()
        deadline = asyncio.get_running_loop().time() + 10
        while not first.shared:  # the down period lapses; the next call asks Redis again
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        await first.take("sub:zed", 1)
        assert first.held("sub:zed") == 100 // LEASE_PARTS - 1  # a lease from Redis again
    finally:
        await first.close()
        await second.close()
