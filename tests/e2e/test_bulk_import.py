"""100 000 items through ImportUsers into a real server process: the good ones all land, the bad ones are
reported by index, and the server's memory does not grow with the stream (peak RSS measured)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from tests.e2e.test_history import wait_serving

ROOT = Path(__file__).resolve().parents[2]
ITEMS = 100_000
PER_MESSAGE = 500
BAD_EVERY = 97
BIO = "b" * 1000  # ~110 MB of items in all: a server that kept them would show it
MAX_GROWTH_MB = 80


def _memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@contextmanager
def embedded_server(tmp: Path) -> Iterator[tuple[str, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "WELLSPRING_ADDR": f"127.0.0.1:{port}",
        "WELLSPRING_DATABASE_URL": f"sqlite:///{tmp / 'bulk.sqlite3'}",
        "WELLSPRING_ACCESS_LOG": "0",
    }
    with open(tmp / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "service", "serve"], env=env, cwd=ROOT, stderr=log)
        try:
            yield f"127.0.0.1:{port}", proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=20)


async def _requests() -> AsyncIterator[api.ImportUsersRequest]:
    for start in range(0, ITEMS, PER_MESSAGE):
        users = []
        for n in range(start, start + PER_MESSAGE):
            email = "not an email" if n % BAD_EVERY == 0 else f"bulk-{n}@example.com"
            users.append(pb.User(id=f"bulk-{n:06d}", email=email, display_name=f"Bulk {n}", bio=BIO))
        yield api.ImportUsersRequest(users=users)


async def test_a_100k_item_import_lands_in_bounded_memory(tmp_path: Path) -> None:
    with embedded_server(tmp_path) as (address, pid):
        await wait_serving(address)
        rss_before = _memory_kb(pid, "VmRSS")
        async with grpc.aio.insecure_channel(address) as channel:
            stub = user_service_pb2_grpc.UserServiceStub(channel)
            reply = await stub.ImportUsers(_requests(), timeout=300)
            bad = [n for n in range(ITEMS) if n % BAD_EVERY == 0]
            assert reply.failed_count == len(bad)
            assert reply.created_count == ITEMS - len(bad) and reply.updated_count == 0
            assert [e.index for e in reply.errors] == bad[:1000]  # the first 1000 are named
            assert {e.field for e in reply.errors} == {"user.email"}
            exported = 0
            async for message in stub.ExportUsers(api.ExportUsersRequest(query="bulk")):
                exported += len(message.users)
            assert exported == ITEMS - len(bad)
        growth_mb = (_memory_kb(pid, "VmHWM") - rss_before) / 1024
        print(f"peak RSS growth over the import and export: {growth_mb:.1f} MB")
        assert growth_mb < MAX_GROWTH_MB
