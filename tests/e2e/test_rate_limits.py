"""Rate limits against real server processes: one principal's budget shared by two replicas through a real
Redis (what both admit together stays within it), refusals as RESOURCE_EXHAUSTED RATE_LIMITED with
RetryInfo, per principal; Redis gone, calls are limited per replica and none fails for it. On the embedded
default: an Import past its budget is paced and loses nothing, the SDK waits out RetryInfo and succeeds,
and anonymous calls (health) are limited per peer address."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from service.auth.budgets import LEASE_PARTS
from tests.conftest import RedisProcess, fresh_pg_database, sqlite_url_for
from tests.e2e.helpers import details
from tests.e2e.process import ServerProcess
from tests.e2e.tokens import AUTH_ENV, bearer
from wellspring_client import User, WellspringClient

SHARED_BUDGET = 120  # a minute's: nothing refills within a test, but the window it falls in


@dataclass
class Replicas:
    addresses: list[str]
    redis: RedisProcess


@pytest.fixture(scope="module")
async def replicas(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Replicas]:
    tmp = tmp_path_factory.mktemp("ratelimit")
    async with AsyncExitStack() as stack:
        redis = RedisProcess(tmp)
        redis.start()
        stack.callback(redis.kill)
        url = await stack.enter_async_context(fresh_pg_database())
        env = {
            **AUTH_ENV,
            "WELLSPRING_RATE_LIMIT": f"{SHARED_BUDGET}/minute",
            "WELLSPRING_REDIS_URL": redis.url,
            "WELLSPRING_CACHE_PREFIX": f"r{secrets.token_hex(3)}:",
            "WELLSPRING_PAGE_TOKEN_SECRET": "ratelimit-test-secret-0123456789",
        }
        addresses = []
        for name in ("first", "second"):
            server = stack.enter_context(ServerProcess(tmp, url, name=name, **env))
            await server.serving()
            addresses.append(server.address)
        yield Replicas(addresses, redis)


async def hammer(address: str, subject: str, calls: int) -> Counter[str]:
    """``calls`` GetUser calls as ``subject``, one after another; outcomes by status (and reason)."""
    outcomes: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        for _ in range(calls):
            try:
                await stub.GetUser(api.GetUserRequest(id="nobody"), metadata=bearer(subject), timeout=5)
                outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                if error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    found = details(error)
                    wait = found["RetryInfo"][0].retry_delay.ToTimedelta().total_seconds()
                    assert 0 < wait <= 120, wait
                    outcomes[found["ErrorInfo"][0].reason] += 1
                else:
                    outcomes[error.code().name] += 1  # NOT_FOUND: admitted, and answered
    return outcomes


async def test_two_replicas_admit_one_budget_between_them(replicas: Replicas) -> None:
    subject = f"ada-{secrets.token_hex(2)}"
    first, second = await asyncio.gather(*(hammer(address, subject, 150) for address in replicas.addresses))
    admitted = [o["NOT_FOUND"] for o in (first, second)]
    lease = SHARED_BUDGET // LEASE_PARTS
    # Within the budget; below it by at most the leases each replica holds unspent, above it by at most
    # what a minute window's boundary falling inside the run can refill (2 % of a minute: 3 units).
    assert SHARED_BUDGET - 2 * lease <= sum(admitted) <= SHARED_BUDGET + 3, (first, second)
    assert min(admitted) > 0 and first["RATE_LIMITED"] and second["RATE_LIMITED"], (first, second)
    assert set(first) | set(second) <= {"NOT_FOUND", "RATE_LIMITED"}
    other = await hammer(replicas.addresses[1], f"bob-{secrets.token_hex(2)}", 10)
    assert other == Counter(NOT_FOUND=10)  # a budget is its principal's own


async def test_with_redis_gone_limits_are_per_replica_and_no_call_fails(replicas: Replicas) -> None:
    replicas.redis.kill()
    try:
        subject = f"eve-{secrets.token_hex(2)}"
        outcomes = await asyncio.gather(
            *(hammer(address, subject, SHARED_BUDGET + 20) for address in replicas.addresses)
        )
        for replica in outcomes:  # each replica keeps the whole budget on its own now
            assert set(replica) <= {"NOT_FOUND", "RATE_LIMITED"}, replica
            assert replica["NOT_FOUND"] >= SHARED_BUDGET - SHARED_BUDGET // LEASE_PARTS
            assert replica["RATE_LIMITED"] >= 10, replica
    finally:
        replicas.redis.start()


@pytest.fixture(scope="module")
async def embedded(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    tmp = tmp_path_factory.mktemp("ratelimit-embedded")
    env = {**AUTH_ENV, "WELLSPRING_RATE_LIMIT": "100/second", "WELLSPRING_RATE_LIMIT_EXEMPT": "sub:trusted"}
    with ServerProcess(tmp, sqlite_url_for(tmp), **env) as server:
        await server.serving()
        yield server.address


async def test_an_import_past_its_budget_is_paced_and_loses_nothing(embedded: str) -> None:
    subject = f"imp-{secrets.token_hex(2)}"
    messages = 25  # 2 for the call, 10 for each message after the first: 242 units of a 100/second budget

    async def requests() -> AsyncIterator[api.ImportUsersRequest]:
        for n in range(messages):
            uid = f"{subject}-{n}"
            yield api.ImportUsersRequest(users=[pb.User(id=uid, email=f"{uid}@x.test", display_name="I")])

    async with grpc.aio.insecure_channel(embedded) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        started = time.monotonic()
        reply = await stub.ImportUsers(requests(), metadata=bearer("importer", "admin"), timeout=30)
        took = time.monotonic() - started
        assert (reply.created_count, reply.failed_count) == (messages, 0), reply
        assert took >= 1.0, f"{messages} messages in {took:.2f} s: not paced"
        ids = [f"{subject}-{n}" for n in range(messages)]
        found = await stub.BatchGetUsers(api.BatchGetUsersRequest(ids=ids), metadata=bearer("root", "admin"))
        assert [u.id for u in found.users] == ids


async def test_the_sdk_waits_out_retry_info_and_succeeds(embedded: str) -> None:
    """Refused for the rate limit, a call never ran: the SDK sends it again after the server's RetryInfo
    wait, writes without a request_id too."""
    subject = f"sdk-{secrets.token_hex(2)}"
    async with grpc.aio.insecure_channel(embedded) as channel:
        user = pb.User(id=subject, email=f"{subject}@x.test", display_name="S")
        await user_service_pb2_grpc.UserServiceStub(channel).CreateUser(
            api.CreateUserRequest(user=user), metadata=bearer(subject)
        )
    token = bearer(subject)[0]
    async with WellspringClient(embedded, metadata=[token]) as client:
        started = time.monotonic()
        for n in range(80):  # 2 units each: 160 of a 100/second budget. Writes: never from a cache
            updated = await client.users.update(User(id=subject, display_name=f"S{n}"))
            assert updated.display_name == f"S{n}"
        took = time.monotonic() - started
        assert took >= 0.3, f"80 updates in {took:.2f} s: never limited"


async def test_anonymous_calls_are_limited_per_peer_address(embedded: str) -> None:
    outcomes: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(embedded) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for _ in range(150):
            try:
                await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
                outcomes[details(error)["ErrorInfo"][0].reason] += 1
    assert outcomes["OK"] >= 100 and outcomes["RATE_LIMITED"] > 0, outcomes


async def test_an_exempt_principal_is_never_limited(embedded: str) -> None:
    assert await hammer(embedded, "trusted", 300) == Counter(NOT_FOUND=300)
    assert (await hammer(embedded, "untrusted", 300))["RATE_LIMITED"] > 0


def test_a_bad_rate_limit_is_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.e2e.process import ROOT

    env = {"WELLSPRING_DATABASE_URL": sqlite_url_for(tmp_path)}
    for name, bad in (
        ("WELLSPRING_RATE_LIMIT", "lots"),
        ("WELLSPRING_RATE_LIMIT", "5/second"),
        ("WELLSPRING_RATE_LIMIT_EXEMPT", "bob"),
    ):
        env[name] = bad
        done = subprocess.run(
            [sys.executable, "-m", "service", "serve"],
            env={"PATH": "/usr/bin:/bin", **env},
            cwd=ROOT,
            capture_output=True,
            timeout=30,
        )
        lines = done.stderr.decode().strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, lines
        assert name in lines[0] and "Traceback" not in lines[0]
        del env[name]
