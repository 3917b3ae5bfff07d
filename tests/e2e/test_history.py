"""The cache promise checked from histories (DESIGN §6), with two real replica processes sharing a real
PostgreSQL and a real Redis.

Many clients run a mixed workload against both replicas; one replica's Redis calls are delayed at random
to widen races. Every operation's invoke and complete times, status and returned versions (update_time,
strictly increasing per user) are recorded, then checked: no read returned a version older than the
newest write acknowledged before the read began, and nothing acknowledged as existing reads as NOT_FOUND
(or as existing after an acknowledged delete). The same run with fills switched to a plain SET — a
test-only setting — must fail the check: the test of the test.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from tests.conftest import RedisProcess, fresh_pg_database
from tests.e2e.process import wait_serving

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 4.0
CLIENTS = 12
FIXED = 6


@dataclass
class Op:
    kind: str
    invoke: float
    complete: float = 0.0
    status: str = "OK"
    versions: dict[str, int | None] = field(default_factory=dict)  # key -> update_time µs, None: NOT_FOUND


def version(user: pb.User) -> int:
    return user.update_time.seconds * 1_000_000 + user.update_time.nanos // 1000


def check(history: list[Op]) -> list[str]:
    """Every read against the writes acknowledged before it began."""
    puts: dict[str, list[Op]] = defaultdict(list)
    deletes: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        if op.status != "OK":
            continue
        for key in op.versions:
            if op.kind in ("update", "create"):
                puts[key].append(op)
            elif op.kind == "delete":
                deletes[key].append(op)
    violations = []
    for read in history:
        if read.kind not in ("get", "batch_get", "list") or read.status not in ("OK", "NOT_FOUND"):
            continue
        for key, got in read.versions.items():
            acked = [w.versions[key] for w in puts[key] if w.complete < read.invoke]
            newest = max((v for v in acked if v is not None), default=None)
            deleted_before = any(d.complete < read.invoke for d in deletes[key])
            delete_started = any(d.invoke < read.complete for d in deletes[key])
            if got is None:
                if newest is not None and not delete_started:
                    violations.append(f"{read.kind} of {key} was NOT_FOUND after an acknowledged write")
            elif deleted_before:
                violations.append(f"{read.kind} of {key} returned a value after an acknowledged delete")
            elif newest is not None and got < newest:
                violations.append(f"{read.kind} of {key} returned {got} < {newest} acknowledged before it")
    return violations


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def replica(url: str, redis_url: str, prefix: str, tmp: Path, **extra: str) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "WELLSPRING_ADDR": f"127.0.0.1:{port}",
        "WELLSPRING_DATABASE_URL": url,
        "WELLSPRING_REDIS_URL": redis_url,
        "WELLSPRING_CACHE_PREFIX": prefix,
        "WELLSPRING_PAGE_TOKEN_SECRET": "history-test-secret-0123456789",
        "WELLSPRING_ACCESS_LOG": "0",
        "WELLSPRING_REDIS_TIMEOUT_S": "0.2",
        "WELLSPRING_SHUTDOWN_GRACE_S": "1",
        **extra,
    }
    with open(tmp / f"replica-{port}.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], env=env, cwd=ROOT, stderr=log)
        try:
            yield f"127.0.0.1:{port}"
            assert proc.poll() is None, f"replica on {port} died; see {log.name}"
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def timed(history: list[Op], op: Op, call: object) -> object | None:
    try:
        result = await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        op.complete, op.status = time.monotonic(), error.code().name
        history.append(op)
        return None
    op.complete = time.monotonic()
    history.append(op)
    return result


async def client(stubs: list, fixed: list[str], ephemeral: list[str], history: list[Op], stop: float) -> None:  # type: ignore[type-arg]
    rng = random.Random()
    while time.monotonic() < stop:
        stub = rng.choice(stubs)
        roll = rng.random()
        key = rng.choice(fixed)
        if roll < 0.40:
            pool = fixed + ephemeral[-4:]
            key = rng.choice(pool)
            op = Op("get", time.monotonic())
            user = await timed(history, op, stub.GetUser(api.GetUserRequest(id=key), timeout=10))
            op.versions[key] = version(user) if user is not None else None
            if op.status not in ("OK", "NOT_FOUND"):
                op.versions.clear()
        elif roll < 0.55:
            keys = rng.sample(fixed, 3)
            op = Op("batch_get", time.monotonic())
            got = await timed(history, op, stub.BatchGetUsers(api.BatchGetUsersRequest(ids=keys), timeout=10))
            if got is not None:
                op.versions.update({u.id: version(u) for u in got.users})
            elif op.status == "NOT_FOUND":
                op.versions.update(dict.fromkeys(keys))
        elif roll < 0.65:
            op = Op("list", time.monotonic())
            got = await timed(history, op, stub.ListUsers(api.ListUsersRequest(page_size=100), timeout=10))
            if got is not None:
                op.versions.update({u.id: version(u) for u in got.users})
        elif roll < 0.90:
            op = Op("update", time.monotonic())
            bio = secrets.token_hex(4)
            user = await timed(
                history, op, stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=key, bio=bio)), timeout=10)
            )
            if user is not None:
                op.versions[key] = version(user)
        elif roll < 0.95:
            new_id = "e-" + secrets.token_hex(5)
            op = Op("create", time.monotonic())
            user = pb.User(email=f"{new_id}@x.io", display_name=new_id)
            created = await timed(
                history, op, stub.CreateUser(api.CreateUserRequest(user=user, user_id=new_id), timeout=10)
            )
            if created is not None:
                op.versions[new_id] = version(created)
                ephemeral.append(new_id)
        elif ephemeral:
            victim = ephemeral.pop(rng.randrange(len(ephemeral)))
            op = Op("delete", time.monotonic())
            op.versions[victim] = None
            await timed(history, op, stub.DeleteUser(api.DeleteUserRequest(id=victim), timeout=10))


async def inject(fault: str, redis: RedisProcess) -> None:
    """A third of the way in, kill -9 (or SIGSTOP) the Redis server; a third later, bring it back."""
    import signal

    await asyncio.sleep(DURATION_S / 3)  # the fault's timing within the run, not a synchronisation
    if fault == "kill":
        redis.kill()
    else:
        redis.signal(signal.SIGSTOP)
    await asyncio.sleep(DURATION_S / 3)
    if fault == "kill":
        redis.start()
    else:
        redis.signal(signal.SIGCONT)


async def run_workload(
    addresses: list[str], fault: str = "none", redis: RedisProcess | None = None
) -> list[Op]:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    stubs = [user_service_pb2_grpc.UserServiceStub(c) for c in channels]
    try:
        fixed = []
        for i in range(FIXED):
            user = pb.User(email=f"fixed{i}-{secrets.token_hex(3)}@x.io", display_name=f"Fixed {i}")
            fixed.append((await stubs[0].CreateUser(api.CreateUserRequest(user=user))).id)
        history: list[Op] = []
        ephemeral: list[str] = []
        stop = time.monotonic() + DURATION_S
        faults = [inject(fault, redis)] if fault != "none" and redis is not None else []
        await asyncio.gather(
            *(client(stubs, fixed, ephemeral, history, stop) for _ in range(CLIENTS)), *faults
        )
        return history
    finally:
        for channel in channels:
            await channel.close()


@asynccontextmanager
async def cluster(redis: RedisProcess, tmp: Path, **extra: str) -> AsyncIterator[list[str]]:
    async with fresh_pg_database() as url:
        prefix = f"h{secrets.token_hex(3)}:"
        with (
            replica(url, redis.url, prefix, tmp, **extra) as first,
            replica(url, redis.url, prefix, tmp, WELLSPRING_TEST_REDIS_DELAY_S="0.03", **extra) as second,
        ):
            await wait_serving(first)
            await wait_serving(second)
            yield [first, second]


@pytest.mark.parametrize("fault", ["none", "kill", "stop"])
async def test_history_keeps_the_promise(redis_server: RedisProcess, tmp_path: Path, fault: str) -> None:
    """Also with Redis killed (kill -9, restarted empty) or paused (SIGSTOP/SIGCONT) in the middle:
    zero failed requests and no stale read."""
    async with cluster(redis_server, tmp_path) as addresses:
        history = await run_workload(addresses, fault, redis_server)
    reads = [op for op in history if op.kind in ("get", "batch_get") and op.status == "OK"]
    assert len(history) > 500 and len(reads) > 200, len(history)
    failed = [op for op in history if op.status not in ("OK", "NOT_FOUND")]
    assert failed == [], failed[:5]
    violations = check(history)
    print(
        f"history: {len(history)} operations, {len(reads)} Get/BatchGet reads, {len(violations)} violations"
    )
    assert violations == [], violations[:10]


async def test_plain_set_fills_break_the_promise_and_the_checker_sees_it(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    async with cluster(redis_server, tmp_path, WELLSPRING_TEST_UNSAFE_PLAIN_FILLS="1") as addresses:
        history = await run_workload(addresses)
    violations = check(history)
    print(f"plain-SET fills: {len(history)} operations, {len(violations)} violations")
    assert violations, "a cache-aside fill with a plain SET must produce stale reads"


def test_the_checker_itself() -> None:
    write = Op("update", 0.0, 1.0, versions={"a": 10})
    fresh = Op("get", 2.0, 3.0, versions={"a": 10})
    stale = Op("get", 2.0, 3.0, versions={"a": 9})
    lost = Op("get", 2.0, 3.0, versions={"a": None})
    concurrent = Op("get", 0.5, 3.0, versions={"a": 9})  # began before the write was acknowledged
    assert check([write, fresh, concurrent]) == []
    assert len(check([write, stale])) == 1 and len(check([write, lost])) == 1
    delete = Op("delete", 4.0, 5.0, versions={"a": None})
    assert len(check([write, delete, Op("get", 6.0, 7.0, versions={"a": 10})])) == 1
