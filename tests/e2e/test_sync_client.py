"""``SyncWellspringClient`` in child Python processes against a real in-process server: what a user of a
script sees when it is interrupted and when it exits."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from service.bootstrap import App
from tests.conftest import sqlite_url_for, start_app
from wellspring_client import User, WellspringClient

ROOT = Path(__file__).resolve().parents[2]

WATCHER = """
import sys
from wellspring_client import SyncWellspringClient
with SyncWellspringClient(sys.argv[1]) as client:
    for event in client.watch(collections=["users"], start_revision=int(sys.argv[2])):
        print(event.id, flush=True)
"""

# A short session touching what leaves gRPC tasks behind: the cache's Watch, unary calls, a stream
# closed early (an Export) and a List left after its first page.
SESSION = """
import sys
from wellspring_client import SyncWellspringClient, User
with SyncWellspringClient(sys.argv[1], watch=True) as client:
    user = client.create_user(User(email=sys.argv[2] + "@example.com", display_name="Exit"))
    assert client.get_user(user.id) == user
    next(iter(client.export_users()))
    next(iter(client.list_users(page_size=1)))
"""


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[App]:
    app = await start_app(sqlite_url_for(tmp_path))
    try:
        yield app
    finally:
        await app.stop(0)


async def child(script: str, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_ctrl_c_inside_a_watch_loop_is_a_plain_keyboard_interrupt(server: App) -> None:
    """Issue 10: it raised ``RuntimeError: aclose(): asynchronous generator is already running``."""
    async with WellspringClient(server.address) as client:
        export = client.export_users()
        async for _ in export:
            pass
        assert export.revision is not None
        process = await child(WATCHER, server.address, str(export.revision + 1))
        created = await client.create_user(
            User(email=f"{secrets.token_hex(4)}@example.com", display_name="W")
        )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    assert line.decode().strip() == created.id  # it is inside the loop, waiting for the next event
    process.send_signal(signal.SIGINT)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    text = stderr.decode()
    assert text.rstrip().endswith("KeyboardInterrupt"), text
    assert "RuntimeError" not in text and "Task was destroyed" not in text, text


async def test_a_short_sync_session_prints_nothing_at_exit(server: App) -> None:
    """Issue 10: "Task was destroyed but it is pending" (gRPC's per-call tasks, left on the loop when it
    closed) printed at exit in about one run in five: sixteen runs, four at a time."""
    for _ in range(4):
        processes = [await child(SESSION, server.address, secrets.token_hex(6)) for _ in range(4)]
        outcomes = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 60)
        for process, (_, stderr) in zip(processes, outcomes, strict=True):
            assert (process.returncode, stderr.decode()) == (0, "")
