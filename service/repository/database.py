"""Engines and units of work.

Two drivers, one repository code path (repositories ``await executor.execute(stmt)``):

* SQLite (the embedded default) runs *inline on the event loop* through the stdlib ``sqlite3`` driver.
  A point select costs ~20-60 µs that way, against ~1.3 ms through aiosqlite, whose thread hop dominates.
  Writes are serialised by an ``asyncio.Lock`` (SQLite has one writer anyway) and take the file lock up
  front with ``BEGIN IMMEDIATE``; reads use their own autocommit connection, so each statement sees
  committed data and never waits for a writer (WAL).
* PostgreSQL runs through SQLAlchemy's asyncio engine over asyncpg.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from service.domain.errors import ConcurrencyConflict, Unavailable
from service.repository.change_log import CHANNEL, SqlChangeLog
from service.repository.idempotency import SqlIdempotencyStore
from service.repository.outbox import SqlOutbox
from service.repository.posts import SqlPostRepository
from service.repository.sql import ConstraintError, Executor
from service.repository.users import SqlUserRepository

log = logging.getLogger("wellspring.database")

_BULK_THREADS = 2
_MAX_SNAPSHOTS = 16  # concurrent Exports on SQLite, each holding one connection
_SQLITE_SIGNAL_POLL_S = 0.01
_savepoints = itertools.count()
_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, OSError, TimeoutError)


# deadlock_detected, serialization_failure, lock_not_available, SQLite's "database is locked" is below
_CONFLICT_STATES = {"40P01", "40001", "55P03"}


def _translate(error: Exception) -> Exception:
    if isinstance(error, sa_exc.IntegrityError):
        return ConstraintError(str(error.orig))
    if isinstance(error, sa_exc.DBAPIError) and getattr(error.orig, "sqlstate", None) in _CONFLICT_STATES:
        return ConcurrencyConflict()
    if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
        return Unavailable()
    if isinstance(error, _UNAVAILABLE):
        return Unavailable()
    return error


class _SyncExecutor(Executor):
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(
        self, stmt: Any, params: Mapping[str, Any] | list[Mapping[str, Any]] | None = None
    ) -> Any:
        try:
            return self._conn.execute(stmt, params)
        except Exception as error:  # translated for the domain; the original stays as __cause__
            raise _translate(error) from error


class _ThreadExecutor(Executor):
    """Runs statements on worker threads with their own connections (sqlite3 releases the GIL while a
    query runs): List queries, which may scan many rows, never stall the event loop."""

    __slots__ = ("_engine", "_local", "_pool")

    def __init__(self, engine: sa.Engine, pool: ThreadPoolExecutor) -> None:
        self._engine = engine
        self._pool = pool
        self._local = threading.local()

    def _run(self, stmt: Any, params: Any) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return conn.execute(stmt, params).freeze()()  # buffered: the cursor is done before we return

    async def execute(
        self, stmt: Any, params: Mapping[str, Any] | list[Mapping[str, Any]] | None = None
    ) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._run, stmt, params)
        except Exception as error:
            raise _translate(error) from error


class _PinnedExecutor(Executor):
    """One connection, driven from one private thread (a SQLite snapshot: a read transaction that must
    stay on its connection, whose queries must not stall the event loop)."""

    __slots__ = ("_conn", "_thread")

    def __init__(self, conn: Connection, thread: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._thread = thread

    async def execute(
        self, stmt: Any, params: Mapping[str, Any] | list[Mapping[str, Any]] | None = None
    ) -> Any:
        def run() -> Any:
            return self._conn.execute(stmt, params).freeze()()

        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, run)
        except Exception as error:
            raise _translate(error) from error


class _AsyncExecutor(Executor):
    __slots__ = ("_conn",)

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def execute(
        self, stmt: Any, params: Mapping[str, Any] | list[Mapping[str, Any]] | None = None
    ) -> Any:
        try:
            return await self._conn.execute(stmt, params)
        except Exception as error:
            raise _translate(error) from error


class SqlUnitOfWork:
    """Repositories over one connection; ``commit`` is supplied by the database that opened it."""

    def __init__(self, executor: Executor, commit: Any = None, *, dialect: str = "sqlite") -> None:
        self.users = SqlUserRepository(executor)
        self.posts = SqlPostRepository(executor)
        self.idempotency = SqlIdempotencyStore(executor)
        self.outbox = SqlOutbox(executor)
        self.changes = SqlChangeLog(executor, dialect)
        self._commit = commit
        self._ex = executor
        self.committed = False

    @asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        name = f"ws_sp_{next(_savepoints)}"
        await self._ex.execute(sa.text(f"SAVEPOINT {name}"))
        try:
            yield
        except BaseException:
            await self._ex.execute(sa.text(f"ROLLBACK TO SAVEPOINT {name}"))
            await self._ex.execute(sa.text(f"RELEASE SAVEPOINT {name}"))
            raise
        await self._ex.execute(sa.text(f"RELEASE SAVEPOINT {name}"))

    async def commit(self) -> None:
        if self._commit is None:
            raise RuntimeError("a read-only unit of work cannot commit")
        await self._commit()
        self.committed = True


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


class SqliteDatabase:
    """SQLite driven inline on the event loop: one reader connection, one writer connection."""

    def __init__(self, url: str) -> None:
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=2 + _BULK_THREADS,
            max_overflow=_MAX_SNAPSHOTS,
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self._reader = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._writer = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self._read_uow = SqlUnitOfWork(_SyncExecutor(self._reader))
        self._bulk_pool = ThreadPoolExecutor(_BULK_THREADS, thread_name_prefix="sqlite-bulk")
        self._bulk_uow = SqlUnitOfWork(_ThreadExecutor(self.engine, self._bulk_pool))
        self._write_lock = asyncio.Lock()

    @asynccontextmanager
    async def reading(self, *, bulk: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        """Point reads run inline (tens of µs); ``bulk`` reads (List) run on a worker thread."""
        yield self._bulk_uow if bulk else self._read_uow

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[SqlUnitOfWork]:
        async with self._write_lock:
            writer = self._writer
            try:
                writer.exec_driver_sql("BEGIN IMMEDIATE")
            except Exception as error:
                raise _translate(error) from error

            async def commit() -> None:
                try:
                    writer.exec_driver_sql("COMMIT")
                except Exception as error:
                    raise _translate(error) from error

            uow = SqlUnitOfWork(_SyncExecutor(writer), commit)
            try:
                yield uow
            finally:
                if not uow.committed:
                    writer.exec_driver_sql("ROLLBACK")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqlUnitOfWork]:
        """A deferred read transaction on its own connection and thread: WAL keeps the snapshot that
        its first statement sees until it ends, while writers go on."""
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-snapshot")
        loop = asyncio.get_running_loop()

        def begin() -> Connection:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN")
            return conn

        def end(conn: Connection) -> None:
            try:
                conn.exec_driver_sql("ROLLBACK")
            finally:
                conn.close()

        try:
            conn = await loop.run_in_executor(thread, begin)
        except Exception as error:
            thread.shutdown(wait=False)
            raise _translate(error) from error
        try:
            yield SqlUnitOfWork(_PinnedExecutor(conn, thread))
        finally:
            # Queued behind any statement still running on the thread (a cancelled caller does not
            # stop sqlite3 mid-statement), so the connection is never used by two threads at once.
            thread.submit(end, conn)
            thread.shutdown(wait=False)

    async def commit_signals(self, on_commit: Callable[[], None]) -> None:
        """``PRAGMA data_version`` changes when another connection (in this process or another) commits;
        reading it costs a few µs, so it is polled."""
        last = None
        while True:
            version = self._reader.exec_driver_sql("PRAGMA data_version").scalar()
            if version != last:
                last = version
                on_commit()
            await asyncio.sleep(_SQLITE_SIGNAL_POLL_S)

    async def ping(self) -> None:
        async with self.reading() as uow:
            await uow.users.get("ping")

    async def close(self) -> None:
        self._bulk_pool.shutdown(wait=True, cancel_futures=True)
        self._reader.close()
        self._writer.close()
        self.engine.dispose()


class PostgresDatabase:
    """PostgreSQL through SQLAlchemy's asyncio engine (asyncpg); reads use autocommit connections."""

    def __init__(self, url: str, *, pool_size: int = 10, pool_timeout_s: float = 5.0) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=pool_timeout_s, pool_pre_ping=False
        )
        self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def reading(self, *, bulk: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        try:
            conn = await self._read_engine.connect()
        except Exception as error:
            raise _translate(error) from error
        try:
            yield SqlUnitOfWork(_AsyncExecutor(conn), dialect="postgresql")
        finally:
            await conn.close()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[SqlUnitOfWork]:
        try:
            conn = await self.engine.connect()
            transaction = await conn.begin()
        except Exception as error:
            raise _translate(error) from error

        async def commit() -> None:
            try:
                await transaction.commit()
            except Exception as error:
                raise _translate(error) from error

        uow = SqlUnitOfWork(_AsyncExecutor(conn), commit, dialect="postgresql")
        try:
            yield uow
        finally:
            try:
                if not uow.committed and transaction.is_active:
                    await transaction.rollback()
            finally:
                await conn.close()

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqlUnitOfWork]:
        """REPEATABLE READ, READ ONLY: every statement sees the snapshot taken by the first one."""
        try:
            conn = await self.engine.connect()
        except Exception as error:
            raise _translate(error) from error
        try:
            await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            await conn.begin()
            yield SqlUnitOfWork(_AsyncExecutor(conn), dialect="postgresql")
        finally:
            await conn.close()  # rolls the transaction back

    async def commit_signals(self, on_commit: Callable[[], None]) -> None:
        """LISTEN on the channel every change-log append notifies (delivered at commit). A dropped
        listening connection is re-opened, with one signal after each (re)connect for what it missed."""
        import asyncpg

        delay = 0.1
        while True:
            try:
                await self._listen(on_commit)
                delay = 0.1
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("change-log listener lost (%s); reconnecting", type(error).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listen(self, on_commit: Callable[[], None]) -> None:
        """One listening connection, until it is lost."""
        import asyncpg

        conn = await asyncpg.connect(self._dsn, timeout=5)
        try:
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _: lost.set())
            await conn.add_listener(CHANNEL, lambda *_: on_commit())
            on_commit()
            await lost.wait()
        finally:
            if not conn.is_closed():
                conn.terminate()

    async def ping(self) -> None:
        async with self.reading() as uow:
            await uow.users.get("ping")

    async def close(self) -> None:
        await self.engine.dispose()


def async_url(url: str) -> str:
    """``postgresql://`` names asyncpg; every other URL is used as given."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def open_database(
    url: str, *, pool_size: int = 10, pool_timeout_s: float = 5.0
) -> SqliteDatabase | PostgresDatabase:
    """Build the database for a URL: ``sqlite:///path`` (inline driver) or ``postgresql://…`` (asyncpg)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.drivername != "sqlite":
            raise ValueError("SQLite is driven through the stdlib driver: use a sqlite:///path URL")
        return SqliteDatabase(url)
    if parsed.get_backend_name() == "postgresql":
        return PostgresDatabase(async_url(url), pool_size=pool_size, pool_timeout_s=pool_timeout_s)
    raise ValueError(f"unsupported database backend: {parsed.get_backend_name()}")
