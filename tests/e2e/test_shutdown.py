"""SIGTERM under load fails no call (issue 9, part 4), against a real server process on both backends.

The mix of the issue — 150 unary calls, 10 ImportUsers, 40 Watch — is sent over several connections, and
a health check on each connection after them is the barrier that proves the server's HTTP/2 transport has
read them (a connection's frames are read in order) before the signal: most are then still queued in
gRPC's core, not yet handed to a handler. Every one of those must run to completion (Watch ends at once
with where to resume), calls sent after the signal get a retryable UNAVAILABLE, and the process exits 0
well within its grace — or 1 when the grace ran out with a call still running.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2_grpc
from wellspring.v1 import watch_service_pb2 as watch_api

from tests.conftest import RedisProcess, fresh_pg_database
from tests.e2e.helpers import details
from tests.e2e.process import ServerProcess

GRACE_S = 10.0
CHANNELS = 8  # 25 calls per connection: well under any per-connection stream limit
SEEDED = 30


@dataclass
class Outcome:
    """How one call ended, as its client saw it."""

    kind: str
    code: str
    reason: str = ""
    retry_delay_s: float | None = None
    resume_revision: str = ""
    ended: float = 0.0


def _outcome(kind: str, error: grpc.aio.AioRpcError | None) -> Outcome:
    if error is None:
        return Outcome(kind, "OK", ended=time.monotonic())
    found: dict[str, Any] = {}
    try:
        found = details(error)
    except (AssertionError, KeyError):  # transport-level failures carry no details
        pass
    info = found.get("ErrorInfo", [None])[0]
    retry = found.get("RetryInfo", [None])[0]
    return Outcome(
        kind,
        error.code().name,
        reason=info.reason if info is not None else "",
        retry_delay_s=retry.retry_delay.ToTimedelta().total_seconds() if retry is not None else None,
        resume_revision=info.metadata.get("resume_revision", "") if info is not None else "",
        ended=time.monotonic(),
    )


async def _ended(kind: str, call: Awaitable[Any]) -> Outcome:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return _outcome(kind, error)
    return _outcome(kind, None)


async def _watch(stub: watch_service_pb2_grpc.WatchServiceStub) -> Outcome:
    try:
        async for _ in stub.Watch(watch_api.WatchRequest()):
            pass
    except grpc.aio.AioRpcError as error:
        return _outcome("watch", error)
    return _outcome("watch", None)  # a Watch never ends by itself: the assertions catch this


async def _health_watch(channel: grpc.aio.Channel) -> tuple[Outcome, list[int]]:
    statuses: list[int] = []
    try:
        async for response in health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest()):
            statuses.append(response.status)
    except grpc.aio.AioRpcError as error:
        return _outcome("health", error), statuses
    return _outcome("health", None), statuses


def _imports(tag: str, messages: int = 3, per_message: int = 200) -> list[api.ImportUsersRequest]:
    return [
        api.ImportUsersRequest(
            users=[
                pb.User(id=f"{tag}-{m}-{i}", email=f"{tag}.{m}.{i}@example.com", display_name="Imported")
                for i in range(per_message)
            ]
        )
        for m in range(messages)
    ]


def _unary(stub: user_service_pb2_grpc.UserServiceStub, i: int, seeded: list[str]) -> Awaitable[Any]:
    """Reads and writes; every write touches its own user, so none conflicts with another."""
    match i % 5:
        case 0:
            return stub.ListUsers(api.ListUsersRequest(page_size=100))
        case 1 | 2:
            return stub.GetUser(api.GetUserRequest(id=seeded[i % len(seeded)]))
        case 3:
            return stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=seeded[i // 5], bio=f"bio {i}")))
        case _:
            user = pb.User(email=f"new{i}@example.com", display_name=f"New {i}")
            return stub.CreateUser(api.CreateUserRequest(user=user))


async def _seed(stub: user_service_pb2_grpc.UserServiceStub) -> list[str]:
    created = await asyncio.gather(
        *(
            stub.CreateUser(api.CreateUserRequest(user=pb.User(email=f"s{i}@example.com", display_name="S")))
            for i in range(SEEDED)
        )
    )
    return [user.id for user in created]


async def _probe_after_signal(
    channel: grpc.aio.Channel, user_id: str, exited: asyncio.Event, refused: asyncio.Event
) -> list[Outcome]:
    """A client that keeps calling after the signal, honouring RetryInfo as a well-behaved client does."""
    stub = user_service_pb2_grpc.UserServiceStub(channel)
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + GRACE_S + 10
    while not exited.is_set() and time.monotonic() < deadline:
        outcome = await _ended("after", stub.GetUser(api.GetUserRequest(id=user_id), timeout=5))
        outcomes.append(outcome)
        if outcome.reason:
            refused.set()
        if outcome.code == "UNAVAILABLE" and not outcome.reason:
            break  # the listener is gone: nothing more to learn
        await asyncio.sleep(outcome.retry_delay_s or 0.005)  # pacing a client, not synchronising
    return outcomes


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    """(database URL, extra environment): embedded SQLite, or PostgreSQL with a real redis-server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'wellspring.sqlite3'}", {}
        return
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        async with fresh_pg_database() as url:
            yield url, {"WELLSPRING_REDIS_URL": redis.url}
    finally:
        redis.kill()


async def _barrier(channel: grpc.aio.Channel) -> None:
    """Once this is answered, the server has read every frame sent before it on this connection."""
    await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)


async def test_sigterm_under_load_fails_no_call(backend: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    url, env = backend
    with ServerProcess(tmp_path, url, WELLSPRING_SHUTDOWN_GRACE_S=str(GRACE_S), **env) as server:
        await server.serving()
        # Each its own connection: channels to one target otherwise share one (grpc's subchannel pool)
        own = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.aio.insecure_channel(server.address, options=own) for _ in range(CHANNELS + 1)]
        try:
            users = [user_service_pb2_grpc.UserServiceStub(ch) for ch in channels]
            watches = [watch_service_pb2_grpc.WatchServiceStub(ch) for ch in channels]
            for channel in channels:
                await _barrier(channel)  # every connection is up before the burst
            seeded = await _seed(users[0])
            # A load balancer's health Watch sees NOT_SERVING, then ends with the drain instead of holding it
            health_watch = asyncio.create_task(_health_watch(channels[CHANNELS]))
            # An Import still sending after the signal: it keeps the server draining until a call sent
            # after the signal has been refused, then half-closes (and must succeed)
            refused = asyncio.Event()
            held = asyncio.create_task(_held_import(users[CHANNELS], refused))
            calls: list[asyncio.Task[Outcome]] = []
            for i in range(150):
                calls.append(asyncio.create_task(_ended("unary", _unary(users[i % CHANNELS], i, seeded))))
            for i in range(10):
                stub = users[i % CHANNELS]
                calls.append(
                    asyncio.create_task(_ended("import", stub.ImportUsers(iter(_imports(f"im{i}")))))
                )
            for i in range(40):
                calls.append(asyncio.create_task(_watch(watches[i % CHANNELS])))
            await asyncio.gather(*(_barrier(ch) for ch in channels))
            signalled = time.monotonic()
            server.signal(signal.SIGTERM)
            exited = asyncio.Event()
            prober = asyncio.create_task(_probe_after_signal(channels[CHANNELS], seeded[0], exited, refused))
            code = await server.exit_code(GRACE_S + 20)
            exit_s = time.monotonic() - signalled
            exited.set()
            outcomes = await asyncio.gather(*calls)
            health_end, statuses = await health_watch
            held_end = await held
            after = await prober
        finally:
            for channel in channels:
                await channel.close()

    tally = Counter((o.kind, o.code, o.reason) for o in outcomes)
    late = Counter(o.code for o in after)
    watch_s = max(o.ended for o in outcomes if o.kind == "watch") - signalled
    print(f"\nexit {code} after {exit_s:.2f}s, last Watch end {watch_s:.2f}s; {dict(tally)}; {dict(late)}")
    assert not [o for o in outcomes + after if o.code == "CANCELLED"], tally
    assert tally["unary", "OK", ""] == 150 and tally["import", "OK", ""] == 10, tally
    assert held_end.code == "OK", held_end
    watch_ends = [o for o in outcomes if o.kind == "watch"]
    assert all(o.code == "UNAVAILABLE" and o.reason == "SERVER_SHUTTING_DOWN" for o in watch_ends), tally
    assert all(int(o.resume_revision) > 0 for o in watch_ends)
    # At once: not held until the grace's end (a Watch queued behind the burst first waits for a database
    # connection to learn the revision to resume from)
    assert watch_s < GRACE_S / 2, f"the last Watch ended {watch_s:.2f}s after the signal"
    # After the signal: answered (while the server still admits) or refused with a retryable status
    assert {o.code for o in after} <= {"OK", "UNAVAILABLE"}, after
    refusals = [o for o in after if o.reason]
    assert refusals and all(o.reason == "SERVER_SHUTTING_DOWN" and o.retry_delay_s for o in refusals), after
    assert statuses[-1] == health_pb2.HealthCheckResponse.NOT_SERVING, statuses
    assert health_end.code == "UNAVAILABLE" and health_end.reason == "SERVER_SHUTTING_DOWN", health_end
    assert code == 0, server.log_text()[-3000:]
    assert exit_s < GRACE_S, f"exited after {exit_s:.2f}s"


async def _held_import(stub: user_service_pb2_grpc.UserServiceStub, release: asyncio.Event) -> Outcome:
    async def requests() -> AsyncIterator[api.ImportUsersRequest]:
        yield api.ImportUsersRequest(users=[pb.User(id="held", email="held@example.com", display_name="H")])
        await release.wait()  # the client never half-closes while the server shuts down

    return await _ended("import", stub.ImportUsers(requests()))


async def test_exit_code_is_one_when_the_grace_runs_out(tmp_path: Path) -> None:
    grace_s = 1.0
    url = f"sqlite:///{tmp_path / 'wellspring.sqlite3'}"
    with ServerProcess(tmp_path, url, WELLSPRING_SHUTDOWN_GRACE_S=str(grace_s)) as server:
        await server.serving()
        release = asyncio.Event()
        async with grpc.aio.insecure_channel(server.address) as channel:
            held = asyncio.create_task(_held_import(user_service_pb2_grpc.UserServiceStub(channel), release))
            await _barrier(channel)
            signalled = time.monotonic()
            server.signal(signal.SIGTERM)
            code = await server.exit_code(30)
            exit_s = time.monotonic() - signalled
            release.set()
            await held
    assert code == 1, server.log_text()[-3000:]
    assert grace_s <= exit_s < grace_s + 5, f"exited after {exit_s:.2f}s"
    assert any("grace" in line["message"] for line in server.log_lines() if line["level"] == "WARNING")


async def test_idle_server_exits_zero_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wellspring.sqlite3'}"
    with ServerProcess(tmp_path, url, WELLSPRING_SHUTDOWN_GRACE_S=str(GRACE_S)) as server:
        await server.serving()
        signalled = time.monotonic()
        server.signal(signal.SIGTERM)
        code = await server.exit_code(30)
        exit_s = time.monotonic() - signalled
    assert code == 0
    assert exit_s < 2.0, f"exited after {exit_s:.2f}s"
