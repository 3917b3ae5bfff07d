"""Two replicas sharing PostgreSQL and Redis: a tombstone that cannot reach Redis at write time is not
lost, and the other replica does not serve the overwritten value after the write is acknowledged."""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from service.bootstrap import App, bootstrap
from service.cache.redis_store import RedisStore
from service.cache.tier import CacheTier
from service.config import Settings
from tests.conftest import RedisProcess, fresh_pg_database, start_app

pytestmark = pytest.mark.postgres


@pytest.fixture
async def shared() -> AsyncIterator[str]:
    async with fresh_pg_database() as url:
        yield url


def _unreachable_redis() -> str:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{s.getsockname()[1]}/0"  # nothing listens there once it is closed


async def _replica(url: str, redis_url: str, prefix: str, *, leases: bool = True) -> App:
    if leases:
        return await start_app(url, redis_url=redis_url, cache_prefix=prefix)
    # The test of the test: the same cache without outbox and leases (redis_url unset, cache passed in).
    settings = Settings(addr="127.0.0.1:0", database_url=url, migrate_on_start=False, access_log=False)
    app = await bootstrap(settings, cache=CacheTier(RedisStore(redis_url, prefix=prefix), prefix=prefix))
    await app.start()
    return app


async def _scenario(url: str, redis: RedisProcess, leases: bool, fault: str) -> tuple[str, float, App]:
    """Replica B caches a user; replica A updates it while its tombstone cannot reach Redis: A is cut
    off from Redis ("partition"), or Redis is paused ("pause"). Then B reads it."""
    prefix = f"c{secrets.token_hex(4)}:"
    a_redis = _unreachable_redis() if fault == "partition" else redis.url
    a = await start_app(url, redis_url=a_redis, cache_prefix=prefix) if fault == "partition" else None
    a = a or await _replica(url, redis.url, prefix)
    b = await _replica(url, redis.url, prefix, leases=leases)
    try:
        async with grpc.aio.insecure_channel(a.address) as ca, grpc.aio.insecure_channel(b.address) as cb:
            stub_a, stub_b = (
                user_service_pb2_grpc.UserServiceStub(ca),
                user_service_pb2_grpc.UserServiceStub(cb),
            )
            n = secrets.token_hex(4)
            user = await stub_a.CreateUser(
                api.CreateUserRequest(user=pb.User(email=f"{n}@x.io", display_name="C", bio="before"))
            )
            for _ in range(3):
                await stub_b.GetUser(api.GetUserRequest(id=user.id))
            assert b.cache.counters["hits"] >= 1  # type: ignore[union-attr]
            redis.signal(signal.SIGSTOP)
            try:
                started = time.monotonic()
                await stub_a.UpdateUser(
                    api.UpdateUserRequest(user=pb.User(id=user.id, bio="after")), timeout=20
                )
                ack_s = time.monotonic() - started
            finally:
                redis.signal(signal.SIGCONT)
            seen = (await stub_b.GetUser(api.GetUserRequest(id=user.id))).bio
            return seen, ack_s, a
    finally:
        await b.stop(0)
        if a is not None:
            await a.stop(0)


@pytest.mark.parametrize("fault", ["partition", "pause"])
async def test_a_lost_tombstone_is_kept_durably_and_no_replica_serves_the_old_value(
    shared: str, redis_server: RedisProcess, fault: str
) -> None:
    seen, ack_s, a = await _scenario(shared, redis_server, leases=True, fault=fault)
    assert seen == "after"
    assert ack_s >= a.coherence.lease_s  # type: ignore[union-attr]  # acknowledged only once leases lapsed
    assert a.cache.counters["delayed_acks"] >= 1  # type: ignore[union-attr]


async def test_without_outbox_and_leases_the_same_run_serves_the_old_value(
    shared: str, redis_server: RedisProcess
) -> None:
    """The test of the test: the scenario above does catch a replica serving what a write replaced."""
    seen, _, _ = await _scenario(shared, redis_server, leases=False, fault="partition")
    assert seen == "before"


async def test_the_outbox_drains_once_redis_answers(shared: str, redis_server: RedisProcess) -> None:
    from service.repository.database import open_database

    """Applied by whichever replica reaches Redis: here one started after the writers are gone."""
    await _scenario(shared, redis_server, leases=True, fault="partition")
    database: Any = open_database(shared)
    async with database.reading() as uow:
        assert await uow.outbox.count() >= 1  # the partitioned writer could not apply its invalidations
    later = await start_app(shared, redis_url=redis_server.url, cache_prefix="later:")
    try:
        deadline = time.monotonic() + 10
        while True:
            async with database.reading() as uow:
                if await uow.outbox.count() == 0:
                    break
            assert time.monotonic() < deadline, "outbox never drained"
            import asyncio

            await asyncio.sleep(0.05)
    finally:
        await later.stop(0)
        await database.close()
