"""The shared stores behind the Redis-backed server: a redis-server of the bench's own and a fresh database.

Both are the bench's alone, so it may kill and restart the Redis, and Redis's own command statistics count
nothing but this server's cache traffic: they are the server-side signal for hits and misses (the server has
no metrics endpoint). The database is a fresh PostgreSQL database (the realistic deployment), dropped at the
end; when PostgreSQL cannot be reached the server runs on a SQLite file instead and the report says so.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import redis

from bench.server import REPO_ROOT, BenchError, clean_env, free_port

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_READY_TIMEOUT_S = 10.0
ADMIN_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_CONNECT_TIMEOUT_S = 5.0
MIGRATE_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RedisCounters:
    """Cumulative counters from ``INFO commandstats`` and ``INFO stats``; subtract two to get a window.

    For the cache tier, one GetUser that reaches Redis is one MGET, and each miss among its keys is loaded
    from the database and written back by one fill script (EVALSHA). Redis's keyspace hits count every
    existing key, including the tombstones writes leave behind, so they do not tell cache hits apart.
    """

    mget: int = 0
    evalsha: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0

    def __sub__(self, other: RedisCounters) -> RedisCounters:
        return RedisCounters(
            self.mget - other.mget,
            self.evalsha - other.evalsha,
            self.keyspace_hits - other.keyspace_hits,
            self.keyspace_misses - other.keyspace_misses,
        )


class RedisServer:
    """``redis-server`` on a free loopback port, no persistence; it can be killed and started again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        """Start (again, on the same port) and wait until it answers PING."""
        binary = REDIS_SERVER if Path(REDIS_SERVER).exists() else shutil.which("redis-server")
        if binary is None:
            raise BenchError("redis-server not found: install the Debian package redis-server")
        self.starts += 1
        command = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        command += ["--dir", str(self.workdir), "--logfile", str(self.workdir / f"redis-{self.starts}.log")]
        self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + REDIS_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not self.running:
                raise BenchError(f"redis-server exited at start; see {self.workdir}/redis-{self.starts}.log")
            with suppress(redis.exceptions.ConnectionError):
                self._client().ping()
                return
            time.sleep(0.02)
        raise BenchError(f"redis-server on port {self.port} did not answer within {REDIS_READY_TIMEOUT_S}s")

    def kill(self) -> None:
        """SIGKILL, as in a crash: the server under test must notice on its own."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1.0, socket_connect_timeout=1.0)

    def counters(self) -> RedisCounters:
        """The counters now (one INFO call each for command and keyspace statistics)."""
        with self._client() as client:
            commands = client.info("commandstats")
            stats = client.info("stats")
        return RedisCounters(
            int(commands.get("cmdstat_mget", {}).get("calls", 0)),
            int(commands.get("cmdstat_evalsha", {}).get("calls", 0)),
            int(stats["keyspace_hits"]),
            int(stats["keyspace_misses"]),
        )


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass(frozen=True)
class Database:
    """A database URL for the server and how to describe it in the report."""

    url: str
    description: str
    shared: bool  # PostgreSQL: migrated beforehand, like a production deployment


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_PG_URL, timeout=PG_CONNECT_TIMEOUT_S)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _create_pg_database(name: str) -> str | None:
    """Create the database; None (with the reason printed) when PostgreSQL cannot be reached."""
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        print(
            f"[bench] PostgreSQL unreachable ({type(error).__name__}: {error})", file=sys.stderr, flush=True
        )
        return None
    return ADMIN_PG_URL.rsplit("/", 1)[0] + f"/{name}"


def migrate(database_url: str) -> None:
    """``python -m service migrate`` against the URL, as an operator deploying replicas would run it."""
    env = clean_env()
    env["WELLSPRING_DATABASE_URL"] = database_url
    done = subprocess.run(
        [sys.executable, "-m", "service", "migrate"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"python -m service migrate exited with {done.returncode}:\n{done.stderr[-2000:]}")


@contextmanager
def fresh_database(workdir: Path) -> Iterator[Database]:
    """A new PostgreSQL database named wellspring_bench_<random>, migrated, dropped afterwards; a SQLite
    file (which the server migrates itself) when PostgreSQL is unreachable."""
    name = f"wellspring_bench_{secrets.token_hex(6)}"
    url = _create_pg_database(name)
    if url is None:
        path = workdir / "cached.sqlite3"
        yield Database(f"sqlite:///{path}", "SQLite (PostgreSQL was unreachable)", shared=False)
        return
    try:
        migrate(url)
        yield Database(url, f"PostgreSQL, fresh database {name}", shared=True)
    finally:
        drop_database(name)


def drop_database(name: str) -> None:
    """Drop the bench's database; a failure is reported but does not hide the run's own outcome."""
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        print(f"[bench] could not drop database {name}: {error}", file=sys.stderr, flush=True)
