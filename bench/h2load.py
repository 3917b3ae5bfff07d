"""Throughput at concurrency 64 with h2load, cross-checked against the server's access log.

h2load is a C load generator, so at 64 streams in flight the server, not the client, is the bottleneck (a
Python client would saturate one of the two cores itself). It speaks plain HTTP/2, so a gRPC unary call is a
POST of one length-prefixed message; it cannot read the grpc-status trailer, so "succeeded" from h2load only
means HTTP 200 and the access log is the authority on how many calls really returned OK.
"""

from __future__ import annotations

import itertools
import re
import shutil
import statistics
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message

from bench.server import AccessLog, BenchError, ServerProcess, cpu_seconds

H2LOAD = "/usr/bin/h2load"
CLIENTS = 4
STREAMS_PER_CLIENT = 16  # 4 x 16 = 64 calls in flight
RUN_TIMEOUT_S = 120.0

_FINISHED = re.compile(r"finished in [\d.]+\w+, ([\d.]+) req/s")
_ORDERS = tuple(itertools.permutations(range(3)))  # slot orders for A, B, B' rounds
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored"
)


@dataclass(frozen=True)
class Target:
    """One gRPC method to load: its path and a file holding the framed request body."""

    label: str
    method: str
    body: Path


@dataclass(frozen=True)
class RunResult:
    target: Target
    sent: int
    succeeded: int  # as h2load saw it: HTTP 2xx
    logged_ok: int  # as the server saw it: access-log lines with status OK
    rps: float
    server_cpu_s: float  # user + system time the server process used during the run


@dataclass
class QpsResult:
    """Per-round throughput ratios A/B and B'/B (B' = B again: the control), the runs behind them and any
    count discrepancies between h2load and the access log."""

    ratios: list[float] = field(default_factory=list)
    control_ratios: list[float] = field(default_factory=list)
    runs: list[RunResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def control(self) -> float:
        return statistics.median(self.control_ratios)

    def median_rps(self, label: str) -> float:
        return statistics.median(r.rps for r in self.runs if r.target.label == label)

    def cpu_us_per_call(self, label: str) -> float:
        """Server CPU per call: unlike calls/s it barely moves when other load steals the machine's cores."""
        runs = [r for r in self.runs if r.target.label == label]
        return sum(r.server_cpu_s for r in runs) / sum(r.logged_ok for r in runs) * 1e6


def require_h2load() -> str:
    if not Path(H2LOAD).exists() and shutil.which("h2load") is None:
        raise BenchError("h2load not found: install the Debian package nghttp2-client")
    return H2LOAD if Path(H2LOAD).exists() else str(shutil.which("h2load"))


def write_body(path: Path, request: Message) -> Path:
    """gRPC length-prefixed message: 1 flag byte (0 = uncompressed), 4-byte big-endian length, payload."""
    payload = request.SerializeToString()
    path.write_bytes(b"\x00" + struct.pack(">I", len(payload)) + payload)
    return path


def parse_output(text: str) -> tuple[int, int, float]:
    """(total, succeeded, req/s) from h2load's summary; anything unexpected is an error, not a zero."""
    finished = _FINISHED.search(text)
    requests = _REQUESTS.search(text)
    if finished is None or requests is None:
        raise BenchError(f"cannot parse h2load output:\n{text[-2000:]}")
    return int(requests.group(1)), int(requests.group(4)), float(finished.group(1))


def run_h2load(address: str, target: Target, requests: int) -> tuple[int, int, float]:
    """One h2load run over h2c (HTTP/2 prior knowledge on http://)."""
    command = [
        require_h2load(),
        f"-n{requests}",
        f"-c{CLIENTS}",
        f"-m{STREAMS_PER_CLIENT}",
        "-H", "content-type: application/grpc",
        "-H", "te: trailers",
        "-d", str(target.body),
        f"http://{address}{target.method}",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False)
    if done.returncode != 0:
        raise BenchError(
            f"h2load exited with {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    return parse_output(done.stdout)


def verified_run(
    server: ServerProcess, log: AccessLog, target: Target, requests: int, notes: list[str]
) -> RunResult:
    """Run h2load and count the server's OK access-log lines for this method during the run."""
    log.take()  # discard whatever was logged before this run
    cpu_before = cpu_seconds(server.pid)
    total, succeeded, rps = run_h2load(server.address, target, requests)
    server_cpu_s = cpu_seconds(server.pid) - cpu_before
    counts = log.wait_for(target.method, requests)
    logged_ok = counts[target.method, "OK"]
    others = {
        status: n for (method, status), n in counts.items() if method == target.method and status != "OK"
    }
    if logged_ok < requests:
        raise BenchError(
            f"h2load {target.label}: sent {requests}, h2load says {succeeded} succeeded, "
            f"but the server logged only {logged_ok} OK (other statuses: {others or 'none'}); "
            "the throughput figure would be wrong"
        )
    if logged_ok != succeeded or total != requests:
        notes.append(
            f"h2load {target.label}: sent {requests}, h2load total {total} / succeeded {succeeded}, "
            f"server logged {logged_ok} OK"
        )
    return RunResult(target, requests, succeeded, logged_ok, rps, server_cpu_s)


def measure_qps_ratio(
    server: ServerProcess, log: AccessLog, a: Target, b: Target, *, rounds: int, requests: int, warm_up: int
) -> QpsResult:
    """Rounds of three runs, A, B and B again, in every order in turn (so each slot sees each position).

    Each round gives rps(A)/rps(B) and, as a control on this method itself, rps(B')/rps(B); the figures are
    the medians over rounds. Short runs in many rounds cancel drift better than a few long runs.
    """
    result = QpsResult()
    for target in (a, b):
        verified_run(server, log, target, warm_up, result.notes)
    slots = (a, b, b)
    for i in range(rounds):
        rps = [0.0, 0.0, 0.0]
        for slot in _ORDERS[i % len(_ORDERS)]:
            run = verified_run(server, log, slots[slot], requests, result.notes)
            result.runs.append(run)
            rps[slot] = run.rps
        result.ratios.append(rps[0] / rps[1])
        result.control_ratios.append(rps[2] / rps[1])
    return result
