"""A real server process (``python -m service serve``) for tests whose claim is about the process: its
memory, its signals, its behaviour towards raw or hostile clients.

``ServerProcess`` picks a free port, writes the child's stderr to a log file in the test's tmp dir, and is
always ended (SIGKILL if SIGTERM does not do it) when the ``with`` block exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def memory_kb(pid: int, field: str = "VmRSS") -> int:
    """A /proc/PID/status figure in kB: VmRSS (now) or VmHWM (peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


async def wait_serving(
    address: str, deadline_s: float = 30, check: Callable[[], None] = lambda: None
) -> None:
    """Wait until health at ``address`` says SERVING; ``check`` runs before each try (it may fail)."""
    deadline = time.monotonic() + deadline_s
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            check()
            try:
                response = await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if response.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            assert time.monotonic() < deadline, f"{address} never became SERVING"
            await asyncio.sleep(0.05)


def server_module(env: dict[str, str]) -> str:
    """``service``, or the same server with injected Redis faults when ``env`` asks for them."""
    from tests.faulty_server import FAULT_VARIABLES

    return "tests.faulty_server" if any(env.get(v) for v in FAULT_VARIABLES) else "service"


class ServerProcess:
    """``with ServerProcess(tmp, database_url, WELLSPRING_X="1") as server: await server.serving()``."""

    def __init__(
        self,
        tmp: Path,
        database_url: str,
        *,
        name: str = "server",
        args: tuple[str, ...] = (),
        **env: str,
    ) -> None:
        self.args = args  # after ``serve``, e.g. ("--seed-demo",)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log_path = tmp / f"{name}-{self.port}.log"
        self.env = {
            **os.environ,
            "WELLSPRING_ADDR": self.address,
            "WELLSPRING_DATABASE_URL": database_url,
            "WELLSPRING_ACCESS_LOG": "0",
            # The drain is for load balancers; it would add a second to every stop. Tests of it set it.
            "WELLSPRING_SHUTDOWN_DRAIN_S": "0",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ServerProcess:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", server_module(self.env), "serve", *self.args],
                env=self.env,
                cwd=ROOT,
                stderr=log,
            )

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def rss_kb(self) -> int:
        return memory_kb(self.pid, "VmRSS")

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    async def exit_code(self, timeout_s: float = 30) -> int:
        assert self.proc is not None
        return await asyncio.to_thread(self.proc.wait, timeout_s)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    async def serving(self, deadline_s: float = 30) -> None:
        """Wait until health says SERVING (fails if the process dies first)."""

        def alive() -> None:
            assert self.proc is not None and self.proc.poll() is None, self.log_text()[-4000:]

        await wait_serving(self.address, deadline_s, alive)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines the service logged (gRPC's C core may add plain-text lines of its own)."""
        return [json.loads(line) for line in self.log_text().splitlines() if line.startswith("{")]
