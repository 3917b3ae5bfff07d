"""100 000 items through ImportUsers into a real server process: the good ones all land, the bad ones are
reported by index, and the server's memory does not grow with the stream (peak RSS measured)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from tests.e2e.process import ServerProcess, memory_kb

ITEMS = 100_000
PER_MESSAGE = 500
BAD_EVERY = 97
BIO = "b" * 1000  # ~110 MB of items in all: a server that kept them would show it
MAX_GROWTH_MB = 80


async def _requests() -> AsyncIterator[api.ImportUsersRequest]:
    for start in range(0, ITEMS, PER_MESSAGE):
        users = []
        for n in range(start, start + PER_MESSAGE):
            email = "not an email" if n % BAD_EVERY == 0 else f"bulk-{n}@example.com"
            users.append(pb.User(id=f"bulk-{n:06d}", email=email, display_name=f"Bulk {n}", bio=BIO))
        yield api.ImportUsersRequest(users=users)


async def test_a_100k_item_import_lands_in_bounded_memory(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, f"sqlite:///{tmp_path / 'bulk.sqlite3'}") as server:
        await server.serving()
        rss_before = memory_kb(server.pid, "VmRSS")
        async with grpc.aio.insecure_channel(server.address) as channel:
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
        growth_mb = (memory_kb(server.pid, "VmHWM") - rss_before) / 1024
        print(f"peak RSS growth over the import and export: {growth_mb:.1f} MB")
        assert growth_mb < MAX_GROWTH_MB
