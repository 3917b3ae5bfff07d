"""Restarts as a load balancer and an operator see them (issue 10): with the default settings health is
NOT_SERVING for a while before the port closes, an idle server exits promptly after "stopped", a second
signal cuts the drain short, and `make run-cluster` fails as a whole when one replica cannot start."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.conftest import RedisProcess, fresh_pg_database
from tests.e2e.process import ROOT, ServerProcess
from tests.e2e.test_cluster import _consecutive_free_ports

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _defaults() -> dict[str, str]:
    """The drain as shipped, whatever the test run's environment says."""
    return {"WELLSPRING_SHUTDOWN_DRAIN_S": ""}


async def _poll_health(address: str, seen: list[tuple[float, str]]) -> None:
    """A polling balancer: Check every 100 ms until the port refuses; ``seen`` gets (time, status)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                seen.append(
                    (time.monotonic(), health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
                )
            except grpc.aio.AioRpcError as error:
                seen.append((time.monotonic(), error.code().name))
                if error.code() == grpc.StatusCode.UNAVAILABLE:
                    return
            await asyncio.sleep(0.1)


async def test_health_is_not_serving_before_the_port_closes(sqlite_url: str, tmp_path: Path) -> None:
    with ServerProcess(tmp_path, sqlite_url, **_defaults()) as server:
        await server.serving()
        seen: list[tuple[float, str]] = []
        poller = asyncio.create_task(_poll_health(server.address, seen))
        async with grpc.aio.insecure_channel(server.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            assert (await watch.read()).status == health_pb2.HealthCheckResponse.SERVING
            server.signal(signal.SIGTERM)
            signalled = time.monotonic()
            assert (await asyncio.wait_for(watch.read(), 5)).status == NOT_SERVING
            told = time.monotonic() - signalled
        await asyncio.wait_for(poller, 10)
        assert await server.exit_code() == 0
    first_not_serving = next(t for t, status in seen if status == "NOT_SERVING")
    refused = next(t for t, status in seen if status == "UNAVAILABLE")
    assert told < 0.5  # a Watch learns it at once
    assert refused - first_not_serving >= 0.5, seen  # a 100 ms poller sees it for most of the 1 s drain


async def test_an_idle_server_exits_promptly(sqlite_url: str, tmp_path: Path) -> None:
    with ServerProcess(tmp_path, sqlite_url, WELLSPRING_SHUTDOWN_DRAIN_S="0") as server:
        await server.serving()
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        deadline = signalled + 10
        while not any(line["message"] == "stopped" for line in server.log_lines()):
            assert time.monotonic() < deadline, server.log_text()
            await asyncio.sleep(0.01)
        stopped = time.monotonic()
        assert await server.exit_code() == 0
        exited = time.monotonic()
    assert stopped - signalled < 1.0
    assert exited - stopped < 1.0


async def test_a_second_signal_ends_the_drain(sqlite_url: str, tmp_path: Path) -> None:
    with ServerProcess(tmp_path, sqlite_url, WELLSPRING_SHUTDOWN_DRAIN_S="30") as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
            await watch.read()
            server.signal(signal.SIGTERM)
            assert (await asyncio.wait_for(watch.read(), 5)).status == NOT_SERVING
        server.signal(signal.SIGINT)
        hurried = time.monotonic()
        assert await server.exit_code(timeout_s=10) == 0
    assert time.monotonic() - hurried < 3


@pytest.mark.postgres
async def test_run_cluster_stops_every_replica_when_one_cannot_bind(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    async with fresh_pg_database() as url:
        base = _consecutive_free_ports(2)
        second = base + 1
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", second))
            taken.listen()
            env = {**os.environ, "WELLSPRING_DATABASE_URL": url, "WELLSPRING_REDIS_URL": redis_server.url}
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "scripts/run_cluster.py", "--replicas", "2", "--base-port", str(base)],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
        assert result.returncode != 0, result.stderr[-3000:]
        assert "replicas on" not in result.stdout
        assert f"the replica on 127.0.0.1:{second} exited" in result.stderr
        assert _free(base), "the replica that started was left running"


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
