"""Which cache tier is active, and whether Redis answers, is visible: the start-up line names the tier, an
outage is logged once when it starts and once when it ends, and health "wellspring.cache" follows it
while the overall status stays SERVING (calls keep working). A real server process and a Redis of the
test's own, killed and restarted on the same port."""

from __future__ import annotations

import asyncio
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc as rpc

from service.cache.redis_store import RedisStore, redis_address
from service.cache.status import CACHE_HEALTH_SERVICE
from tests.conftest import RedisProcess, sqlite_url_for, start_app
from tests.e2e.process import ROOT, ServerProcess

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
PROBE_S = 0.2


async def _health(address: str, service: str) -> int:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
        except grpc.aio.AioRpcError as error:
            return -error.code().value[0]  # NOT_FOUND: no such service
    return response.status  # type: ignore[no-any-return]


async def _until(check: Any, timeout_s: float, what: str) -> float:
    """Poll ``check`` (async) until true; the seconds it took."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < timeout_s, what
        await asyncio.sleep(0.02)
    return time.monotonic() - started


def _cache_lines(server: ServerProcess) -> list[dict[str, Any]]:
    return [x for x in server.log_lines() if x["logger"] == "wellspring.cache"]


async def _a_call_works(address: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        users = rpc.UserServiceStub(channel)
        tag = secrets.token_hex(4)
        created = await users.CreateUser(
            api.CreateUserRequest(user=pb.User(email=f"{tag}@x.io", display_name=tag)), timeout=5
        )
        assert (await users.GetUser(api.GetUserRequest(id=created.id), timeout=5)).id == created.id


def _health_cli(address: str, service: str) -> subprocess.CompletedProcess[str]:
    """``wellspring health --addr … --service …``, what an operator or a probe runs."""
    command = [sys.executable, "-m", "service", "health", "--addr", address, "--service", service]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, cwd=ROOT)


async def test_a_redis_outage_is_logged_once_and_shown_by_health(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    env = {
        "WELLSPRING_REDIS_URL": redis_server.url,
        "WELLSPRING_CACHE_PREFIX": f"t{secrets.token_hex(4)}:",
        "WELLSPRING_HEALTH_INTERVAL_S": str(PROBE_S),
    }
    where = f"Redis at 127.0.0.1:{redis_server.port}/0"
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as server:
        await server.serving()
        started = [x for x in server.log_lines() if x["message"].startswith("serving on")]
        assert f"cache: {where}" in started[0]["message"]

        async def cache_is(status: int) -> bool:
            return await _health(server.address, CACHE_HEALTH_SERVICE) == status

        await _until(lambda: cache_is(SERVING), 5, "wellspring.cache never SERVING")
        await _a_call_works(server.address)

        redis_server.kill()
        killed = time.monotonic()

        async def warned() -> bool:
            return any(x["level"] == "WARNING" for x in _cache_lines(server))

        await _until(warned, 10, "no warning for the outage")
        to_warning_s = time.monotonic() - killed
        warning = next(x for x in _cache_lines(server) if x["level"] == "WARNING")
        assert where in warning["message"] and "not answering" in warning["message"]
        assert "Connection" in warning["message"]  # the error itself, not only its kind
        await _until(lambda: cache_is(NOT_SERVING), 5, "wellspring.cache still SERVING")
        assert await _health(server.address, "") == SERVING  # calls still work, so the service serves
        cli = await asyncio.to_thread(_health_cli, server.address, CACHE_HEALTH_SERVICE)
        assert (cli.returncode, cli.stdout.strip()) == (1, "NOT_SERVING"), cli
        await _a_call_works(server.address)
        # Several probes fail while Redis stays down (a real interval must pass): still one warning.
        await asyncio.sleep(PROBE_S * 5)

        redis_server.start()
        restarted = time.monotonic()
        await _until(lambda: cache_is(SERVING), 10, "wellspring.cache never SERVING again")
        to_recovery_s = time.monotonic() - restarted
        await _a_call_works(server.address)

        async def recovered() -> bool:
            return any("answering again" in x["message"] for x in _cache_lines(server))

        await _until(recovered, 5, "no line for the recovery")
    lines = _cache_lines(server)
    assert len([x for x in lines if "not answering" in x["message"]]) == 1, lines
    back = next(x for x in lines if "answering again" in x["message"])
    assert back["level"] == "INFO" and where in back["message"] and "s down" in back["message"]
    print(f"kill -> warning {to_warning_s:.2f}s, restart -> SERVING {to_recovery_s:.2f}s (probe {PROBE_S}s)")


async def test_the_start_up_line_names_the_in_process_tier_and_health_shows_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="wellspring")
    app = await start_app(sqlite_url_for(tmp_path), cache_max_bytes=32 * 2**20)
    try:
        assert await _health(app.address, CACHE_HEALTH_SERVICE) == SERVING
    finally:
        await app.stop(0)
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving on")]
    assert started and "cache: in-process, 32 MiB" in started[-1], started


async def test_without_a_cache_the_start_up_line_says_so_and_health_knows_no_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="wellspring")
    app = await start_app(sqlite_url_for(tmp_path), cache_enabled=False)
    try:
        assert await _health(app.address, CACHE_HEALTH_SERVICE) == -grpc.StatusCode.NOT_FOUND.value[0]
        assert await _health(app.address, "") == SERVING
    finally:
        await app.stop(0)
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("serving on")]
    assert started and "cache: none (WELLSPRING_CACHE=0)" in started[-1], started


async def test_a_probe_answered_later_than_the_calls_budget_is_not_an_outage(
    redis_server: RedisProcess,
) -> None:
    """The probe waits max(1 s, the socket timeout) for its answer, not the calls' budget: an answer 0.7 s
    late (Redis paused, as a stalled event loop would see it) is Redis up, where the 0.5 s socket timeout
    made it an outage (at start, reported at once)."""
    store = RedisStore(redis_server.url, prefix=f"t{secrets.token_hex(4)}:", socket_timeout_s=0.5)
    published: list[bool] = []

    async def publish(up: bool) -> None:
        published.append(up)

    async def probed() -> bool:
        return bool(published)

    redis_server.signal(signal.SIGSTOP)
    resume = asyncio.get_running_loop().call_later(0.7, redis_server.signal, signal.SIGCONT)
    try:
        store.watch(publish, interval_s=60)
        await _until(probed, 5, "never probed")
    finally:
        resume.cancel()
        redis_server.signal(signal.SIGCONT)
        await store.close()
    assert published == [True]


def test_a_redis_address_never_shows_the_password() -> None:
    assert redis_address("redis://user:s3cret@cache.internal:6380/2") == "cache.internal:6380/2"
    assert redis_address("rediss://:s3cret@cache.internal") == "cache.internal:6379/0 (TLS)"
    assert redis_address("unix:///run/redis.sock?db=3") == "unix:/run/redis.sock/3"
