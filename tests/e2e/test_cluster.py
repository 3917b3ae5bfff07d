"""`make run-cluster` (scripts/run_cluster.py): N replicas on consecutive ports behave as one service."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from tests.conftest import RedisProcess, fresh_pg_database
from tests.e2e.test_history import wait_serving

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[2]


def _consecutive_free_ports(count: int) -> int:
    for _ in range(100):
        base = random.randint(20_000, 60_000)
        try:
            sockets = []
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free consecutive ports")


async def test_replicas_share_state_and_page_tokens(redis_server: RedisProcess, tmp_path: Path) -> None:
    async with fresh_pg_database() as url:
        base = _consecutive_free_ports(2)
        env = {**os.environ, "WELLSPRING_DATABASE_URL": url, "WELLSPRING_REDIS_URL": redis_server.url}
        env.pop("WELLSPRING_PAGE_TOKEN_SECRET", None)
        proc = subprocess.Popen(  # noqa: ASYNC220 - started once; waited for off the loop
            [sys.executable, "scripts/run_cluster.py", "--replicas", "2", "--base-port", str(base)],
            env=env,
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        try:
            addresses = [f"127.0.0.1:{base}", f"127.0.0.1:{base + 1}"]
            for address in addresses:
                await wait_serving(address)
            async with (
                grpc.aio.insecure_channel(addresses[0]) as first,
                grpc.aio.insecure_channel(addresses[1]) as second,
            ):
                one = user_service_pb2_grpc.UserServiceStub(first)
                two = user_service_pb2_grpc.UserServiceStub(second)
                for i in range(3):
                    await one.CreateUser(
                        api.CreateUserRequest(user=pb.User(email=f"c{i}@x.io", display_name=f"C{i}"))
                    )
                page = await one.ListUsers(api.ListUsersRequest(page_size=2))
                rest = await two.ListUsers(api.ListUsersRequest(page_size=2, page_token=page.next_page_token))
                assert len(page.users) == 2 and len(rest.users) == 1
                user = page.users[0]
                await two.UpdateUser(api.UpdateUserRequest(user=pb.User(id=user.id, bio="via two")))
                assert (await one.GetUser(api.GetUserRequest(id=user.id))).bio == "via two"
        finally:
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 60)
        assert code == 0
