"""Issue 18: a restart on PostgreSQL + Redis must not serve what an acknowledged update replaced.

One server process runs a write-heavy mixed load (UpdateUser, GetUser, BatchGetUsers, ListUsers, small
Imports) from a few clients; it gets SIGTERM (or kill -9) mid-load and a new process is started at once
on the same database, Redis, cache prefix and page-token secret, overlapping the old one's grace. Every
UpdateUser the old process answered OK must then read back, through the new process's GetUser,
BatchGetUsers and ListUsers, with its own version or a newer one. Several restarts in a row; each new
process is the next round's old one. The clients move to the new process as soon as the old one refuses
them, and every read is checked by the history checker of test_history.py. Also with two replicas, only
one of them restarted; and, deterministically, a writer killed between commit and invalidation.

Before the fix every run of the first three failed (1-6 stale reads each): an update that found its value
already there acknowledged a version whose tombstone was still on its way, or lost with a process the
shutdown's grace or kill -9 ended, and a starting process leased Redis while that row was pending.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from service.cache.entries import VALUE, unpack
from tests.conftest import RedisProcess, fresh_pg_database
from tests.e2e.process import ServerProcess
from tests.e2e.test_history import Op, check, timed, version

Stub = user_service_pb2_grpc.UserServiceStub

pytestmark = pytest.mark.postgres
USERS = 4
CLIENTS = 6
BIOS = ("a", "b", "c")  # few values: some updates find the value already there
LOAD_S = 0.6  # load on the old process before its signal (the signal's timing, not a synchronisation)
ROUNDS = 5


class Target:
    """Where the clients send their calls: the old process until it refuses, then the new one."""

    def __init__(self, stub: user_service_pb2_grpc.UserServiceStub) -> None:
        self.stub = stub
        self.moved = asyncio.Event()


async def call(history: list[Op], target: Target, op: Op, make: Callable[[Stub], Awaitable[Any]]) -> Any:
    """One call through the current target, recorded; a failure of the old process moves the client to
    the new one (the failed call is recorded as failed: it was not acknowledged)."""
    stub = target.stub
    result = await timed(history, op, make(stub))
    if op.status not in ("OK", "NOT_FOUND") and stub is target.stub:
        await target.moved.wait()
    return result


async def load(targets: list[Target], ids: list[str], history: list[Op], stop: asyncio.Event) -> None:
    """Updates (55 %), Gets, BatchGets, Lists and small Imports until ``stop``, each to a random target."""
    rng = random.Random()
    while not stop.is_set():
        target = rng.choice(targets)
        roll = rng.random()
        if roll < 0.55:
            key = rng.choice(ids)
            op = Op("update", time.monotonic())
            request = api.UpdateUserRequest(user=pb.User(id=key, bio=rng.choice(BIOS)))
            user = await call(history, target, op, lambda s, r=request: s.UpdateUser(r, timeout=5))
            if user is not None:
                op.versions[key] = version(user)
        elif roll < 0.75:
            key = rng.choice(ids)
            op = Op("get", time.monotonic())
            request = api.GetUserRequest(id=key)
            user = await call(history, target, op, lambda s, r=request: s.GetUser(r, timeout=5))
            if user is not None:
                op.versions[key] = version(user)
        elif roll < 0.85:
            op = Op("batch_get", time.monotonic())
            request = api.BatchGetUsersRequest(ids=rng.sample(ids, 3))
            got = await call(history, target, op, lambda s, r=request: s.BatchGetUsers(r, timeout=5))
            if got is not None:
                op.versions.update({u.id: version(u) for u in got.users})
        elif roll < 0.95:
            op = Op("list", time.monotonic())
            request = api.ListUsersRequest(page_size=1000)
            got = await call(history, target, op, lambda s, r=request: s.ListUsers(r, timeout=5))
            if got is not None:
                op.versions.update({u.id: version(u) for u in got.users if u.id in ids})
        else:
            tag = secrets.token_hex(4)
            users = [pb.User(id=f"i{tag}{n}", email=f"i{tag}{n}@x.io", display_name="I") for n in range(20)]
            op = Op("import", time.monotonic())
            request = api.ImportUsersRequest(users=users)
            await call(history, target, op, lambda s, r=request: s.ImportUsers(iter([r]), timeout=5))


async def restarts(
    tmp: Path, redis: RedisProcess, sig: int, rounds: int, *, steady: bool = False
) -> list[Op]:
    """``rounds`` restarts under load, each new process started at once; the whole history. With
    ``steady``, a second replica serves half the load throughout and is never restarted."""
    env = {
        "WELLSPRING_REDIS_URL": redis.url,
        "WELLSPRING_CACHE_PREFIX": f"r{secrets.token_hex(3)}:",
        "WELLSPRING_PAGE_TOKEN_SECRET": "restart-test-secret-0123456789",
        "WELLSPRING_SHUTDOWN_GRACE_S": "1",
        "WELLSPRING_REDIS_TIMEOUT_S": "0.2",
        # Redis calls delayed at random (test-only): more writes between commit and invalidation at the signal
        "WELLSPRING_TEST_REDIS_DELAY_S": "0.05",
    }
    history: list[Op] = []
    async with fresh_pg_database() as url:
        servers: list[ServerProcess] = []
        channels: list[grpc.aio.Channel] = []
        try:
            old = ServerProcess(tmp, url, name="r0", **env)
            servers.append(old)
            old.start()
            await old.serving()
            channels.append(grpc.aio.insecure_channel(old.address))
            target = Target(user_service_pb2_grpc.UserServiceStub(channels[-1]))
            targets = [target]
            if steady:
                other = ServerProcess(tmp, url, name="steady", **env)
                servers.append(other)
                other.start()
                await other.serving()
                channels.append(grpc.aio.insecure_channel(other.address))
                targets.append(Target(user_service_pb2_grpc.UserServiceStub(channels[-1])))
            ids = []
            for n in range(USERS):
                user = pb.User(email=f"u{n}-{secrets.token_hex(3)}@x.io", display_name=f"U {n}")
                ids.append((await target.stub.CreateUser(api.CreateUserRequest(user=user))).id)
            stop = asyncio.Event()
            clients = [asyncio.create_task(load(targets, ids, history, stop)) for _ in range(CLIENTS)]
            try:
                for n in range(rounds):
                    await asyncio.sleep(LOAD_S)  # the signal's timing within the load, not a synchronisation
                    old.signal(sig)
                    new = ServerProcess(tmp, url, name=f"r{n + 1}", **env)
                    servers.append(new)
                    new.start()  # at once: overlapping the old process's grace
                    await new.serving()
                    channels.append(grpc.aio.insecure_channel(new.address))
                    moved = target.moved
                    target.moved = asyncio.Event()
                    target.stub = user_service_pb2_grpc.UserServiceStub(channels[-1])
                    moved.set()
                    await old.exit_code(20)
                    old = new
                await asyncio.sleep(LOAD_S)
            finally:
                stop.set()
                target.moved.set()
                await asyncio.gather(*clients)
        finally:
            for channel in channels:
                await channel.close()
            for server in servers:
                server.stop()
    return history


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
async def test_no_stale_read_after_a_restart(redis_server: RedisProcess, tmp_path: Path, sig: int) -> None:
    history = await restarts(tmp_path, redis_server, sig, rounds=ROUNDS)
    updates = [op for op in history if op.kind == "update" and op.status == "OK"]
    reads = [op for op in history if op.kind in ("get", "batch_get", "list") and op.status == "OK"]
    violations = check(history)
    name = signal.Signals(sig).name
    figures = f"{len(updates)} acknowledged updates, {len(reads)} reads, {len(violations)} stale"
    print(f"{ROUNDS} restarts ({name}): {figures}")
    assert len(updates) > 100 and len(reads) > 100
    assert violations == [], violations[:10]


async def test_no_stale_read_with_two_replicas_while_one_restarts(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    """The history checker across the restarts (kill -9) of one of two replicas; the other keeps its lease."""
    history = await restarts(tmp_path, redis_server, signal.SIGKILL, rounds=3, steady=True)
    updates = [op for op in history if op.kind == "update" and op.status == "OK"]
    violations = check(history)
    print(f"3 restarts of one of two replicas: {len(updates)} acknowledged updates, {len(violations)} stale")
    assert len(updates) > 100
    assert violations == [], violations[:10]


def _slot(client: Any, key: str) -> tuple[int, bytes]:
    """(row version, kind) of the cache entry in ``key``; (0, b"") when empty."""
    blob = client.get(key)
    if not blob:
        return 0, b""
    entry = unpack(blob)
    return entry.version, entry.kind


async def test_a_starting_process_applies_what_a_killed_writer_left_pending(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    """kill -9 between a write's commit and its invalidation (held there by a test-only Redis delay), the
    outbox row a moment old: a process started then must not serve the replaced value from Redis. Before,
    it took its first lease at once and served it until the row counted as abandoned (10 s here)."""
    import asyncpg
    import redis

    prefix = f"k{secrets.token_hex(3)}:"
    env = {
        "WELLSPRING_REDIS_URL": redis_server.url,
        "WELLSPRING_CACHE_PREFIX": prefix,
        "WELLSPRING_PAGE_TOKEN_SECRET": "restart-test-secret-0123456789",
        "WELLSPRING_CACHE_ABANDONED_AFTER_S": "10",
    }
    cache = redis.Redis(port=redis_server.port)
    async with fresh_pg_database() as url:
        db = await asyncpg.connect(url)
        try:
            with ServerProcess(tmp_path, url, name="filler", **env) as filler:
                await filler.serving()
                async with grpc.aio.insecure_channel(filler.address) as channel:
                    stub = user_service_pb2_grpc.UserServiceStub(channel)
                    user = await stub.CreateUser(
                        api.CreateUserRequest(user=pb.User(email="k@x.io", display_name="K"))
                    )
                    key = f"{prefix}users:{user.id}"
                    deadline = time.monotonic() + 10
                    while _slot(cache, key)[1] != VALUE:  # read until a Get has filled it
                        assert time.monotonic() < deadline, "the cache was never filled"
                        await stub.GetUser(api.GetUserRequest(id=user.id), timeout=5)
            # Each Redis call of the writer first waits up to 20 s: its commit lands, its tombstone does not.
            slow = {**env, "WELLSPRING_TEST_REDIS_DELAY_S": "20", "WELLSPRING_REDIS_TIMEOUT_S": "30"}
            for attempt in range(5):
                with ServerProcess(tmp_path, url, name=f"writer{attempt}", **slow) as writer:
                    await writer.serving()
                    async with grpc.aio.insecure_channel(writer.address) as channel:
                        stub = user_service_pb2_grpc.UserServiceStub(channel)
                        request = api.UpdateUserRequest(user=pb.User(id=user.id, bio=f"b{attempt}"))
                        update = asyncio.ensure_future(stub.UpdateUser(request, timeout=30))
                        select = "SELECT version, update_time_us FROM users WHERE id = $1"
                        before = await db.fetchrow(select, user.id)
                        deadline = time.monotonic() + 10
                        while (committed := await db.fetchrow(select, user.id)) == before:
                            assert time.monotonic() < deadline, "the update never committed"
                            await asyncio.sleep(0.002)
                        writer.signal(signal.SIGKILL)
                        with pytest.raises(grpc.aio.AioRpcError):
                            await update  # never acknowledged
                if _slot(cache, key)[0] < committed["version"]:
                    break  # killed between commit and invalidation: the case under test
            else:
                pytest.fail("the writer was never killed between commit and invalidation")
            with ServerProcess(tmp_path, url, name="fresh", **env) as fresh:
                await fresh.serving()
                async with grpc.aio.insecure_channel(fresh.address) as channel:
                    stub = user_service_pb2_grpc.UserServiceStub(channel)
                    for _ in range(3):  # the first lease is taken by then, whatever the timing
                        got = await stub.GetUser(api.GetUserRequest(id=user.id), timeout=5)
                        batch = await stub.BatchGetUsers(api.BatchGetUsersRequest(ids=[user.id]), timeout=5)
                        listed = await stub.ListUsers(api.ListUsersRequest(page_size=10), timeout=5)
                        seen = [version(got), version(batch.users[0]), *(version(u) for u in listed.users)]
                        assert seen == [committed["update_time_us"]] * 3, (seen, committed)
                        await asyncio.sleep(
                            0.3
                        )  # a lease renewal's interval, to read under a later lease too
        finally:
            await db.close()
            cache.close()
