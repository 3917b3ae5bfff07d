"""The server-wide limit of concurrent calls (issue 9, part 3), over a real channel: streams hold a
slot while open, calls past the limit get RESOURCE_EXHAUSTED with RetryInfo and ErrorInfo, health checks
are always answered, and a slot comes back when its call ends."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2_grpc
from wellspring.v1 import watch_service_pb2 as watch_api

from tests.conftest import sqlite_url_for, start_app
from tests.e2e.helpers import fails

LIMIT = 3


async def _requests() -> AsyncIterator[api.ImportUsersRequest]:
    yield api.ImportUsersRequest(users=[pb.User(id="one", email="one@example.com", display_name="One")])


async def test_calls_past_the_limit_are_refused_with_details_but_health_is_not(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path), max_concurrent_rpcs=LIMIT)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            health = health_pb2_grpc.HealthStub(channel)
            watches = [
                watch_service_pb2_grpc.WatchServiceStub(channel).Watch(watch_api.WatchRequest())
                for _ in range(LIMIT)
            ]
            for watch in watches:
                await watch.read()  # the first progress message: admitted, and holding a slot

            found = await fails(
                users.GetUser(api.GetUserRequest(id="nobody")), grpc.StatusCode.RESOURCE_EXHAUSTED
            )
            info = found["ErrorInfo"][0]
            assert info.reason == "TOO_MANY_CONCURRENT_RPCS" and info.metadata["max_concurrent_rpcs"] == "3"
            assert found["RetryInfo"][0].retry_delay.ToTimedelta().total_seconds() > 0
            found = await fails(users.ImportUsers(_requests()), grpc.StatusCode.RESOURCE_EXHAUSTED)
            assert found["ErrorInfo"][0].reason == "TOO_MANY_CONCURRENT_RPCS"
            status = (await health.Check(health_pb2.HealthCheckRequest(), timeout=5)).status
            assert status == health_pb2.HealthCheckResponse.SERVING, "load balancers are always answered"

            watches[0].cancel()  # its slot comes back once the server has seen the cancellation
            deadline = time.monotonic() + 10
            while True:
                try:
                    await users.GetUser(api.GetUserRequest(id="nobody"))
                except grpc.aio.AioRpcError as error:
                    if error.code() == grpc.StatusCode.NOT_FOUND:
                        break
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                assert time.monotonic() < deadline, "the cancelled Watch never gave its slot back"
                await asyncio.sleep(0.01)
            assert (await users.ImportUsers(_requests())).created_count == 1
    finally:
        await app.stop(0)
