"""The server as a whole: every RPC is implemented, health, reflection, access log, graceful shutdown."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
import wellspring.v1
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from wellspring.v1 import user_service_pb2

import harness
from service.bootstrap import SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _service_modules() -> list[Any]:
    """Every generated ``*_service_pb2`` module of the API: a service added to the protos is found here
    whether or not anything registers it."""
    names = [m.name for m in pkgutil.iter_modules(wellspring.v1.__path__) if m.name.endswith("_service_pb2")]
    return [importlib.import_module(f"wellspring.v1.{name}") for name in sorted(names)]


def _all_methods() -> list[tuple[str, str, bool]]:
    out = []
    for module in _service_modules():
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                streaming = method.client_streaming or method.server_streaming
                out.append((service.full_name, method.name, streaming))
    return out


async def test_every_rpc_of_the_descriptors_is_implemented(channel) -> None:  # type: ignore[no-untyped-def]
    """Every RPC, streaming ones included, answers something other than UNIMPLEMENTED (a Watch answers
    with its first progress message, so one message is read, then the call is cancelled)."""
    unimplemented = []
    for service, method, streaming in _all_methods():
        path = f"/{service}/{method}"
        try:
            if streaming:
                call = channel.stream_stream(path)(iter([b""]), timeout=10)
                await call.read()
                call.cancel()
            else:
                await channel.unary_unary(path)(b"")
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                unimplemented.append(method)
    assert unimplemented == []
    assert {service for service, _, _ in _all_methods()} == set(SERVICE_NAMES)  # CommentService among them


async def test_health_reports_serving_for_every_service(channel) -> None:  # type: ignore[no-untyped-def]
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", *SERVICE_NAMES):
        response = await stub.Check(health_pb2.HealthCheckRequest(service=name))
        assert response.status == health_pb2.HealthCheckResponse.SERVING, name


async def test_reflection_lists_the_services(channel) -> None:  # type: ignore[no-untyped-def]
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    names = set()
    async for response in stub.ServerReflectionInfo(iter([request])):
        names |= {s.name for s in response.list_services_response.service}
    assert set(SERVICE_NAMES) <= names and "grpc.health.v1.Health" in names


async def test_interceptor_counts_calls_by_status(app, users_stub) -> None:  # type: ignore[no-untyped-def]
    before = app.interceptor.calls["/wellspring.v1.UserService/GetUser", "NOT_FOUND"]
    with pytest.raises(grpc.aio.AioRpcError):
        await users_stub.GetUser(user_service_pb2.GetUserRequest(id="never-there"))
    assert app.interceptor.calls["/wellspring.v1.UserService/GetUser", "NOT_FOUND"] == before + 1


async def test_process_serves_seeds_logs_and_exits_zero_on_sigterm(tmp_path: Path) -> None:
    """`python -m service serve --seed-demo` as `make run` starts it: migrates, seeds, logs, stops cleanly."""
    env = {
        "WELLSPRING_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "WELLSPRING_SHUTDOWN_GRACE_S": "5",
    }
    with harness.ServerProcess(tmp_path, env, args=("--seed-demo",)) as server:  # production defaults
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            from wellspring.v1 import user_service_pb2_grpc

            stub = user_service_pb2_grpc.UserServiceStub(channel)
            listed = await stub.ListUsers(user_service_pb2.ListUsersRequest())
            assert {"ada", "grace"} <= {u.id for u in listed.users}
            # an in-flight call survives SIGTERM within the grace period
            slow = asyncio.ensure_future(stub.ListUsers(user_service_pb2.ListUsersRequest(page_size=1000)))
            await asyncio.sleep(0)
            server.signal(signal.SIGTERM)
            await slow
        assert await server.exit_code(30) == 0
    text = server.log_text()
    # Our lines are JSON objects; gRPC's C core may add its own plain-text lines to stderr under load.
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert not [line for line in lines if line["logger"] == "alembic.runtime.plugins"]  # start-up noise
    access = [line for line in lines if line["logger"] == "wellspring.access"]
    assert any(
        line["method"] == "/wellspring.v1.UserService/ListUsers"
        and line["status"] == "OK"
        and "duration_ms" in line
        and line["peer"]
        for line in access
    )


async def test_stop_turns_health_not_serving_while_still_answering(tmp_path: Path) -> None:
    """During the drain window the server still answers, and says NOT_SERVING so balancers move away."""
    from tests.conftest import sqlite_url_for, start_app

    app = await start_app(sqlite_url_for(tmp_path), shutdown_drain_s=0.5)
    async with grpc.aio.insecure_channel(app.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert (
            await stub.Check(health_pb2.HealthCheckRequest())
        ).status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(app.stop(0))
        deadline = time.monotonic() + 5
        while True:
            status = (await stub.Check(health_pb2.HealthCheckRequest())).status
            if status == health_pb2.HealthCheckResponse.NOT_SERVING:
                break
            assert time.monotonic() < deadline and not stopping.done()
            await asyncio.sleep(0.01)
        assert not stopping.done()
        await stopping


class _FlakyDatabase:
    """The real database, whose ping can be made to fail: the database 'going away' after start-up."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.down = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    async def ping(self) -> None:
        if self.down:
            from service.domain.errors import Unavailable

            raise Unavailable()
        await self._real.ping()


async def test_health_follows_the_database_after_start_up(tmp_path: Path) -> None:
    from service.bootstrap import bootstrap
    from service.config import Settings
    from service.repository.database import open_database
    from tests.conftest import sqlite_url_for

    database = _FlakyDatabase(open_database(sqlite_url_for(tmp_path)))
    settings = Settings(addr="127.0.0.1:0", access_log=False, health_interval_s=0.02, migrate_on_start=False)
    app = await bootstrap(settings, database=database)  # type: ignore[arg-type]
    await app.start()
    await asyncio.wait_for(app.ready.wait(), 10)

    async def status_becomes(expected: int) -> None:
        deadline = time.monotonic() + 5
        while (await stub.Check(health_pb2.HealthCheckRequest())).status != expected:
            assert time.monotonic() < deadline, f"health never became {expected}"
            await asyncio.sleep(0.01)

    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            database.down = True
            await status_becomes(health_pb2.HealthCheckResponse.NOT_SERVING)
            database.down = False
            await status_becomes(health_pb2.HealthCheckResponse.SERVING)
    finally:
        await app.stop(0)


async def test_reflection_cli_calls_by_name(app) -> None:  # type: ignore[no-untyped-def]
    """scripts/rpc.py (documented in the README) needs nothing but server reflection."""
    script = str(ROOT / "scripts" / "rpc.py")
    body = '{"user": {"email": "cli@example.com", "displayName": "Cli"}, "userId": "from-cli"}'
    created = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, script, "wellspring.v1.UserService/CreateUser", body, "--addr", app.address],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["id"] == "from-cli"
    missing = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            script,
            "wellspring.v1.UserService/GetUser",
            '{"id": "nobody"}',
            "--addr",
            app.address,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and missing.stderr.startswith("NOT_FOUND")


async def test_unreachable_database_is_unavailable_with_retry_info_not_internal() -> None:
    """PostgreSQL down: health stays NOT_SERVING and calls answer UNAVAILABLE + RetryInfo, no driver text."""
    from service.bootstrap import bootstrap
    from service.config import Settings
    from tests.e2e.helpers import fails

    settings = Settings(
        addr="127.0.0.1:0",
        database_url=f"postgresql://postgres@127.0.0.1:{harness.free_port()}/nowhere",
        migrate_on_start=False,
        access_log=False,
        db_pool_timeout_s=1.0,
    )
    app = await bootstrap(settings)
    await app.start()
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            health = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
            from wellspring.v1 import user_service_pb2_grpc

            stub = user_service_pb2_grpc.UserServiceStub(channel)
            found = await fails(
                stub.GetUser(user_service_pb2.GetUserRequest(id="ada")), grpc.StatusCode.UNAVAILABLE
            )
            assert found["RetryInfo"] and found["ErrorInfo"][0].reason == "BACKEND_UNAVAILABLE"
    finally:
        await app.stop(0)
