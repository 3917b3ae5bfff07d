"""Shared fixtures: a fresh PostgreSQL database per run, SQLite files per test, a real server on 127.0.0.1:0.

With REQUIRE_SERVICES=1 (CI) a PostgreSQL that cannot be reached fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from wellspring.v1 import post_service_pb2_grpc, user_service_pb2_grpc

from service.bootstrap import App, bootstrap
from service.config import Settings
from service.repository.database import open_database
from service.repository.migrate import upgrade

ADMIN_PG_URL = os.environ.get("WELLSPRING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _missing(what: str, error: BaseException) -> None:
    message = f"{what} is not reachable ({type(error).__name__}: {error})"
    if REQUIRE_SERVICES:
        pytest.fail(message + "; REQUIRE_SERVICES=1 makes this a failure", pytrace=False)
    pytest.skip(message)


@asynccontextmanager
async def fresh_pg_database() -> AsyncIterator[str]:
    """A PostgreSQL database created and migrated for this run, dropped at the end."""
    import asyncpg

    admin_dsn = ADMIN_PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        _missing("PostgreSQL", error)
    name = f"wellspring_test_{secrets.token_hex(6)}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _in_thread(coro: Any) -> Any:
    """Run a coroutine on a private loop in a worker thread (usable from sync fixtures at any time)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _create_pg(name: str) -> str | BaseException:
    import asyncpg

    admin_dsn = ADMIN_PG_URL.replace("postgresql+asyncpg://", "postgresql://")
    try:
        admin = await asyncpg.connect(admin_dsn, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        return error
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = admin_dsn.rsplit("/", 1)[0] + f"/{name}"
    await asyncio.to_thread(upgrade, url)
    return url


async def _drop_pg(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(ADMIN_PG_URL.replace("postgresql+asyncpg://", "postgresql://"), timeout=5)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The repository tests' database (truncated before each test). A sync fixture, so async fixtures
    can ask for it lazily whatever ran first."""
    name = f"wellspring_test_{secrets.token_hex(6)}"
    created = _in_thread(_create_pg(name))
    if isinstance(created, BaseException):
        _missing("PostgreSQL", created)
    try:
        yield created
    finally:
        _in_thread(_drop_pg(name))


class RedisProcess:
    """A redis-server of the test's own, on a free port, that the test may kill, pause and restart."""

    def __init__(self, workdir: Path) -> None:
        import shutil
        import socket

        binary = shutil.which("redis-server")
        if binary is None:
            _missing("redis-server", FileNotFoundError("redis-server binary"))
        self.binary = str(binary)
        self.workdir = workdir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *, dbfilename: str = "dump.rdb") -> None:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.workdir),
            "--dbfilename",
            dbfilename,
        ]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        import redis

        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)


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


async def start_app(database_url: str, **overrides: object) -> App:
    fields: dict[str, object] = {
        "addr": "127.0.0.1:0",
        "migrate_on_start": False,
        "shutdown_grace_s": 1.0,
        "shutdown_drain_s": 0.0,  # the drain is for load balancers; tests of it set their own
        "access_log": False,
    }
    settings = Settings(database_url=database_url, **(fields | overrides))  # type: ignore[arg-type]
    app = await bootstrap(settings)
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
