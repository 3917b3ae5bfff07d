"""Shared fixtures: a fresh PostgreSQL database per run, SQLite files per test, a real server on 127.0.0.1:0.

With REQUIRE_SERVICES=1 (CI) a PostgreSQL that cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from wellspring.v1 import post_service_pb2_grpc, user_service_pb2_grpc

from harness import HarnessError, RedisServer, create_database, drop_database
from service.bootstrap import App, bootstrap
from service.config import Settings
from service.observability.tracing import Tracing
from service.repository.database import open_database
from service.repository.migrate import upgrade

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# The JUnit runs' result lines (tests/e2e/test_jvm_client.py), printed at the end of the session.
JVM_RESULTS = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash.get(JVM_RESULTS, []):
        terminalreporter.write_line(line)


def _missing(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(message)


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A PostgreSQL database created and migrated for this run, dropped at the end."""
    try:
        url = await asyncio.to_thread(create_database)
    except HarnessError as error:
        _missing("PostgreSQL", error)
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await asyncio.to_thread(drop_database, url)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The repository tests' database (truncated before each test). A sync fixture, so async fixtures
    can ask for it lazily whatever ran first."""
    try:
        url = create_database()
    except HarnessError as error:
        _missing("PostgreSQL", error)
    try:
        with ThreadPoolExecutor(1) as thread:  # alembic runs its own loop: not on the one that may be running
            thread.submit(upgrade, url).result()
        yield url
    finally:
        drop_database(url)


class RedisProcess(RedisServer):
    """A redis-server of the test's own, on a free port, that the test may kill, pause and restart; a
    missing binary fails the run under REQUIRE_SERVICES, else skips the test."""

    def __init__(self, workdir: Path) -> None:
        try:
            super().__init__(workdir)
        except HarnessError as error:
            _missing("redis-server", error)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


def sqlite_url_for(tmp: Path) -> str:
    url = f"sqlite:///{tmp / 'wellspring.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return sqlite_url_for(tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """The real database behind the repository, once per backend; every test starts empty."""
    if request.param == "sqlite":
        db = open_database(sqlite_url_for(tmp_path))
    else:
        url = request.getfixturevalue("pg_url")
        db = open_database(url)
        await _truncate(db)
    try:
        yield db
    finally:
        await db.close()


async def _truncate(db: object) -> None:
    from service.repository.tables import metadata

    async with db.engine.begin() as conn:  # type: ignore[attr-defined]
        names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
        await conn.exec_driver_sql(f"TRUNCATE {names}")
        await conn.exec_driver_sql("INSERT INTO change_log_state (id, compacted_revision) VALUES (1, 0)")


async def start_app(database_url: str, *, tracing: Tracing | None = None, **overrides: object) -> App:
    fields: dict[str, object] = {
        "addr": "127.0.0.1:0",
        "migrate_on_start": False,
        "shutdown_grace_s": 1.0,
        "shutdown_drain_s": 0.0,  # the drain is for load balancers; tests of it set their own
        "access_log": False,
    }
    settings = Settings(database_url=database_url, **(fields | overrides))  # type: ignore[arg-type]
    app = await bootstrap(settings, tracing=tracing)
    await app.start()
    await asyncio.wait_for(app.ready.wait(), 30)
    if app.cache is not None and app.coherence is not None:  # wait for the first read lease
        deadline = time.monotonic() + 10
        while not app.cache.snapshot()["leased"]:
            assert time.monotonic() < deadline, "no cache read lease"
            await asyncio.sleep(0.01)
    return app


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    """One real server per backend for the end-to-end tests, on a free port, with its own database."""
    async with AsyncExitStack() as stack:
        if request.param == "sqlite":
            url = sqlite_url_for(tmp_path_factory.mktemp("e2e"))
        else:
            url = await stack.enter_async_context(fresh_pg_database())
        app = await start_app(url)
        try:
            yield app
        finally:
            await app.stop(0)


@pytest.fixture(scope="session")
async def channel(app: App) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(app.address) as ch:
        yield ch


@pytest.fixture(scope="session")
def users_stub(channel: grpc.aio.Channel) -> user_service_pb2_grpc.UserServiceStub:
    return user_service_pb2_grpc.UserServiceStub(channel)


@pytest.fixture(scope="session")
def posts_stub(channel: grpc.aio.Channel) -> post_service_pb2_grpc.PostServiceStub:
    return post_service_pb2_grpc.PostServiceStub(channel)
