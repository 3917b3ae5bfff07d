"""Clients that stop reading, read slowly or walk away (issue 9, parts 1 and 5), against real servers.

A raw HTTP/2 client (tests/e2e/raw_h2.py) opens ExportUsers streams with a 1-byte window that it never
re-opens: an Export that cannot send is ended after the stall time, exports hold a bounded share of the
database, other clients' calls and health are unaffected, and nothing is left pinned (PostgreSQL
sessions idle in transaction, the SQLite WAL). Streams dropped by their clients are CANCELLED, never
errors. Transport-level input that gRPC's C core rejects before the service sees it is pinned here so
that the README's account of it stays true.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.rpc import error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.ext.asyncio import create_async_engine
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc as rpc
from wellspring.v1 import watch_service_pb2 as watch_api

from service.repository.database import async_url
from tests.conftest import fresh_pg_database, sqlite_url_for, start_app
from tests.e2e.process import ServerProcess
from tests.e2e.raw_h2 import RawGrpcConnection, Stream, grpc_frame, grpc_messages

EXPORT = "/wellspring.v1.UserService/ExportUsers"
WATCH = "/wellspring.v1.WatchService/Watch"
GET = "/wellspring.v1.UserService/GetUser"
ABORTED, RESOURCE_EXHAUSTED = grpc.StatusCode.ABORTED.value[0], grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
STALL_S = 2.0
SLOTS = 4
ATTACKERS = 20
DROPPED = 120
FAST_S = 2.0  # "answers fast": generous for a shared machine, below the pool timeouts (5 s, 30 s)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield sqlite_url_for(tmp_path)
    else:
        async with fresh_pg_database() as url:
            yield url


def user(prefix: str, n: int, bio: str = "") -> pb.User:
    return pb.User(
        id=f"{prefix}-{n:06d}", email=f"{prefix}-{n}@example.com", display_name=f"{prefix} {n}", bio=bio
    )


async def seed(users: rpc.UserServiceStub, prefix: str, count: int, bio: str) -> None:
    items = [user(prefix, n, bio) for n in range(count)]
    requests = [api.ImportUsersRequest(users=items[i : i + 250]) for i in range(0, count, 250)]
    assert (await users.ImportUsers(iter(requests))).created_count == count


def export_request(query: str = "") -> bytes:
    return grpc_frame(api.ExportUsersRequest(query=query).SerializeToString())


def error_info(stream: Stream) -> tuple[error_details_pb2.ErrorInfo, list[str]]:
    """The ErrorInfo of a raw stream's status details, and the type names of all its details."""
    raw = stream.trailers.get("grpc-status-details-bin", stream.headers.get("grpc-status-details-bin", ""))
    status = status_pb2.Status.FromString(base64.b64decode(raw + "=" * (-len(raw) % 4)))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info, [d.type_url.rsplit(".", 1)[-1] for d in status.details]


def size(path: Path) -> int:
    """A file's size (a stat: too quick to be worth a thread)."""
    return path.stat().st_size


async def until(check: Callable[[], Any], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def answers_fast(
    users: rpc.UserServiceStub, health: health_pb2_grpc.HealthStub, prefix: str, n: int
) -> None:
    """Another client's Get, List, Create and health check each answer within FAST_S."""
    started = time.monotonic()
    await users.GetUser(api.GetUserRequest(id=f"{prefix}-000001"), timeout=FAST_S)
    await users.ListUsers(api.ListUsersRequest(page_size=20, query=prefix), timeout=FAST_S)
    await users.CreateUser(api.CreateUserRequest(user=user(f"new-{prefix}", n)), timeout=FAST_S)
    status = (await health.Check(health_pb2.HealthCheckRequest(), timeout=FAST_S)).status
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert time.monotonic() - started < 2 * FAST_S


async def pg_idle_in_transaction(url: str) -> list[str]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.text(
                    "SELECT state FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
                )
            )
            return [r[0] for r in rows]
    finally:
        await engine.dispose()


# --- Part 1: the slow-reader attack ---------------------------------------------------------------------


async def test_stalled_exports_never_pin_the_database(tmp_path: Path, database_url: str) -> None:
    prefix = secrets.token_hex(4)
    env = {"WELLSPRING_STREAM_STALL_S": str(STALL_S), "WELLSPRING_EXPORT_MAX_CONCURRENT": str(SLOTS)}
    with ServerProcess(tmp_path, database_url, **env) as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            users, health = rpc.UserServiceStub(channel), health_pb2_grpc.HealthStub(channel)
            await seed(users, prefix, 400, bio="b" * 500)  # ~200 KB: no export fits in a 1-byte window
            async with RawGrpcConnection.open(server.address, window=1, read_window=False) as attacker:
                streams = [attacker.call(EXPORT, export_request()) for _ in range(ATTACKERS)]
                started = time.monotonic()

                def refused() -> list[Stream]:
                    found = [attacker.streams[s] for s in streams]
                    return [s for s in found if s.grpc_status == RESOURCE_EXHAUSTED]

                async def all_but_the_slots_refused() -> bool:
                    return len(refused()) >= ATTACKERS - SLOTS

                await until(all_but_the_slots_refused, 5, "exports beyond the slots are refused at once")
                assert time.monotonic() - started < STALL_S
                info, kinds = error_info(refused()[0])
                assert info.reason == "TOO_MANY_EXPORTS" and "RetryInfo" in kinds
                # During the stall and after it, other clients are served at once and health holds.
                n = 0
                while time.monotonic() - started < STALL_S + 1.5:
                    n += 1
                    await answers_fast(users, health, prefix, n)
                if database_url.startswith("postgresql"):

                    async def released() -> bool:
                        return await pg_idle_in_transaction(database_url) == []

                    await until(released, 10, "a stalled export's session is still idle in transaction")

                # Their slots are free again: a client that reads gets its whole export.
                async def exported() -> bool:
                    try:
                        found = [
                            u
                            async for m in users.ExportUsers(api.ExportUsersRequest(query=prefix))
                            for u in m.users
                        ]
                    except grpc.aio.AioRpcError as error:
                        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                        return False
                    return len(found) == 400

                await until(exported, 10, "the stalled exports' slots were never released")
                assert not [
                    s for s in streams if attacker.streams[s].grpc_status not in (None, RESOURCE_EXHAUSTED)
                ]
    assert not [line for line in server.log_lines() if line["level"] == "ERROR"]


async def test_a_stalled_export_no_longer_pins_the_sqlite_wal(tmp_path: Path) -> None:
    url = sqlite_url_for(tmp_path)
    wal = Path(sa.engine.make_url(url).database + "-wal")  # type: ignore[operator]
    prefix = secrets.token_hex(4)
    with ServerProcess(tmp_path, url, WELLSPRING_STREAM_STALL_S="5") as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            users = rpc.UserServiceStub(channel)
            await seed(users, prefix, 200, bio="b" * 500)
            async with RawGrpcConnection.open(server.address, window=1, read_window=False) as attacker:
                stream = attacker.streams[attacker.call(EXPORT, export_request())]

                async def admitted() -> bool:
                    return bool(stream.data)

                await until(admitted, 5, "the export never started")
                n, peak, started = 0, 0, time.monotonic()
                # Updates while the stalled reader pins its snapshot: the WAL cannot be recycled.
                while peak < 16 * 2**20 and time.monotonic() - started < 4:
                    n += 1
                    bio = f"{n:05d}" + "u" * 1990
                    await users.UpdateUser(
                        api.UpdateUserRequest(user=pb.User(id=f"{prefix}-{n % 200:06d}", bio=bio))
                    )
                    peak = max(peak, size(wal))
                assert peak >= 16 * 2**20, f"the attack did not grow the WAL ({peak} bytes after {n} updates)"

                async def back_to_normal() -> bool:
                    await users.UpdateUser(
                        api.UpdateUserRequest(user=pb.User(id=f"{prefix}-000000", bio="x"))
                    )
                    return size(wal) <= 8 * 2**20

                await until(back_to_normal, 15, f"the WAL stayed at {size(wal)} bytes")
    assert not [line for line in server.log_lines() if line["level"] == "ERROR"]


async def test_a_slow_reader_is_told_where_to_resume(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path), stream_stall_s=1.0)
    prefix = secrets.token_hex(4)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            await seed(rpc.UserServiceStub(channel), prefix, 3000, bio="b" * 1000)
        # The first message (one scan of 256 rows, ~300 KB) fits in the window, the next (~1 MB) does not.
        async with RawGrpcConnection.open(
            app.address, window=600_000, connection_window=2**30, read_window=False
        ) as reader:
            stream_id = reader.call(EXPORT, export_request(prefix))

            async def snapshot_released() -> bool:
                return bool(reader.streams[stream_id].data) and app.database.open_snapshots == 0  # type: ignore[attr-defined]

            await until(snapshot_released, 10, "the stalled export kept its snapshot")
            reader.read_on()  # the client reads on: it gets what was in flight, then the verdict
            stream = await reader.finished(stream_id)
        assert stream.grpc_status == ABORTED, (stream.grpc_status, stream.grpc_message)
        info, _ = error_info(stream)
        assert info.reason == "EXPORT_STALLED"
        messages = [api.ExportUsersResponse.FromString(m) for m in grpc_messages(bytes(stream.data))]
        received = [u.id for m in messages for u in m.users]
        assert received == [user(prefix, n).id for n in range(len(received))]  # in id order, no gap
        assert info.metadata["revision"] == str(messages[0].revision)
        assert info.metadata["resume_revision"] == str(messages[0].revision + 1)
        assert info.metadata["last_id"] in received[255:]  # at least the first message was handed over
        assert "Watch from revision" in stream.grpc_message
    finally:
        await app.stop(0)


async def test_an_export_past_its_maximum_duration_is_aborted_with_where_to_resume(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path), export_max_s=0.3)
    prefix = secrets.token_hex(4)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            await seed(rpc.UserServiceStub(channel), prefix, 3000, bio="b" * 1000)
        # A client that takes one message at a time, slowly: the window holds the first message only.
        async with RawGrpcConnection.open(
            app.address, window=600_000, connection_window=2**30, read_window=False
        ) as reader:
            stream_id = reader.call(EXPORT, export_request(prefix))

            async def first_message() -> bool:
                return bool(grpc_messages(bytes(reader.streams[stream_id].data)))

            await until(first_message, 10, "no first message")
            await asyncio.sleep(0.5)  # the client's own pace: past the maximum (not synchronisation)
            reader.read_on()
            stream = await reader.finished(stream_id)
        assert stream.grpc_status == ABORTED, (stream.grpc_status, stream.grpc_message)
        info, _ = error_info(stream)
        assert info.reason == "EXPORT_TOO_LONG"
        messages = [api.ExportUsersResponse.FromString(m) for m in grpc_messages(bytes(stream.data))]
        received = [u.id for m in messages for u in m.users]
        assert received == [user(prefix, n).id for n in range(len(received))] and len(received) < 3000
        assert info.metadata["last_id"] == received[-1]  # everything handed over arrived, nothing more
        assert info.metadata["revision"] == str(messages[0].revision)
        assert app.database.open_snapshots == 0  # type: ignore[attr-defined]
    finally:
        await app.stop(0)


# --- Part 5: client behaviour is not a server error -----------------------------------------------------


async def test_streams_dropped_by_their_clients_are_cancelled_not_errors(tmp_path: Path) -> None:
    prefix = secrets.token_hex(4)
    env = {"WELLSPRING_ACCESS_LOG": "1", "WELLSPRING_EXPORT_MAX_CONCURRENT": str(DROPPED)}  # all admitted
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            users = rpc.UserServiceStub(channel)
            await seed(users, prefix, 3000, bio="b" * 1000)

            async def writes() -> None:  # so that the watchers have something to send
                for n in range(300):
                    await users.UpdateUser(
                        api.UpdateUserRequest(user=pb.User(id=f"{prefix}-{n:06d}", bio=f"{n}"))
                    )

            async def dropped(k: int) -> None:
                path, request = (
                    (EXPORT, api.ExportUsersRequest()) if k % 2 else (WATCH, watch_api.WatchRequest())
                )
                async with RawGrpcConnection.open(server.address) as client:
                    stream_id = client.call(path, grpc_frame(request.SerializeToString()))
                    stream = client.streams[stream_id]

                    async def midstream() -> bool:
                        return len(stream.data) > 5 or stream.ended.is_set()

                    await until(midstream, 10, "no message arrived")
                    await asyncio.sleep(0.003 * (k % 5))  # spread the drops over the stream's writes
                    if k % 4 < 2:
                        client.reset(stream_id)  # RST_STREAM(CANCEL), as a gRPC client cancels
                    # else: the connection just closes, as when a client process dies

            await asyncio.gather(writes(), *(dropped(k) for k in range(DROPPED)))

        async def all_logged() -> bool:
            lines = [x for x in server.log_lines() if x.get("method") in (EXPORT, WATCH)]
            return len(lines) >= DROPPED

        await until(all_logged, 10, "not every dropped stream was logged")
    lines = server.log_lines()
    assert not [x for x in lines if x["level"] == "ERROR"], [x for x in lines if x["level"] == "ERROR"][:1]
    statuses = {x["status"] for x in lines if x.get("method") in (EXPORT, WATCH)}
    assert statuses <= {"CANCELLED", "OK"} and "CANCELLED" in statuses, statuses


async def test_transport_level_input_is_answered_by_grpc_core_before_the_service(tmp_path: Path) -> None:
    """Pins what the README says the service cannot control: gRPC's C core answers these before any
    interceptor runs (no access-log line, no count), with the statuses below. A unary call's second
    message is never read by gRPC Python: the call is answered from the first."""
    app = await start_app(sqlite_url_for(tmp_path))
    request = api.GetUserRequest(id="nobody").SerializeToString()
    cases = [  # (metadata, messages, status, a phrase of core's message)
        ({}, [grpc_frame(request, compressed=True)], 13, "Compression bit set but no encoding"),
        ({"grpc-encoding": "snappy"}, [grpc_frame(request, compressed=True)], 13, "grpc-encoding"),
        ({"grpc-encoding": "gzip"}, [grpc_frame(b"not gzip", compressed=True)], 13, "Decompression failed"),
    ]
    try:
        for metadata, messages, status, phrase in cases:
            async with RawGrpcConnection.open(app.address) as client:  # one connection each: see README
                stream = await client.finished(client.call(GET, *messages, metadata=metadata))
            assert (stream.grpc_status, phrase in stream.grpc_message) == (status, True), stream.grpc_message
        assert sum(app.interceptor.calls.values()) == 0  # none of them reached the service
        async with RawGrpcConnection.open(app.address) as client:
            valid = grpc_frame(gzip.compress(request), compressed=True)
            stream = await client.finished(client.call(GET, valid, metadata={"grpc-encoding": "gzip"}))
            assert stream.grpc_status == grpc.StatusCode.NOT_FOUND.value[0]  # gzip itself is served
            twice = await client.finished(client.call(GET, grpc_frame(request), grpc_frame(b"\xff\xff")))
            assert twice.grpc_status == grpc.StatusCode.NOT_FOUND.value[0]  # the second one is never read
    finally:
        await app.stop(0)
