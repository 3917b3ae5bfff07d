"""An operator's mistakes at start get one line on stderr naming the setting, never a traceback or a
silent loop (issue 10): a taken port, an unreadable TLS file, a missing database or role, an unmigrated
schema, PostgreSQL down, a SQLite path whose directory is missing; and the CLI's small gaps."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harness import ADMIN_URL
from service import __version__
from service.repository.migrate import head_revision
from tests.conftest import RedisProcess
from tests.e2e.process import ROOT, ServerProcess, free_port, server_module

PG_BASE = ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0]


def _run(*args: str, timeout_s: float = 30, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WELLSPRING_")}
    environ |= {"WELLSPRING_ADDR": f"127.0.0.1:{free_port()}", **env}
    return subprocess.run(
        [sys.executable, "-m", server_module(environ), *args],
        env=environ,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def _plain_lines(stderr: str) -> list[str]:
    """What is not a JSON log line (the service's log) nor gRPC core's own (``E1202 12:00:00 …``)."""
    return [line for line in stderr.splitlines() if line and not line.startswith(("{", "E1", "W1", "I1"))]


def _one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert result.returncode == code, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = _plain_lines(result.stderr)
    assert len(lines) == 1, result.stderr[-3000:]
    return lines[0]


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
async def empty_pg() -> AsyncIterator[str]:
    """A PostgreSQL database that exists but was never migrated."""
    import asyncpg

    name = f"wellspring_test_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(f"{PG_BASE}/postgres", timeout=5)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_BASE}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_a_taken_port_fails_before_the_database_is_touched(tmp_path: Path, taken_port: int) -> None:
    db = tmp_path / "fresh.sqlite3"
    result = _run(
        "serve", WELLSPRING_ADDR=f"127.0.0.1:{taken_port}", WELLSPRING_DATABASE_URL=f"sqlite:///{db}"
    )
    assert _one_line(result).startswith(f"WELLSPRING_ADDR: cannot listen on 127.0.0.1:{taken_port}")
    assert not db.exists()


def test_an_unreadable_tls_file_fails_before_the_database_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "fresh.sqlite3"
    missing = str(tmp_path / "no-such.pem")
    result = _run(
        "serve",
        WELLSPRING_DATABASE_URL=f"sqlite:///{db}",
        WELLSPRING_TLS_CERT_FILE=missing,
        WELLSPRING_TLS_KEY_FILE=missing,
    )
    line = _one_line(result)
    assert "cannot read the TLS key or certificate" in line
    assert "WELLSPRING_TLS_KEY_FILE" in line and "WELLSPRING_TLS_CERT_FILE" in line
    assert not db.exists()


@pytest.mark.postgres
def test_a_missing_database_stops_the_start_with_where_and_why() -> None:
    host_port = PG_BASE.rsplit("@", 1)[1]
    url = f"{PG_BASE.replace('://postgres@', '://postgres:sekrit@')}/no_such_db_{secrets.token_hex(4)}"
    line = _one_line(_run("serve", WELLSPRING_DATABASE_URL=url))
    assert line.startswith("WELLSPRING_DATABASE_URL:") and "does not exist" in line
    assert host_port in line and "no_such_db_" in line
    assert "sekrit" not in line


@pytest.mark.postgres
def test_a_missing_role_stops_the_start() -> None:
    url = PG_BASE.replace("://postgres@", "://no_such_role@") + "/postgres"
    line = _one_line(_run("serve", WELLSPRING_DATABASE_URL=url))
    assert 'role "no_such_role" does not exist' in line


@pytest.mark.postgres
async def test_an_unmigrated_database_is_named_with_the_command_to_run(empty_pg: str) -> None:
    # --seed-demo is `make run`: the seeding used to crash on the missing tables
    line = _one_line(_run("serve", "--seed-demo", WELLSPRING_DATABASE_URL=empty_pg))
    assert "database is not migrated (at no revision, need " in line
    assert "run `make migrate`" in line


def _first_retry_warning(server: ServerProcess, deadline_s: float = 20) -> str:
    """The first "…; retrying" warning of a server that must keep running while it retries."""
    deadline = time.monotonic() + deadline_s
    while True:
        found = [line["message"] for line in server.log_lines() if "retrying" in line["message"]]
        if found:
            return found[0]
        assert server.proc is not None and server.proc.poll() is None, server.log_text()
        assert time.monotonic() < deadline, server.log_text()
        time.sleep(0.05)


def test_postgres_down_is_retried_with_the_drivers_message(tmp_path: Path) -> None:
    down = f"postgresql://postgres:sekrit@127.0.0.1:{free_port()}/wellspring"
    with ServerProcess(tmp_path, down) as server:
        warning = _first_retry_warning(server)
    assert f"127.0.0.1:{down.rsplit(':', 1)[1].split('/')[0]}" in warning and "wellspring" in warning
    # the driver's words: asyncio's loop says "Connect call failed", uvloop's "Connection refused"
    assert ("Connect call failed" in warning or "Connection refused" in warning) and "sekrit" not in warning


def test_migrate_with_postgres_down_prints_one_line() -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/wellspring"
    line = _one_line(_run("migrate", WELLSPRING_DATABASE_URL=down), code=1)
    assert line.startswith("WELLSPRING_DATABASE_URL: PostgreSQL at 127.0.0.1:")


def _sqlite_at_revision(path: Path, revision: str) -> str:
    """A SQLite file whose alembic_version says ``revision`` (nothing else in it)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
        conn.commit()
    return f"sqlite:///{path}"


def test_migrate_at_an_unknown_revision_prints_one_line(tmp_path: Path) -> None:
    url = _sqlite_at_revision(tmp_path / "ahead.sqlite3", "zzzz")
    line = _one_line(_run("migrate", WELLSPRING_DATABASE_URL=url), code=2)
    assert line.startswith("WELLSPRING_DATABASE_URL: SQLite at ") and "'zzzz'" in line


def test_a_schema_newer_than_the_build_says_so_rather_than_migrate(tmp_path: Path) -> None:
    # a rolling deploy: the new version migrated past this build's head; an old replica restarts
    url = _sqlite_at_revision(tmp_path / "ahead.sqlite3", "0099")
    for migrate in ("0", "1"):
        line = _one_line(_run("serve", WELLSPRING_DATABASE_URL=url, WELLSPRING_MIGRATE_ON_START=migrate))
        assert f"the database schema is at 0099, newer than this build (head {head_revision()})" in line
        assert "deploy the newer version or downgrade" in line and "make migrate" not in line


def test_an_older_known_schema_is_told_to_migrate(tmp_path: Path) -> None:
    url = _sqlite_at_revision(tmp_path / "behind.sqlite3", "0001")
    line = _one_line(_run("serve", WELLSPRING_DATABASE_URL=url, WELLSPRING_MIGRATE_ON_START="0"))
    assert f"database is not migrated (at 0001, need {head_revision()}): run `make migrate`" in line


def test_migrating_at_start_retries_while_postgres_is_down(tmp_path: Path) -> None:
    down = f"postgresql://postgres@127.0.0.1:{free_port()}/wellspring"
    with ServerProcess(tmp_path, down, WELLSPRING_MIGRATE_ON_START="1") as server:
        warning = _first_retry_warning(server)
        assert warning.startswith("database not answering: PostgreSQL at 127.0.0.1:"), warning
        assert server.proc is not None and server.proc.poll() is None, server.log_text()
        server.signal(signal.SIGTERM)
        assert server.proc.wait(timeout=10) == 0, server.log_text()


def test_a_missing_sqlite_directory_outside_var_is_refused(tmp_path: Path) -> None:
    where = tmp_path / "not" / "there"
    result = _run("migrate", WELLSPRING_DATABASE_URL=f"sqlite:///{where}/x.db")
    line = _one_line(result)
    assert "WELLSPRING_DATABASE_URL" in line and str(where) in line and "sqlite:////" in line
    assert "WELLSPRING_SQLITE_CREATE_DIRS=1" in line
    assert not where.exists()
    asked = _run(
        "migrate", WELLSPRING_DATABASE_URL=f"sqlite:///{where}/x.db", WELLSPRING_SQLITE_CREATE_DIRS="1"
    )
    assert asked.returncode == 0, asked.stderr
    assert (where / "x.db").exists()


async def test_seed_demo_data_exists_the_moment_health_says_serving(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from wellspring.v1 import post_service_pb2, post_service_pb2_grpc, user_service_pb2, user_service_pb2_grpc

    from service.seed import DEMO_POSTS

    url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    # Slowed Redis commands (a test-only knob) make each seeding write take a while (its invalidations
    # go through Redis): seeding after SERVING would be caught in the act.
    slow = {"WELLSPRING_REDIS_URL": redis_server.url, "WELLSPRING_TEST_REDIS_DELAY_S": "0.05"}
    with ServerProcess(tmp_path, url, args=("--seed-demo",), **slow) as server:
        deadline = time.monotonic() + 30
        async with grpc.aio.insecure_channel(server.address) as channel:
            while True:  # a Watch hears SERVING as it is set: no polling interval for seeding to hide in
                assert server.proc is not None and server.proc.poll() is None, server.log_text()
                assert time.monotonic() < deadline, server.log_text()
                try:
                    watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest())
                    async for answer in watch:
                        if answer.status == health_pb2.HealthCheckResponse.SERVING:
                            break
                    else:
                        continue
                    break
                except grpc.aio.AioRpcError:  # not listening yet
                    await asyncio.sleep(0.02)
            # the posts first: they are seeded last
            posts = post_service_pb2_grpc.PostServiceStub(channel)
            listed = await posts.ListPosts(post_service_pb2.ListPostsRequest(page_size=50), timeout=5)
            users = user_service_pb2_grpc.UserServiceStub(channel)
            ada = await users.GetUser(user_service_pb2.GetUserRequest(id="ada"), timeout=5)
    assert len(listed.posts) == len(DEMO_POSTS)
    assert ada.display_name == "Ada Lovelace"


def test_a_bare_command_prints_help_instead_of_serving() -> None:
    result = _run(timeout_s=10)
    assert result.returncode == 2
    assert "serve" in result.stderr and "migrate" in result.stderr and "health" in result.stderr
    assert "serving on" not in result.stderr


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"wellspring {__version__}"
    assert __version__ and __version__[0].isdigit()


async def test_health_asks_the_address_given(sqlite_url: str, tmp_path: Path) -> None:
    with ServerProcess(tmp_path, sqlite_url) as server:
        await server.serving()
        # WELLSPRING_ADDR names another port: --addr wins
        result = _run("health", "--addr", server.address)
        assert result.returncode == 0 and result.stdout.strip() == "SERVING", result.stderr
    nobody = _run("health", "--addr", f"127.0.0.1:{free_port()}")
    assert nobody.returncode == 1 and "UNAVAILABLE" in nobody.stderr
