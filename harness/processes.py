"""``ServerProcess`` and ``RedisServer``: child processes on free loopback ports, always ended."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal as signals
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
SERVING = health_pb2.HealthCheckResponse.SERVING


class HarnessError(RuntimeError):
    """A process could not be started or did not become ready; the message says why (with its log)."""


def terminate(proc: subprocess.Popen[bytes], timeout_s: float = 10) -> int | None:
    """SIGTERM and wait; SIGKILL after ``timeout_s``. The exit status, or None when it had to be killed."""
    if proc.poll() is None:
        proc.terminate()
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


def free_port() -> int:
    """A port the kernel just handed out (the server cannot listen on port 0 and report it back)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A /proc/PID/status figure in kB: VmRSS (now) or VmHWM (peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise HarnessError(f"no {field} for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all threads) from /proc; utime and stime come after ``(comm)``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """``python -m {module} serve {args}`` on a free port, its stdout and stderr in ``log_path``.

    ``env`` is added to ``base_env`` (default: this process's environment) after ``WELLSPRING_ADDR``, so it
    may override anything. As a context manager it starts the process and stops it at the end.
    """

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str],
        *,
        module: str = "service",
        args: tuple[str, ...] = (),
        name: str = "server",
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        self.module = module
        self.args = args
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = workdir / f"{name}-{self.port}.log"
        self.env = {**(os.environ if base_env is None else base_env), "WELLSPRING_ADDR": self.address, **env}
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve", *self.args],
                env=self.env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int = signals.SIGTERM) -> None:
        assert self.proc is not None, "not started"
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float = 30) -> int:
        """The exit status, waiting at most ``timeout_s`` (subprocess.TimeoutExpired after that)."""
        assert self.proc is not None, "not started"
        return self.proc.wait(timeout_s)

    async def exit_code(self, timeout_s: float = 30) -> int:
        return await asyncio.to_thread(self.wait, timeout_s)

    def stop(self, timeout_s: float = 20) -> int | None:
        """SIGTERM, as an orchestrator sends it, and wait; SIGKILL after ``timeout_s``. The exit status,
        or None when it had to be killed."""
        if self.proc is None:
            return None
        return terminate(self.proc, timeout_s)

    def _alive(self) -> None:
        if not self.running:
            code = None if self.proc is None else self.proc.returncode
            raise HarnessError(f"the server exited ({code}) before serving:\n{self.log_tail()}")

    def wait_serving(self, timeout_s: float = 30) -> float:
        """Block until health says SERVING (HarnessError if the process dies first or the time is up);
        the seconds it took."""
        started = time.monotonic()
        deadline = started + timeout_s
        while time.monotonic() < deadline:
            self._alive()
            with grpc.insecure_channel(self.address, options=[("grpc.enable_http_proxy", 0)]) as channel:
                try:
                    reply = health_pb2_grpc.HealthStub(channel).Check(
                        health_pb2.HealthCheckRequest(),
                        timeout=max(0.05, min(1.0, deadline - time.monotonic())),
                    )
                    if reply.status == SERVING:
                        return time.monotonic() - started
                except grpc.RpcError:
                    pass
            time.sleep(0.05)  # between polls only: readiness is the health answer
        raise HarnessError(f"{self.address} not SERVING after {timeout_s:.0f}s:\n{self.log_tail()}")

    async def serving(self, timeout_s: float = 30) -> None:
        """``wait_serving`` for async code (fails if the process dies first)."""
        await wait_serving(self.address, timeout_s, self._alive)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        """The last log lines: why a server died is usually in them."""
        return "\n".join(self.log_text().splitlines()[-lines:])

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines the service logged (gRPC's C core may add plain-text lines of its own)."""
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]


async def wait_serving(address: str, timeout_s: float = 30, check: Callable[[], None] = lambda: None) -> None:
    """Wait until health at ``address`` says SERVING; ``check`` runs before each try (it may raise)."""
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            check()
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise HarnessError(f"{address} never became SERVING within {timeout_s:.0f}s")
            await asyncio.sleep(0.05)  # between polls only: readiness is the health answer


class RedisServer:
    """``redis-server`` on a free loopback port with nothing kept on disk; it can be killed (-9), paused
    and started again on the same port."""

    READY_TIMEOUT_S = 10.0

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise HarnessError("redis-server not found: install the Debian package redis-server")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, dbfilename: str = "dump.rdb") -> None:
        """Start (again, on the same port) and wait until it answers PING."""
        import redis

        self.starts += 1
        log = self.workdir / f"redis-{self.port}-{self.starts}.log"
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        files = ["--dir", str(self.workdir), "--dbfilename", dbfilename, "--logfile", str(log)]
        self.proc = subprocess.Popen(
            [self.binary, *options, *files],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while True:
            if not self.running:
                raise HarnessError(f"redis-server exited at start; see {log}")
            try:
                redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5).ping()
                return
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"redis-server on {self.port} silent for {self.READY_TIMEOUT_S:g}s"
                    ) from None
                time.sleep(0.02)  # between pings only: readiness is the PING answer

    def kill(self) -> None:
        """SIGKILL, as in a crash: whatever uses it must notice on its own."""
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def signal(self, sig: int) -> None:
        assert self.proc is not None, "not started"
        self.proc.send_signal(sig)
