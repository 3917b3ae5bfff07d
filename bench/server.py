"""The server under test: a real ``python -m service serve`` process on a free loopback port.

A subprocess rather than an in-process server so the client (and h2load) never share the server's GIL or event
loop, and so the production entry point, logging and shutdown path are what gets measured.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0
START_ATTEMPTS = 3
ACCESS_LOGGER = "wellspring.access"


class BenchError(RuntimeError):
    """The benchmark cannot produce trustworthy figures; the message says why."""


def free_port() -> int:
    """A port the kernel just handed out; the CLI cannot listen on port 0 and report it back."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all threads) from /proc; utime and stime come after ``(comm)``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Backend:
    """Where a server keeps its data: a database and, for the shared cache tier, a Redis.

    Without ``redis_url`` an embedded (SQLite) server uses its in-process cache store; a server on a shared
    database is migrated beforehand (``python -m service migrate``), as in production.
    """

    database_url: str
    redis_url: str | None = None
    migrate_on_start: bool = True


def clean_env() -> dict[str, str]:
    """The caller's environment without any WELLSPRING_* setting, so only what the bench sets applies."""
    return {k: v for k, v in os.environ.items() if not k.startswith("WELLSPRING_")}


def server_env(addr: str, backend: Backend) -> dict[str, str]:
    """Production settings (access log on) with every knob that changes the hot path pinned explicitly."""
    env = clean_env()
    env.update(
        WELLSPRING_ADDR=addr,
        WELLSPRING_DATABASE_URL=backend.database_url,
        WELLSPRING_ACCESS_LOG="1",
        WELLSPRING_LOG_LEVEL="INFO",
        WELLSPRING_MIGRATE_ON_START="1" if backend.migrate_on_start else "0",
    )
    if backend.redis_url is not None:
        env["WELLSPRING_REDIS_URL"] = backend.redis_url
    return env


def sqlite_backend(workdir: Path) -> Backend:
    """The embedded default: a fresh SQLite file in the work dir, migrated by the server itself."""
    return Backend(f"sqlite:///{workdir / 'wellspring.sqlite3'}")


@dataclass
class ServerProcess:
    """A started server: its process, its loopback address and the file its stderr (the logs) goes to."""

    proc: subprocess.Popen[bytes]
    address: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        """The last log lines, for error messages: why a server died is usually in them."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> int:
        """SIGTERM, as an orchestrator would, then wait; returns the exit status (killed after a timeout)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise BenchError(f"server did not exit within {STOP_TIMEOUT_S:.0f}s of SIGTERM; killed") from None


def _health_status(address: str, timeout_s: float) -> int | None:
    """One health Check on a fresh channel; None while the server is not answering yet."""
    with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
        except grpc.RpcError:
            return None
        return int(reply.status)


def wait_serving(server: ServerProcess, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Poll health until SERVING; fail fast if the process dies. Returns seconds waited."""
    started = time.monotonic()
    deadline = started + timeout_s
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise BenchError(
                f"server exited with {server.proc.returncode} before serving:\n{server.log_tail()}"
            )
        remaining = max(0.05, min(1.0, deadline - time.monotonic()))
        if _health_status(server.address, remaining) == health_pb2.HealthCheckResponse.SERVING:
            return time.monotonic() - started
        time.sleep(0.05)  # between polls only; readiness is decided by the health answer
    raise BenchError(f"server not SERVING after {timeout_s:.0f}s:\n{server.log_tail()}")


def _spawn(workdir: Path, attempt: int, backend: Backend, name: str) -> ServerProcess:
    address = f"127.0.0.1:{free_port()}"
    log_path = workdir / f"{name}-{attempt}.log"
    with log_path.open("wb") as log_file:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "service", "serve"],
            cwd=REPO_ROOT,
            env=server_env(address, backend),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    return ServerProcess(proc, address, log_path)


def start_server(workdir: Path, backend: Backend, name: str) -> ServerProcess:
    """Start and wait for SERVING; retried on a new port because another process may grab ours first."""
    last_error: BenchError | None = None
    for attempt in range(1, START_ATTEMPTS + 1):
        server = _spawn(workdir, attempt, backend, name)
        try:
            wait_serving(server)
            return server
        except BenchError as error:
            last_error = error
            server.stop()
    raise BenchError(f"server failed to start {START_ATTEMPTS} times; last error: {last_error}")


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
            server.stop()
        raise
    status = server.stop()
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
