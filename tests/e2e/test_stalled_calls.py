"""Calls whose clients go silent (issue 9): a silent Import is ended, a stalled stream gives its call slot
back at once (so neither the concurrency cap nor a shutdown waits for it), and a stalled Watch is told
where to resume. In-process servers over real channels; the stalled reader is a raw HTTP/2 client."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc as rpc
from wellspring.v1 import watch_service_pb2 as watch_api

from service.handlers.resource import IMPORT_CHUNK
from tests.conftest import sqlite_url_for, start_app
from tests.e2e.helpers import fails
from tests.e2e.raw_h2 import RawGrpcConnection, grpc_frame, grpc_messages
from tests.e2e.test_slow_clients import EXPORT, WATCH, error_info, export_request, seed, until, user

STALL_S = 1.0
RESOURCE_EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


async def test_an_import_that_goes_silent_is_ended_and_keeps_what_it_committed(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path), stream_stall_s=STALL_S)
    never = asyncio.Event()
    prefix = secrets.token_hex(4)

    async def a_chunk_and_more_then_silence() -> AsyncIterator[api.ImportUsersRequest]:
        # 500 items fill one chunk (committed), the next 3 start another (never committed)
        yield api.ImportUsersRequest(users=[user(prefix, n) for n in range(IMPORT_CHUNK + 3)])
        await never.wait()  # the client keeps its stream open and sends nothing more

    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = rpc.UserServiceStub(channel)
            started = time.monotonic()
            found = await fails(
                users.ImportUsers(a_chunk_and_more_then_silence(), timeout=20), grpc.StatusCode.ABORTED
            )
            assert found["ErrorInfo"][0].reason == "REQUEST_STREAM_IDLE"
            assert time.monotonic() - started < STALL_S + 5
            assert app.admission.running == 0
            # the committed chunk stays; the chunk the silence cut off is not applied
            listed = await users.ListUsers(api.ListUsersRequest(query=prefix, page_size=1000))
            assert sorted(u.id for u in listed.users) == [user(prefix, n).id for n in range(IMPORT_CHUNK)]
    finally:
        await app.stop(0)


async def test_a_stalled_stream_gives_its_slot_back_and_does_not_hold_the_shutdown(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path), stream_stall_s=STALL_S, max_concurrent_rpcs=4)
    prefix = secrets.token_hex(4)
    async with grpc.aio.insecure_channel(app.address) as channel:
        await seed(rpc.UserServiceStub(channel), prefix, 3000, bio="b" * 1000)
    async with RawGrpcConnection.open(app.address, window=1, read_window=False) as reader:
        streams = [reader.call(EXPORT, export_request(prefix)) for _ in range(3)]

        assert len(streams) == 3

        async def released() -> bool:
            return app.admission.running == 0

        await until(released, 10, "stalled exports kept their call slots")
        async with grpc.aio.insecure_channel(app.address) as channel:  # the cap has room again
            stub = rpc.UserServiceStub(channel)
            await asyncio.gather(*(stub.GetUser(api.GetUserRequest(id=user(prefix, n).id)) for n in range(4)))
        started = time.monotonic()
        finished_in_time = await app.stop(5.0)
        assert finished_in_time and time.monotonic() - started < 4.0


async def test_a_stalled_watch_is_told_where_to_resume(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path), stream_stall_s=STALL_S)
    prefix = secrets.token_hex(4)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = rpc.UserServiceStub(channel)
            await seed(users, prefix, 1, bio="")
            request = grpc_frame(watch_api.WatchRequest(collections=["users"]).SerializeToString())
            # A window for the first messages only, never re-opened while the writes go on.
            async with RawGrpcConnection.open(
                app.address, window=4000, connection_window=2**30, read_window=False
            ) as reader:
                stream_id = reader.call(WATCH, request)

                async def subscribed() -> bool:
                    return app.feed.watchers == 1

                await until(subscribed, 10, "the watch never subscribed")
                bio = "x" * 1500
                for n in range(40):
                    await users.UpdateUser(
                        api.UpdateUserRequest(user=user(prefix, 0, bio=f"{bio}{n}")),
                        timeout=10,
                    )

                async def ended() -> bool:
                    return app.feed.watchers == 0

                await until(ended, 10, "the stalled watch was never ended")
                reader.read_on()
                stream = await reader.finished(stream_id)
        assert stream.grpc_status == RESOURCE_EXHAUSTED, (stream.grpc_status, stream.grpc_message)
        info, _ = error_info(stream)
        assert info.reason == "WATCHER_TOO_SLOW"
        messages = [watch_api.WatchResponse.FromString(m) for m in grpc_messages(bytes(stream.data))]
        received = max(m.revision for m in messages)
        resume = int(info.metadata["resume_revision"])
        # Resuming there repeats nothing delivered... and it misses nothing: every revision below it
        # was in a message the client got.
        assert resume <= received + 1
        events = [e.revision for m in messages for e in m.events]
        first_event = min(events) if events else resume
        assert set(range(first_event, resume)) <= set(events) | {m.revision for m in messages}
    finally:
        await app.stop(0)
