"""Engines and units of work.

Two drivers, one repository code path (repositories ``await executor.execute(stmt)``):

* SQLite (the embedded default) runs *inline on the event loop* through the stdlib ``sqlite3`` driver.
  A point select costs ~20-60 µs that way, against ~1.3 ms through aiosqlite, whose thread hop dominates.
  Writes are serialised by an ``asyncio.Lock`` (SQLite has one writer anyway) and take the file lock up
  front with ``BEGIN IMMEDIATE``; reads use their own autocommit connection, so each statement sees
  committed data and never waits for a writer (WAL). Bulk work is the exception: List scans and
  Export snapshots read on worker threads, and a bulk write (an import chunk: ~10 ms of statements)
  drives the writer connection from a thread of its own, so other calls are served meanwhile.
* PostgreSQL runs through SQLAlchemy's asyncio engine over asyncpg.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from service.config import DEFAULTS
from service.domain.errors import ConcurrencyConflict, TooManyExports, Unavailable
from service.repository.change_log import CHANNEL, SqlChangeLog
from service.repository.idempotency import SqlIdempotencyStore
from service.repository.outbox import SqlOutbox
from service.repository.resources import SqlRepository
from service.repository.sql import ConstraintError, Executor, Params
from service.repository.tables import TABLES

log = logging.getLogger("wellspring.database")

_BULK_THREADS = 2
_MAX_SNAPSHOTS = 16  # pool room for SQLite snapshots (Exports), each holding one connection
# The WAL's normal size: ~1000 pages between auto-checkpoints. journal_size_limit cuts the file back to
# this whenever the WAL restarts, and a snapshot that ends with a larger WAL checkpoints it (see below).
_WAL_LIMIT_BYTES = 8 * 1024 * 1024
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


# invalid_catalog_name (no such database), invalid_authorization_specification (no such role, or
# pg_hba.conf refuses it), invalid_password, insufficient_privilege (no CONNECT right): no retry can fix
# them. A refused connection or an unknown host can: the database may still be starting, and in
# orchestrated deployments (compose, Kubernetes) its DNS name appears only once its container runs.
_PERMANENT_STATES = {"3D000", "28000", "28P01", "42501"}


class DatabaseProblem(Exception):
    """The database cannot be used, said with the driver's message and where (never the password).
    ``permanent``: retrying cannot help (a missing database or role, a bad password, an unopenable
    SQLite file, an unmigrated schema), so a starting server stops instead of retrying."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class MissingDirectory(DatabaseProblem):
    """A SQLite file's directory is missing outside the data folder, and creating it was not asked."""

    def __init__(self, directory: Path) -> None:
        super().__init__(
            f"the directory {directory} does not exist (sqlite:///x is relative to the working"
            " directory, sqlite:////x is absolute)",
            permanent=True,
        )


def describe(url: str) -> str:
    """Where a URL points, without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite at {Path(parsed.database or ':memory:').resolve()}"
    host, port = parsed.host or "localhost", parsed.port or 5432
    return f"PostgreSQL at {host}:{port}, database {parsed.database!r} as {parsed.username!r}"


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (SQLAlchemy's ``orig``) and what caused it; chains may loop."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [error]
    while stack:
        cause = stack.pop()
        if cause is None or id(cause) in seen:
            continue
        seen.add(id(cause))
        yield cause
        stack += [cause.__context__, cause.__cause__, getattr(cause, "orig", None)]


def problem(error: BaseException, url: str, *, permanent: bool = False) -> DatabaseProblem:
    """What went wrong talking to the database at ``url``, in the driver's words; ``permanent`` when
    the caller knows, else decided by the SQLSTATE (``_PERMANENT_STATES``)."""
    if isinstance(error, DatabaseProblem):
        return error
    causes = list(_causes(error))
    states = {getattr(cause, "sqlstate", None) for cause in causes}
    driver = causes[-1]  # the innermost: the driver's own error (asyncpg's, sqlite3's, the socket's)
    message = str(driver).split("\n", 1)[0] or type(driver).__name__
    if isinstance(driver, socket.gaierror):
        message = f"cannot resolve the host ({message})"
    permanent = permanent or bool(states & _PERMANENT_STATES)
    return DatabaseProblem(f"{describe(url)}: {message}", permanent=permanent)


def prepare_sqlite_path(url: str, *, create_dirs: bool = False) -> None:
    """Create a SQLite file's missing directory only inside the data folder (./var) unless asked:
    ``sqlite:///tmp/x.db`` means ./tmp/x.db, and a typo should not grow directories anywhere."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    directory = Path(database).resolve().parent
    if directory.is_dir():
        return
    if not (create_dirs or directory.is_relative_to(Path.cwd().resolve() / "var")):
        raise MissingDirectory(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        message = f"{describe(url)}: cannot create {directory}: {error}"
        raise DatabaseProblem(message, permanent=True) from None


class _Translated:
    """``with _TRANSLATED:`` turns a driver's error into the domain's (``_translate``), keeping the original
    as ``__cause__``; a class rather than a generator-based context manager: statements run inline on the
    SQLite read path, where contextlib's generator costs a few hundred ns a call."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, error: BaseException | None, trace: object) -> None:
        if isinstance(error, Exception):
            raise _translate(error) from error


_TRANSLATED = _Translated()
C = TypeVar("C", Connection, AsyncConnection)


class _OnConnection(Generic[C]):
    __slots__ = ("_conn",)
    _conn: C

    def __init__(self, conn: C) -> None:
        self._conn = conn


class _SyncExecutor(_OnConnection[Connection], Executor):
    async def execute(self, stmt: Any, params: Params = None) -> Any:
        with _TRANSLATED:
            return self._conn.execute(stmt, params)


def _in_thread(pool: ThreadPoolExecutor, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """``fn`` on one of ``pool``'s threads in the calling task's context (what ``asyncio.to_thread``
    does, on a pool of ours): the statement's span, with tracing on, is a child of the call's."""
    return asyncio.get_running_loop().run_in_executor(pool, contextvars.copy_context().run, fn, *args)


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

    async def execute(self, stmt: Any, params: Params = None) -> Any:
        with _TRANSLATED:
            return await _in_thread(self._pool, self._run, stmt, params)


class _PinnedExecutor(Executor):
    """One connection, driven from one private thread (a SQLite snapshot: a read transaction that must
    stay on its connection, whose queries must not stall the event loop)."""

    __slots__ = ("_conn", "_thread")

    def __init__(self, conn: Connection, thread: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._thread = thread

    async def execute(self, stmt: Any, params: Params = None) -> Any:
        def run() -> Any:
            return self._conn.execute(stmt, params).freeze()()

        with _TRANSLATED:
            return await _in_thread(self._thread, run)


class _WriterThreadExecutor(Executor):
    """The writer connection driven from its thread (a bulk write): rows are buffered there, and a
    statement without rows (INSERT, UPDATE, SAVEPOINT) comes back as its spent result (``rowcount``).
    Each trip to the thread costs ~0.3 ms on a busy 2-core box, so the transaction's BEGIN IMMEDIATE
    travels with its first statement and COMMIT is skipped when nothing ran."""

    __slots__ = ("_begun", "_conn", "_thread")

    def __init__(self, conn: Connection, thread: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._thread = thread
        self._begun = False

    async def execute(self, stmt: Any, params: Params = None) -> Any:
        begin, self._begun = not self._begun, True

        def run() -> Any:
            if begin:
                self._conn.exec_driver_sql("BEGIN IMMEDIATE")
            result = self._conn.execute(stmt, params)
            return result.freeze()() if result.returns_rows else result

        with _TRANSLATED:
            return await _in_thread(self._thread, run)

    async def commit(self) -> None:
        if not self._begun:
            return
        try:
            await _to_the_end(_in_thread(self._thread, self._conn.exec_driver_sql, "COMMIT"))
        except Exception as error:
            raise _translate(error) from error


class _AsyncExecutor(_OnConnection[AsyncConnection], Executor):
    async def execute(self, stmt: Any, params: Params = None) -> Any:
        with _TRANSLATED:
            return await self._conn.execute(stmt, params)


class SqlUnitOfWork:
    """Repositories over one connection; ``commit`` is supplied by the database that opened it."""

    def __init__(self, executor: Executor, commit: Any = None, *, dialect: str = "sqlite") -> None:
        self._repos: dict[str, SqlRepository[Any]] = {}
        self.idempotency = SqlIdempotencyStore(executor)
        self.outbox = SqlOutbox(executor)
        self.changes = SqlChangeLog(executor, dialect)
        self._commit = commit
        self._ex = executor
        self.committed = False

    def repo(self, collection: str) -> SqlRepository[Any]:
        repo = self._repos.get(collection)
        if repo is None:
            repo = self._repos[collection] = SqlRepository(TABLES[collection], self._ex)
        return repo

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
    pragmas = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000")
    for pragma in (*pragmas, f"journal_size_limit={_WAL_LIMIT_BYTES}"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


async def _to_the_end(future: asyncio.Future[Any]) -> Any:
    """The result of a statement running on the writer thread, waited for even if the caller is cancelled
    meanwhile (cancellation is raised once it has ended): the connection must be idle before anyone else
    may use it, and a COMMIT's outcome must be known."""
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return future.result()


def _roll_back_if_open(conn: Connection) -> None:
    """A transaction that was not committed ends here (nothing to do if it never began, or if its COMMIT
    went through and the caller was cancelled just after)."""
    if conn.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        conn.exec_driver_sql("ROLLBACK")


class _ExportSlots:
    """A bounded share of the database's connections for snapshots (Exports), whose pace is their
    clients': Get, List and writes never wait behind them, and an Export that finds no slot free is
    refused at once (RESOURCE_EXHAUSTED with a retry delay) rather than queued."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.taken = 0

    @contextmanager
    def take(self) -> Iterator[None]:
        if self.taken >= self.size:
            raise TooManyExports(self.size)
        self.taken += 1
        try:
            yield
        finally:
            self.taken -= 1


def _wal_too_large(wal: Path | None) -> bool:
    try:
        return wal is not None and wal.stat().st_size > _WAL_LIMIT_BYTES
    except OSError:
        return False


def _shrink_wal(conn: Connection, wal: Path | None) -> None:
    """After a snapshot ends (on its own thread, while the loop holds the write lock for it: TRUNCATE
    takes SQLite's write lock, and an inline writer must never block the loop waiting for it): copy the
    WAL back (PASSIVE) and truncate it. Never waits: with busy_timeout=0 a checkpoint that finds another
    reader gives up at once (journal_size_limit still cuts the file at the WAL's next restart)."""
    try:
        conn.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=5000")
        log.info("WAL checkpoint after a long snapshot: %s", "deferred (busy)" if busy else "truncated")
    except (OSError, sa_exc.DBAPIError) as error:  # best effort: the next checkpoint does it
        log.info("WAL checkpoint after a snapshot skipped: %s", error)


class SqliteDatabase:
    """SQLite driven inline on the event loop: one reader connection, one writer connection."""

    def __init__(
        self, url: str, *, export_slots: int = DEFAULTS.export_max_concurrent, create_dirs: bool = False
    ) -> None:
        database = make_url(url).database
        self._wal: Path | None = None
        prepare_sqlite_path(url, create_dirs=create_dirs)
        if database and database != ":memory:":
            self._wal = Path(database + "-wal")
        self._exports = _ExportSlots(export_slots)
        self.engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=2 + _BULK_THREADS,
            max_overflow=max(_MAX_SNAPSHOTS, export_slots),
        )
        sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            self._reader = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._writer = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except sa_exc.DBAPIError as error:  # the file cannot be opened (a directory, no permission)
            self.engine.dispose()
            raise problem(error, url, permanent=True) from None
        self._read_uow = SqlUnitOfWork(_SyncExecutor(self._reader))
        self._bulk_pool = ThreadPoolExecutor(_BULK_THREADS, thread_name_prefix="sqlite-bulk")
        self._bulk_uow = SqlUnitOfWork(_ThreadExecutor(self.engine, self._bulk_pool))
        self._write_lock = asyncio.Lock()
        # Bulk writes drive the one writer connection from this thread (under the write lock).
        self._write_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")
        self._background: set[asyncio.Task[None]] = set()  # WAL checkpoints after long snapshots

    @asynccontextmanager
    async def reading(self, *, bulk: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        """Point reads run inline (tens of µs); ``bulk`` reads (List) run on a worker thread."""
        yield self._bulk_uow if bulk else self._read_uow

    @asynccontextmanager
    async def writing(self, *, bulk: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        """Short writes run inline (tens of µs); ``bulk`` ones (an import chunk) on the writer's thread."""
        if bulk:
            async with self._bulk_writing() as uow:
                yield uow
            return
        async with self._write_lock:
            writer = self._writer
            with _TRANSLATED:
                writer.exec_driver_sql("BEGIN IMMEDIATE")

            async def commit() -> None:
                with _TRANSLATED:
                    writer.exec_driver_sql("COMMIT")

            uow = SqlUnitOfWork(_SyncExecutor(writer), commit)
            try:
                yield uow
            finally:
                if not uow.committed:
                    writer.exec_driver_sql("ROLLBACK")

    @asynccontextmanager
    async def _bulk_writing(self) -> AsyncIterator[SqlUnitOfWork]:
        """The writer's transaction with every statement on the writer thread: sqlite3 releases the GIL
        while a statement runs, so the event loop serves other calls meanwhile instead of waiting for a
        whole chunk. The thread runs one thing at a time, in order, and the lock is released only once it
        is idle: a caller cancelled mid-statement queues its rollback behind that statement and waits."""
        async with self._write_lock:
            writer, thread = self._writer, self._write_thread
            executor = _WriterThreadExecutor(writer, thread)
            uow = SqlUnitOfWork(executor, executor.commit)
            try:
                yield uow
            finally:
                if not uow.committed:
                    loop = asyncio.get_running_loop()
                    await _to_the_end(loop.run_in_executor(thread, _roll_back_if_open, writer))

    @property
    def open_snapshots(self) -> int:
        """Snapshots (Exports) holding a connection now."""
        return self._exports.taken

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqlUnitOfWork]:
        """A deferred read transaction on its own connection and thread: WAL keeps the snapshot that
        its first statement sees until it ends, while writers go on. At most ``export_slots`` at once."""
        with self._exports.take():
            async with self._snapshot() as uow:
                yield uow

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[SqlUnitOfWork]:
        thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-snapshot")
        wal = self._wal
        loop = asyncio.get_running_loop()

        def begin() -> Connection:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("BEGIN")
            return conn

        def end(conn: Connection) -> None:
            try:
                conn.exec_driver_sql("ROLLBACK")
            except Exception:
                conn.close()
                raise

        try:
            conn = await _in_thread(thread, begin)
        except Exception as error:
            thread.shutdown(wait=False)
            raise _translate(error) from error
        try:
            yield SqlUnitOfWork(_PinnedExecutor(conn, thread))
        finally:
            # Queued behind any statement still running on the thread (a cancelled caller does not
            # stop sqlite3 mid-statement), so the connection is never used by two threads at once.
            thread.submit(end, conn)
            if _wal_too_large(wal):  # the WAL this snapshot kept from being checkpointed
                task = loop.create_task(self._shrink_then_close(thread, conn))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            else:
                thread.submit(conn.close)
                thread.shutdown(wait=False)

    async def _shrink_then_close(self, thread: ThreadPoolExecutor, conn: Connection) -> None:
        try:
            async with self._write_lock:
                await asyncio.get_running_loop().run_in_executor(thread, _shrink_wal, conn, self._wal)
        finally:
            thread.submit(conn.close)
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
            await uow.repo("users").get("ping")

    async def schema_revision(self) -> str | None:
        """The Alembic revision the file is at (None: never migrated)."""
        return _revision(self._reader)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        self._bulk_pool.shutdown(wait=True, cancel_futures=True)
        self._write_thread.shutdown(wait=True)
        self._reader.close()
        self._writer.close()
        self.engine.dispose()


class PostgresDatabase:
    """PostgreSQL through SQLAlchemy's asyncio engine (asyncpg); reads use autocommit connections."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = DEFAULTS.db_pool_size,
        pool_timeout_s: float = DEFAULTS.db_pool_timeout_s,
        export_slots: int = DEFAULTS.export_max_concurrent,
        snapshot_idle_timeout_s: float = 60.0,
    ) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        # Snapshots take at most half of the pool's steady connections (the pool holds twice pool_size).
        self._exports = _ExportSlots(max(1, min(export_slots, pool_size)))
        self._snapshot_idle_ms = max(1, int(snapshot_idle_timeout_s * 1000))
        self.engine = create_async_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_timeout=pool_timeout_s, pool_pre_ping=False
        )
        self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def reading(self, *, bulk: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        with _TRANSLATED:
            conn = await self._read_engine.connect()
        try:
            yield SqlUnitOfWork(_AsyncExecutor(conn), dialect="postgresql")
        finally:
            await conn.close()

    @asynccontextmanager
    async def writing(self, *, bulk: bool = False) -> AsyncIterator[SqlUnitOfWork]:
        """``bulk`` changes nothing here: asyncpg awaits every statement, so the event loop never waits."""
        try:
            conn = await self.engine.connect()
            transaction = await conn.begin()
        except Exception as error:
            raise _translate(error) from error

        async def commit() -> None:
            with _TRANSLATED:
                await transaction.commit()

        uow = SqlUnitOfWork(_AsyncExecutor(conn), commit, dialect="postgresql")
        try:
            yield uow
        finally:
            try:
                if not uow.committed and transaction.is_active:
                    await transaction.rollback()
            finally:
                await conn.close()

    @property
    def open_snapshots(self) -> int:
        """Snapshots (Exports) holding a connection now."""
        return self._exports.taken

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[SqlUnitOfWork]:
        """REPEATABLE READ, READ ONLY: every statement sees the snapshot taken by the first one. At most
        ``export_slots`` at once; one left idle past ``snapshot_idle_timeout_s`` is ended by PostgreSQL
        itself (a safety net under the Export stall timeout: it pins backend_xmin, holding back VACUUM)."""
        with self._exports.take():
            with _TRANSLATED:
                conn = await self.engine.connect()
            try:
                await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                await conn.begin()
                timeout = f"SET LOCAL idle_in_transaction_session_timeout = {self._snapshot_idle_ms}"
                await _AsyncExecutor(conn).execute(sa.text(timeout))  # SET takes no snapshot
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
            await uow.repo("users").get("ping")

    async def schema_revision(self) -> str | None:
        """The Alembic revision the database is at (None: never migrated)."""
        async with self._read_engine.connect() as conn:
            return await conn.run_sync(_revision)

    async def close(self) -> None:
        await self.engine.dispose()


def _revision(conn: Connection) -> str | None:
    # Alembic's own table, read directly: its MigrationContext logs two INFO lines per use. The
    # migrations are one line of revisions, so the table holds at most one row.
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def async_url(url: str) -> str:
    """``postgresql://`` names asyncpg; every other URL is used as given."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def open_database(
    url: str,
    *,
    pool_size: int = DEFAULTS.db_pool_size,
    pool_timeout_s: float = DEFAULTS.db_pool_timeout_s,
    export_slots: int = DEFAULTS.export_max_concurrent,
    snapshot_idle_timeout_s: float = 60.0,
    create_dirs: bool = False,
) -> SqliteDatabase | PostgresDatabase:
    """Build the database for a URL: ``sqlite:///path`` (inline driver) or ``postgresql://…`` (asyncpg).
    A SQLite file's missing directory is created inside ./var, elsewhere only with ``create_dirs``."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.drivername != "sqlite":
            raise ValueError("SQLite is driven through the stdlib driver: use a sqlite:///path URL")
        return SqliteDatabase(url, export_slots=export_slots, create_dirs=create_dirs)
    if parsed.get_backend_name() == "postgresql":
        return PostgresDatabase(
            async_url(url),
            pool_size=pool_size,
            pool_timeout_s=pool_timeout_s,
            export_slots=export_slots,
            snapshot_idle_timeout_s=snapshot_idle_timeout_s,
        )
    raise ValueError(f"unsupported database backend: {parsed.get_backend_name()}")
