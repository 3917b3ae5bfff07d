"""The server's event loop: asyncio's by default, uvloop's with ``WELLSPRING_UVLOOP=1``; a real server
process answers calls and Watch on either."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2_grpc
from wellspring.v1 import watch_service_pb2 as watch_api

from tests.conftest import sqlite_url_for
from tests.e2e.process import ServerProcess


@pytest.mark.parametrize(("setting", "loop"), [(None, "asyncio"), ("0", "asyncio"), ("1", "uvloop")])
async def test_the_server_runs_on_uvloop_when_told_to(setting: str | None, loop: str, tmp_path: Path) -> None:
    env = {} if setting is None else {"WELLSPRING_UVLOOP": setting}
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            watch = watch_service_pb2_grpc.WatchServiceStub(channel).Watch(watch_api.WatchRequest())
            await watch.read()  # the first progress: the feed runs
            user = await users.CreateUser(
                api.CreateUserRequest(user={"email": "ev@x.test", "display_name": "Ev"})
            )
            assert (await users.GetUser(api.GetUserRequest(id=user.id))).email == "ev@x.test"
            while True:  # the write reaches the watcher
                response = await watch.read()
                if response.events:
                    assert response.events[0].id == user.id
                    break
            watch.cancel()
        (started,) = [x["message"] for x in server.log_lines() if x["message"].startswith("serving on")]
    assert started.endswith(f"event loop: {loop})"), started
