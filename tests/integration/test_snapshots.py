"""Snapshots (Exports) on the real databases: a bounded number at once, refused rather than queued, and on
PostgreSQL ended by the server itself when left idle (the safety net under the Export stall timeout)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from service.domain.errors import TooManyExports, Unavailable
from service.repository.database import open_database
from tests.conftest import sqlite_url_for


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_snapshots_beyond_the_slots_are_refused_at_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = sqlite_url_for(tmp_path) if backend == "sqlite" else request.getfixturevalue("pg_url")
    db = open_database(url, export_slots=2)
    try:
        async with db.snapshot(), db.snapshot():
            assert db.open_snapshots == 2
            started = time.monotonic()
            with pytest.raises(TooManyExports) as refused:
                async with db.snapshot():
                    pass
            assert time.monotonic() - started < 0.5 and refused.value.retry_after_s > 0
            async with db.reading() as uow:  # reads never wait behind snapshots
                assert await uow.repo("users").get("nobody") is None
        assert db.open_snapshots == 0
        async with db.snapshot() as uow:  # the slots are free again
            await uow.changes.latest()
    finally:
        await db.close()


@pytest.mark.postgres
async def test_a_postgres_snapshot_left_idle_is_ended_by_the_server(pg_url: str) -> None:
    db = open_database(pg_url, snapshot_idle_timeout_s=0.3)
    try:
        async with db.snapshot() as uow:
            await uow.changes.latest()
            await asyncio.sleep(1.0)  # idle in transaction past the timeout: what a stuck export would do
            with pytest.raises(Unavailable):
                await uow.changes.latest()
        async with db.snapshot() as uow:  # the pool replaced the ended session
            assert await uow.changes.latest() >= 0
    finally:
        await db.close()
