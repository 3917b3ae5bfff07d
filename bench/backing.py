"""The shared stores behind the Redis-backed server: a redis-server of the bench's own and a fresh database.

Both are the bench's alone, so it may kill and restart the Redis, and Redis's own command statistics count
nothing but this server's cache traffic: they are the server-side signal for hits and misses (the server has
no metrics endpoint). The database is a fresh PostgreSQL database (the realistic deployment), dropped at the
end; when PostgreSQL cannot be reached the server runs on a SQLite file instead and the report says so.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis

import harness
from bench.server import REPO_ROOT, BenchError, clean_env

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


class RedisServer(harness.RedisServer):
    """The harness's redis-server (free loopback port, nothing on disk, killable), and its counters."""

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
    try:
        server = RedisServer(workdir)
        server.start()
    except harness.HarnessError as error:
        raise BenchError(str(error)) from error
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


def _create_pg_database() -> str | None:
    """A new database; None (with the reason printed) when PostgreSQL cannot be reached."""
    try:
        return harness.create_database("wellspring_bench")
    except harness.HarnessError as error:
        print(f"[bench] PostgreSQL unreachable: {error}", file=sys.stderr, flush=True)
        return None


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
    url = _create_pg_database()
    if url is None:
        path = workdir / "cached.sqlite3"
        yield Database(f"sqlite:///{path}", "SQLite (PostgreSQL was unreachable)", shared=False)
        return
    try:
        migrate(url)
        yield Database(url, f"PostgreSQL, fresh database {url.rsplit('/', 1)[1]}", shared=True)
    finally:
        drop_database(url)


def drop_database(url: str) -> None:
    """Drop the bench's database; a failure is reported but does not hide the run's own outcome."""
    try:
        harness.drop_database(url)
    except harness.HarnessError as error:
        print(f"[bench] could not drop {url}: {error}", file=sys.stderr, flush=True)
