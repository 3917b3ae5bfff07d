"""The server under test: a real ``python -m service serve`` process on a free loopback port.

A subprocess rather than an in-process server so the client (and h2load) never share the server's GIL or event
loop, and so the production entry point, logging and shutdown path are what gets measured. The process is the
harness's (``harness.ServerProcess``, shared with the tests), started with only the bench's settings.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT as REPO_ROOT
from harness import HarnessError, ServerProcess, cpu_seconds, free_port

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
START_ATTEMPTS = 3
ACCESS_LOGGER = "wellspring.access"


__all__ = [
    "REPO_ROOT",
    "AccessLog",
    "Backend",
    "BenchError",
    "ServerProcess",
    "cpu_seconds",
    "free_port",
    "running_server",
]


class BenchError(RuntimeError):
    """The benchmark cannot produce trustworthy figures; the message says why."""


@dataclass(frozen=True)
class Backend:
    """Where a server keeps its data: a database and, for the shared cache tier, a Redis.

    Without ``redis_url`` an embedded (SQLite) server uses its in-process cache store; a server on a shared
    database is migrated beforehand (``python -m service migrate``), as in production.
    """

    database_url: str
    redis_url: str | None = None
    migrate_on_start: bool = True
    settings: tuple[tuple[str, str], ...] = ()  # further WELLSPRING_* settings (authentication)


def clean_env() -> dict[str, str]:
    """The caller's environment without any WELLSPRING_* or OTEL_* setting, so only what the bench sets
    applies (tracing is on only where the bench turns it on)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("WELLSPRING_", "OTEL_"))}


def server_env(backend: Backend) -> dict[str, str]:
    """Production settings (access log on) with every knob that changes the hot path pinned explicitly."""
    env: dict[str, str] = {}
    env.update(
        WELLSPRING_DATABASE_URL=backend.database_url,
        WELLSPRING_ACCESS_LOG="1",
        WELLSPRING_LOG_LEVEL="INFO",
        WELLSPRING_MIGRATE_ON_START="1" if backend.migrate_on_start else "0",
    )
    if backend.redis_url is not None:
        env["WELLSPRING_REDIS_URL"] = backend.redis_url
    env.update(backend.settings)
    return env


def sqlite_backend(workdir: Path) -> Backend:
    """The embedded default: a fresh SQLite file in the work dir, migrated by the server itself."""
    return Backend(f"sqlite:///{workdir / 'wellspring.sqlite3'}")


def start_server(workdir: Path, backend: Backend, name: str) -> ServerProcess:
    """Start and wait for SERVING; retried on a new port because another process may grab ours first."""
    last_error: HarnessError | None = None
    for attempt in range(1, START_ATTEMPTS + 1):
        server = ServerProcess(workdir, server_env(backend), name=f"{name}-{attempt}", base_env=clean_env())
        server.start()
        try:
            server.wait_serving(READY_TIMEOUT_S)
            return server
        except HarnessError as error:
            last_error = error
            server.stop(STOP_TIMEOUT_S)
    raise BenchError(f"server failed to start {START_ATTEMPTS} times; last error: {last_error}")


def stop(server: ServerProcess) -> int:
    """SIGTERM, as an orchestrator would, then wait; the exit status (BenchError if it had to be killed)."""
    status = server.stop(STOP_TIMEOUT_S)
    if status is None:
        raise BenchError(f"server did not exit within {STOP_TIMEOUT_S:.0f}s of SIGTERM; killed")
    return status


@contextmanager
def running_server(
    workdir: Path, backend: Backend | None = None, name: str = "server"
) -> Iterator[ServerProcess]:
    """A serving server for the block (on a fresh SQLite file unless ``backend`` says otherwise); afterwards
    SIGTERM and insist on exit status 0. ``name`` prefixes its log file in ``workdir``."""
    server = start_server(workdir, backend or sqlite_backend(workdir), name)
    try:
        yield server
    except BaseException:
        with suppress(BenchError):  # the original failure is the one worth reporting
            stop(server)
        raise
    status = stop(server)
    if status != 0:
        raise BenchError(
            f"server exited with status {status} after SIGTERM (expected 0):\n{server.log_tail()}"
        )


class AccessLog:
    """Reads the server's JSON access-log lines incrementally, so each load run is counted on its own."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0

    def take(self) -> Counter[tuple[str, str]]:
        """(method, status) -> calls logged since the last take; a partially written last line waits."""
        with self._path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        counts: Counter[tuple[str, str]] = Counter()
        for line in complete.splitlines():
            record = _parse(line)
            if record is not None and record.get("logger") == ACCESS_LOGGER:
                counts[str(record.get("method")), str(record.get("status"))] += 1
        return counts

    def wait_for(self, method: str, expected: int, timeout_s: float = 5.0) -> Counter[tuple[str, str]]:
        """Counts since the last take, waiting briefly until ``expected`` calls of ``method`` are logged."""
        deadline = time.monotonic() + timeout_s
        counts = self.take()
        while (
            sum(n for (m, _), n in counts.items() if m == method) < expected and time.monotonic() < deadline
        ):
            time.sleep(0.05)
            counts += self.take()
        return counts


def _parse(line: bytes) -> dict[str, object] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
