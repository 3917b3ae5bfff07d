"""Every line a server process writes to stderr is one JSON object, gRPC's C core's own lines included
(service/stderr_relay.py): a TLS handshake that fails, a port that cannot be bound. Real processes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc
import trustme
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc as rpc

from service.stderr_relay import record_of
from tests.conftest import sqlite_url_for
from tests.e2e.process import ROOT, ServerProcess, wait_serving

# Core logs a failed handshake at INFO, which is shown unless GRPC_VERBOSITY says otherwise; scripts/rpc.py,
# imported by other tests, sets it to ERROR in this process's environment, which the children inherit.
_VERBOSE = {"GRPC_VERBOSITY": "INFO"}


def _parsed(text: str) -> list[dict[str, Any]]:
    """Each line as JSON; fails naming the first line that is not."""
    lines = []
    for line in text.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    return lines


def _tls_files(tmp: Path) -> tuple[Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


async def _until_logged(
    server: ServerProcess, logger: str, timeout_s: float = 10, about: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """The lines ``logger`` wrote, once one is there (one mentioning any of ``about``, when given: the C
    core may log its own start-up warnings first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [x for x in server.log_lines() if x["logger"] == logger]
        if found and (not about or any(w in x["message"].lower() for x in found for w in about)):
            return found
        assert time.monotonic() < deadline, f"nothing logged by {logger}:\n{server.log_text()[-2000:]}"
        await asyncio.sleep(0.05)


async def test_tls_handshake_errors_are_json_lines(tmp_path: Path) -> None:
    cert_file, key_file = _tls_files(tmp_path)
    env = {"WELLSPRING_TLS_CERT_FILE": str(cert_file), "WELLSPRING_TLS_KEY_FILE": str(key_file), **_VERBOSE}
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as server:
        credentials = grpc.ssl_channel_credentials(cert_file.read_bytes())
        async with grpc.aio.secure_channel(server.address, credentials) as channel:
            await channel.channel_ready()
        with socket.create_connection(("127.0.0.1", server.port)) as raw:  # not TLS at all
            raw.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00" * 64)
            raw.recv(1024)
        async with grpc.aio.insecure_channel(server.address) as plaintext:  # a client that forgot --tls
            try:
                await rpc.UserServiceStub(plaintext).GetUser(api.GetUserRequest(id="x"), timeout=2)
            except grpc.aio.AioRpcError:
                pass
        core = await _until_logged(server, "grpc.core", about=("handshake", "ssl"))
        server.stop()
    lines = _parsed(server.log_text())
    assert any("handshake" in x["message"].lower() or "ssl" in x["message"].lower() for x in core), core
    assert {x["level"] for x in core} <= {"INFO", "WARNING", "ERROR"} and all(x["source"] for x in core)
    assert any(x["message"].startswith("serving on") for x in lines)


def test_a_bind_failure_is_json_but_the_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {
            **os.environ,
            "WELLSPRING_ADDR": f"127.0.0.1:{taken.getsockname()[1]}",
            "WELLSPRING_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
        result = subprocess.run(
            [sys.executable, "-m", "service", "serve"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    # The operator's one line (main() prints it plainly, by design); everything else is JSON.
    plain = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(plain) == 1 and "cannot listen on" in plain[0], result.stderr
    core = [
        x
        for x in _parsed("\n".join(set(result.stderr.splitlines()) - set(plain)))
        if x["logger"] == "grpc.core"
    ]
    assert any("Failed to add port" in x["message"] and x["level"] == "ERROR" for x in core), result.stderr


async def test_a_burst_of_handshake_failures_is_relayed_in_full(tmp_path: Path) -> None:
    """Twenty failed handshakes, then SIGTERM at once: each one is a JSON line by the time the process
    has exited. (Lines still in the pipe at exit are drained by logging's shutdown: the bind-failure test
    above, whose process exits right after core's line, fails without that.)"""
    cert_file, key_file = _tls_files(tmp_path)
    env = {"WELLSPRING_TLS_CERT_FILE": str(cert_file), "WELLSPRING_TLS_KEY_FILE": str(key_file), **_VERBOSE}
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as server:
        credentials = grpc.ssl_channel_credentials(cert_file.read_bytes())
        async with grpc.aio.secure_channel(server.address, credentials) as channel:
            await channel.channel_ready()
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", server.port)) as raw:
                raw.sendall(b"\x16\x03\x01\x00\x05garbage")
                raw.recv(1024)
        server.signal()
        assert await server.exit_code() == 0
    lines = _parsed(server.log_text())
    # Not necessarily the last line: core's lines still in the pipe are written by the exit drain.
    assert "stopped" in [x["message"] for x in lines]
    assert len([x for x in lines if x["logger"] == "grpc.core"]) >= 20, server.log_text()[-3000:]


# The service's logging set-up; then the relay thread is held (it waits for the JSON handler's lock on its
# first line) while fd 2 is flooded, as core would under GRPC_TRACE; then a traceback at exit.
_FLOOD = """
import logging, os, sys
from service.__main__ import _logging
_logging("INFO")
json_handler = logging.getLogger().handlers[0]
json_handler.acquire()
written, refused = 0, False
try:
    while written < 4 * 2**20:
        written += os.write(2, b"core line " + b"x" * 990 + b"\\n")
except BlockingIOError:
    refused = True
print(f"flood: {written} {refused}", file=sys.stderr)
sys.stderr.write("y" * 200_000 + "\\n")
json_handler.release()
raise RuntimeError("boom at exit")
"""


def test_a_flood_on_fd_2_drops_lines_instead_of_blocking_the_writer() -> None:
    """Core's writes to a full pipe fail (EAGAIN) instead of blocking its thread (before, this child hung
    in os.write); Python's own writes to stderr, 200 kB at once included, and the traceback of an
    exception at exit still arrive."""
    command = [sys.executable, "-c", _FLOOD]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert result.returncode == 1, result.stderr[-2000:]
    plain = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(plain) == 2 and plain[1] == "y" * 200_000, plain[:1]
    written, refused = plain[0].split()[1:]
    assert refused == "True" and 32 * 1024 <= int(written) <= 1024 * 1024, plain[0]
    lines = _parsed("\n".join(line for line in result.stderr.splitlines() if line.startswith("{")))
    relayed = [x for x in lines if x["logger"] == "stderr" and x["message"].startswith("core line")]
    assert 0 < len(relayed) <= int(written) // 1000, len(relayed)  # what the pipe held, no more
    uncaught = [x for x in lines if x["message"] == "uncaught RuntimeError"]
    assert uncaught and "boom at exit" in uncaught[0]["exception"], result.stderr[-2000:]


def test_absl_lines_become_records_with_their_level_and_source() -> None:
    record = record_of("W1202 03:55:29.592814   31425 ssl_transport_security.cc:1853] Handshake failed")
    assert (record.name, record.levelname, record.getMessage()) == (
        "grpc.core",
        "WARNING",
        "Handshake failed",
    )
    assert record.fields == {"source": "ssl_transport_security.cc:1853"}  # type: ignore[attr-defined]
    other = record_of("something else entirely")
    assert (other.name, other.levelname, other.getMessage()) == ("stderr", "ERROR", "something else entirely")


async def test_the_serving_process_log_is_all_json(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path)) as server:
        await wait_serving(server.address)
    assert _parsed(server.log_text())
