"""The Redis tier against a real redis-server of the test's own and real PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from service.bootstrap import App
from tests.conftest import RedisProcess, fresh_pg_database, start_app

pytestmark = pytest.mark.postgres


@pytest.fixture
async def cached_app(redis_server: RedisProcess) -> AsyncIterator[App]:
    async with fresh_pg_database() as url:
        app = await start_app(url, redis_url=redis_server.url, cache_prefix=f"t{secrets.token_hex(4)}:")
        try:
            yield app
        finally:
            await app.stop(0)


async def _user(stub: Any) -> pb.User:
    n = secrets.token_hex(4)
    return await stub.CreateUser(api.CreateUserRequest(user=pb.User(email=f"{n}@x.io", display_name=n)))


async def test_a_stampede_on_a_cold_key_costs_one_query(cached_app: App) -> None:
    async with grpc.aio.insecure_channel(cached_app.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        user = await _user(stub)
        statements: list[str] = []

        def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        engine = cached_app.database.engine.sync_engine  # type: ignore[attr-defined]
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            results = await asyncio.gather(
                *(stub.GetUser(api.GetUserRequest(id=user.id)) for _ in range(200))
            )
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)
    assert all(r == user for r in results)
    assert len([s for s in statements if "FROM users" in s]) == 1, statements


async def test_reads_after_writes_and_hits(cached_app: App) -> None:
    async with grpc.aio.insecure_channel(cached_app.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        user = await _user(stub)
        for i in range(5):
            assert (await stub.GetUser(api.GetUserRequest(id=user.id))).bio == (
                "" if i == 0 else f"bio {i - 1}"
            )
            await stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=user.id, bio=f"bio {i}")))
        await stub.GetUser(api.GetUserRequest(id=user.id))
        hits_before = cached_app.cache.counters["hits"]  # type: ignore[union-attr]
        await stub.GetUser(api.GetUserRequest(id=user.id))
        assert cached_app.cache.counters["hits"] == hits_before + 1  # type: ignore[union-attr]


async def _hammer(
    stub: Any, ids: list[str], stop: asyncio.Event, failures: list[str], done: list[int]
) -> None:
    i = 0
    while not stop.is_set():
        user_id = ids[i % len(ids)]
        i += 1
        try:
            if i % 5 == 0:
                await stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=user_id, bio=f"b{i}")), timeout=5)
            else:
                await stub.GetUser(api.GetUserRequest(id=user_id), timeout=5)
            done.append(1)
        except grpc.aio.AioRpcError as error:
            failures.append(f"{error.code().name}: {error.details()}")


async def _until(predicate: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("fault", ["kill", "pause"])
async def test_redis_dying_mid_load_fails_no_request(
    cached_app: App, redis_server: RedisProcess, fault: str
) -> None:
    cache = cached_app.cache
    assert cache is not None
    async with grpc.aio.insecure_channel(cached_app.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        ids = [(await _user(stub)).id for _ in range(10)]
        stop, failures, done = asyncio.Event(), [], []
        workers = [asyncio.create_task(_hammer(stub, ids, stop, failures, done)) for _ in range(8)]
        try:
            await _until(lambda: cache.counters["hits"] > 50, 10)
            if fault == "kill":
                redis_server.kill()
            else:
                redis_server.signal(signal.SIGSTOP)
            mark = len(done)
            await _until(lambda: len(done) > mark + 200, 20)  # served from the database meanwhile
            assert cache.breaker.state.value != "closed"
            if fault == "kill":
                redis_server.start()
            else:
                redis_server.signal(signal.SIGCONT)
            hits = cache.counters["hits"]
            await _until(lambda: cache.counters["hits"] > hits + 100, 20)  # the hit ratio recovers
        finally:
            stop.set()
            await asyncio.gather(*workers)
    assert failures == []


async def test_redis_restarted_from_an_old_snapshot_serves_nothing_stale(
    cached_app: App, redis_server: RedisProcess
) -> None:
    """Values cached, snapshot taken, values rewritten, Redis restarted from that snapshot: the old
    values are back in Redis, and must not be served."""
    import redis as sync_redis

    async with grpc.aio.insecure_channel(cached_app.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        users = [await _user(stub) for _ in range(5)]
        for user in users:
            await stub.GetUser(api.GetUserRequest(id=user.id))
            await stub.GetUser(api.GetUserRequest(id=user.id))  # cached now
        sync_redis.Redis(port=redis_server.port).save()
        for user in users:
            await stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=user.id, bio="after the snapshot")))
            await stub.GetUser(api.GetUserRequest(id=user.id))
        redis_server.kill()
        redis_server.start()  # loads dump.rdb: the pre-update values, with their old versions
        stale = sync_redis.Redis(port=redis_server.port).keys(f"{cached_app.settings.cache_prefix}users:*")
        assert stale, "the snapshot should hold the old entries"
        for _ in range(3):
            for user in users:
                got = await stub.GetUser(api.GetUserRequest(id=user.id))
                assert got.bio == "after the snapshot"
    assert cached_app.cache.store.recoveries >= 1  # type: ignore[union-attr]
