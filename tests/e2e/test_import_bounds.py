"""Imports against real servers: what an import holds is about one chunk of bytes, whatever the size of its
items (issue 9, part 2, a server process), and on SQLite a chunk's statements leave the event loop free for
other calls (part 3).

Before chunks had a byte budget, a chunk was 500 items whatever their size: one ImportPosts of 500 posts of
400 KB took the server's RSS from 89 MB to 903 MB, and three concurrent streams to 1.38 GB. Here three
concurrent streams of 170 such posts (about the issue's 200 MB in all; every post is written twice, as the
row and as its change-log entry, so more would take long on a small disk) peaked at baseline + 548 MiB
before, and at + 95 to 160 MiB with chunks of at most IMPORT_CHUNK_BYTES (each stream holds its chunk, the
message being read, and what the transport has buffered ahead).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import sqlalchemy as sa
from wellspring.v1 import post_service_pb2 as posts_api
from wellspring.v1 import post_service_pb2_grpc, user_service_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as users_api

from tests.conftest import sqlite_url_for, start_app
from tests.e2e.process import ServerProcess, memory_kb

BODY = "\U0001d11e" * 100_000  # the longest body there may be (100,000 characters), 400 KB of UTF-8
POSTS = 170  # per stream
STREAMS = 3
PER_MESSAGE = 9  # 3.6 MB: under the 4 MiB message limit
MAX_GROWTH_MIB = 256  # peak RSS over the baseline, for all three streams together


async def _requests(prefix: str, author: str, count: int) -> AsyncIterator[posts_api.ImportPostsRequest]:
    for start in range(0, count, PER_MESSAGE):
        posts = [
            pb.Post(id=f"{prefix}-{n:04d}", author_id=author, title=f"Large post {n}", body=BODY)
            for n in range(start, min(count, start + PER_MESSAGE))
        ]
        yield posts_api.ImportPostsRequest(posts=posts)


def _reset_peak(pid: int) -> None:
    """Start VmHWM again from the current RSS (Linux: ``5`` to clear_refs), so the peak is this test's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def test_concurrent_imports_of_large_posts_stay_within_a_memory_bound(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, f"sqlite:///{tmp_path / 'large.sqlite3'}") as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            posts = post_service_pb2_grpc.PostServiceStub(channel)
            author = pb.User(email="author@example.com", display_name="Author")
            await users.CreateUser(users_api.CreateUserRequest(user=author, user_id="author"))
            # One small import first: what any import allocates once (statements, pools) is baseline.
            warm = await posts.ImportPosts(_requests("warm", "author", 2 * PER_MESSAGE), timeout=30)
            assert warm.created_count == 2 * PER_MESSAGE
            _reset_peak(server.pid)
            baseline_kb = server.rss_kb()

            replies = await asyncio.gather(
                *(posts.ImportPosts(_requests(f"s{k}", "author", POSTS), timeout=60) for k in range(STREAMS))
            )
            peak_kb = memory_kb(server.pid, "VmHWM")

            assert [(r.created_count, r.failed_count) for r in replies] == [(POSTS, 0)] * STREAMS
            stored = await posts.GetPost(posts_api.GetPostRequest(id=f"s{STREAMS - 1}-{POSTS - 1:04d}"))
            assert stored.body == BODY
        growth_mib = (peak_kb - baseline_kb) / 1024
        print(f"{STREAMS} x {POSTS} posts of 400 KB: peak RSS {baseline_kb // 1024} + {growth_mib:.0f} MiB")
        assert growth_mib < MAX_GROWTH_MIB


# ---- The event loop during an import (issue 9, part 3): on SQLite a chunk's statements run off it.


async def test_a_get_is_answered_while_an_import_chunk_is_being_written(tmp_path: Path) -> None:
    """The import's INSERT is held inside the driver until a GetUser on another call has been answered.
    Were the chunk's statements on the event loop, nothing else could run until the hold timed out."""
    app = await start_app(sqlite_url_for(tmp_path))
    inside, release = threading.Event(), threading.Event()
    held: list[bool] = []

    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO users") and not release.is_set():
            inside.set()
            held.append(release.wait(timeout=5))  # False: nobody released it, the loop was stuck here

    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            probe = pb.User(email="probe@example.com", display_name="Probe")
            await users.CreateUser(users_api.CreateUserRequest(user_id="probe", user=probe))
            sa.event.listen(app.database.engine, "before_cursor_execute", hold)  # type: ignore[attr-defined]
            batch = [
                pb.User(id=f"u{i}", email=f"u{i}@example.com", display_name=f"U {i}") for i in range(600)
            ]
            requests = [users_api.ImportUsersRequest(users=batch[i : i + 250]) for i in range(0, 600, 250)]
            call = asyncio.ensure_future(users.ImportUsers(iter(requests), timeout=30))
            assert await asyncio.to_thread(inside.wait, 10)
            got = await users.GetUser(users_api.GetUserRequest(id="probe"), timeout=3)
            release.set()
            reply = await call
    finally:
        release.set()
        await app.stop(0)
    assert got.email == "probe@example.com"
    assert (reply.created_count, reply.failed_count) == (600, 0)
    assert held == [True]
