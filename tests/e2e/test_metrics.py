"""The metrics endpoint (WELLSPRING_METRICS_ADDR) of a real server: the gRPC ecosystem's per-call series
with the status each client received, the cache tier's and the change feed's figures, the database's,
authentication failures by reason and rate-limited calls by method, process metrics and build info; and
an address that cannot be listened on stops the start with one line naming the setting."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2, watch_service_pb2_grpc

from service.bootstrap import ListenError, bootstrap
from service.config import Settings
from tests.conftest import sqlite_url_for, start_app
from tests.e2e.tokens import AUDIENCE, ISSUER, SECRET, bearer

AUTH = {"auth": "jwt", "auth_hs256_secret": SECRET.encode(), "auth_issuer": ISSUER, "auth_audience": AUDIENCE}


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the endpoint serves: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def unary(method: str, **more: str) -> dict[str, str]:
    return {"grpc_type": "unary", "grpc_service": "wellspring.v1.UserService", "grpc_method": method, **more}


async def test_a_known_workload_is_counted_by_code_and_the_tiers_figures_are_served(tmp_path: Path) -> None:
    app = await start_app(
        sqlite_url_for(tmp_path),
        metrics_addr="127.0.0.1:0",
        rate_limit="20/second",
        rate_limit_exempt=frozenset({"sub:root"}),
        **AUTH,
    )
    assert app.metrics is not None
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            admin = bearer("root", "admin")
            created = await users.CreateUser(
                api.CreateUserRequest(user=pb.User(email="ada@x.test", display_name="Ada")), metadata=admin
            )
            for _ in range(5):
                await users.GetUser(api.GetUserRequest(id=created.id), metadata=admin)
            for _ in range(3):
                with pytest.raises(grpc.aio.AioRpcError):
                    await users.GetUser(api.GetUserRequest(id="absent"), metadata=admin)
            with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
                await users.GetUser(api.GetUserRequest(id=created.id))
            assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED

            async def users_in(n: int):  # type: ignore[no-untyped-def]
                yield api.ImportUsersRequest(
                    users=[pb.User(id=f"u{i}", email=f"u{i}@x.test", display_name="U") for i in range(n)]
                )

            await users.ImportUsers(users_in(20), metadata=admin)
            exported = [m async for m in users.ExportUsers(api.ExportUsersRequest(), metadata=admin)]
            limited = 0
            for _ in range(30):  # 20 units a second, GetUser costs 1: some of these are refused
                try:
                    await users.GetUser(api.GetUserRequest(id=created.id), metadata=bearer("bob", "read"))
                except grpc.aio.AioRpcError as error:
                    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                    limited += 1
            watch = watch_service_pb2_grpc.WatchServiceStub(channel).Watch(
                watch_service_pb2.WatchRequest(), metadata=admin
            )
            await watch.read()
            samples: dict = {}
            deadline = time.monotonic() + 10
            while (
                value(samples, "wellspring_feed_watchers") != 1
                or value(samples, "grpc_server_handled_total", **unary("GetUser", grpc_code="NotFound")) != 3
            ):
                assert time.monotonic() < deadline, "the calls were not all counted"
                await asyncio.sleep(0.05)
                samples = scrape(app.metrics.port)
            ok_gets = value(samples, "grpc_server_handled_total", **unary("GetUser", grpc_code="OK"))
            assert ok_gets == 5 + 30 - limited
            assert (
                value(samples, "grpc_server_handled_total", **unary("GetUser", grpc_code="Unauthenticated"))
                == 1  # refused by authentication, before the server interceptor: counted all the same
            )
            assert (
                value(samples, "grpc_server_handled_total", **unary("GetUser", grpc_code="ResourceExhausted"))
                == limited
            )
            assert value(samples, "grpc_server_handled_total", **unary("CreateUser", grpc_code="OK")) == 1
            assert value(samples, "grpc_server_started_total", **unary("GetUser")) >= ok_gets + 3
            assert (
                value(samples, "grpc_server_handling_seconds_count", **unary("GetUser"))
                == ok_gets + 3 + limited + 1
            )
            assert (
                value(samples, "grpc_server_started_total", **unary("GetUser")) == ok_gets + 3 + limited + 1
            )
            stream = {"grpc_service": "wellspring.v1.UserService"}
            assert value(
                samples,
                "grpc_server_msg_sent_total",
                grpc_type="server_stream",
                grpc_method="ExportUsers",
                **stream,
            ) == len(exported)
            assert (
                value(
                    samples,
                    "grpc_server_msg_received_total",
                    grpc_type="client_stream",
                    grpc_method="ImportUsers",
                    **stream,
                )
                == 1
            )
            assert value(samples, "wellspring_auth_failures_total", reason="TOKEN_MISSING") == 1
            assert (
                limited > 0
                and value(samples, "wellspring_rate_limited_total", grpc_method="GetUser") == limited
            )
            assert (
                value(samples, "wellspring_cache_hits_total") >= 4
                and value(samples, "wellspring_cache_misses_total") >= 1
            )
            assert value(samples, "wellspring_cache_breaker_state", state="closed") == 1
            assert value(samples, "wellspring_feed_head_revision") >= 21
            assert value(samples, "wellspring_db_query_seconds_count") > 0
            assert value(samples, "process_resident_memory_bytes") > 0
            assert any(name == "wellspring_build_info" for name, _ in samples)
            assert value(samples, "wellspring_serving") == 1
            watch.cancel()
    finally:
        await app.stop(0)


async def test_metrics_are_off_unless_an_address_is_set(tmp_path: Path) -> None:
    app = await start_app(sqlite_url_for(tmp_path))
    try:
        assert app.metrics is None and app.interceptor.metrics is None
    finally:
        await app.stop(0)


async def test_an_address_that_cannot_listen_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = await start_app(sqlite_url_for(tmp_path / "a"), metrics_addr="127.0.0.1:0")
    assert first.metrics is not None
    try:
        taken = f"127.0.0.1:{first.metrics.port}"
        settings = Settings(
            database_url=sqlite_url_for(tmp_path / "b"), addr="127.0.0.1:0", metrics_addr=taken
        )
        with pytest.raises(ListenError, match=f"^WELLSPRING_METRICS_ADDR: cannot listen on {taken}"):
            await bootstrap(settings)
    finally:
        await first.stop(0)


async def test_an_excluded_service_is_not_counted(tmp_path: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    app = await start_app(
        sqlite_url_for(tmp_path),
        metrics_addr="127.0.0.1:0",
        metrics_exclude=frozenset({"grpc.health.v1.Health"}),
    )
    assert app.metrics is not None
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            for _ in range(3):
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            with pytest.raises(grpc.aio.AioRpcError):
                await user_service_pb2_grpc.UserServiceStub(channel).GetUser(api.GetUserRequest(id="absent"))
        samples: dict = {}
        deadline = time.monotonic() + 10
        while value(samples, "grpc_server_handled_total", **unary("GetUser", grpc_code="NotFound")) != 1:
            assert time.monotonic() < deadline, "the GetUser was not counted"
            await asyncio.sleep(0.05)
            samples = scrape(app.metrics.port)
        assert not [key for key in samples if ("grpc_service", "grpc.health.v1.Health") in key[1]]
    finally:
        await app.stop(0)
