"""Import figures beyond the clean bulk rate (bench/streaming.py runs them on each streaming server).

* ``import_mixed_items_per_s``: ImportUsers of fresh users of which 7.5 % are bad, all items / wall time of
  the call, median over two calls. One item in 40 repeats the email of a user already stored, one in 40 the
  same in other letter case (emails are unique case-insensitively), and one in 40 the email of the item just
  before it in the same message (a duplicate inside one chunk). Every bad item must come back by index as
  ALREADY_EXISTS and every good one must be created, or the bench fails: a server that dropped good items
  with the bad would flatter the rate.
* ``import_get_p99_ms``: the 99th-percentile latency of GetUser (one stored user, one call every 5 ms, on a
  channel and thread of their own) while the 50,000-user seed ImportUsers runs; the same probe's p50/p99
  with no import running come with it as context.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TypeVar

import grpc
from wellspring.v1 import resources_pb2, user_service_pb2

from bench import client as c
from bench.server import BenchError

BAD_EVERY = 40  # three bad items in each run of 40: 7.5 %
TABLE_DUPLICATE, CASE_DUPLICATE, CHUNK_DUPLICATE = 3, 13, 23  # positions in the run of 40
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS.value[0]
PROBE_INTERVAL_S = 0.005
IDLE_PROBES = 200
T = TypeVar("T")


def mixed_requests(
    batch: str, users: int, per_message: int, stored_emails: list[str]
) -> tuple[list[user_service_pb2.ImportUsersRequest], list[int]]:
    """Fresh users with 7.5 % bad ones mixed in (see the module docstring), and the indexes of the bad."""
    people, bad = [], []
    for i in range(users):
        email = f"mixed{i}.{batch}@bench.example"
        position = i % BAD_EVERY
        if position == TABLE_DUPLICATE:
            email = stored_emails[i % len(stored_emails)]
        elif position == CASE_DUPLICATE:
            email = stored_emails[i % len(stored_emails)].upper()
        elif position == CHUNK_DUPLICATE:  # never the first of a message: the item before is in it too
            email = people[-1].email
        if position in (TABLE_DUPLICATE, CASE_DUPLICATE, CHUNK_DUPLICATE):
            bad.append(i)
        people.append(
            resources_pb2.User(
                id=f"mixed-{batch}-{i:06d}",
                email=email,
                display_name=f"Mixed User {i:06d}",
                bio=f"Imported by the benchmark with bad items mixed in; user {i} of batch {batch}. " * 2,
            )
        )
    requests = [
        user_service_pb2.ImportUsersRequest(users=people[i : i + per_message])
        for i in range(0, users, per_message)
    ]
    return requests, bad


def mixed_import_call(
    client: c.Client, requests: list[user_service_pb2.ImportUsersRequest], bad: list[int], timeout_s: float
) -> float:
    """One ImportUsers stream with bad items; its wall time. The reply must name exactly the bad items."""
    expected = sum(len(r.users) for r in requests)
    started = time.perf_counter()
    reply = client.users.ImportUsers(iter(requests), timeout=timeout_s)
    seconds = time.perf_counter() - started
    reported = [e.index for e in reply.errors]
    codes = {e.code for e in reply.errors}
    if (
        reply.created_count != expected - len(bad)
        or reply.failed_count != len(bad)
        or reported != bad[: len(reported)]
        or len(reported) != min(len(bad), 1000)
        or codes != {ALREADY_EXISTS}
    ):
        raise BenchError(
            f"ImportUsers with {len(bad)} bad of {expected}: created {reply.created_count}, failed "
            f"{reply.failed_count}, first errors {list(reply.errors)[:3]}"
        )
    return seconds


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1..99), NaN with fewer than two values."""
    if len(values) < 2:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


@dataclass
class GetLatency:
    """Milliseconds per GetUser of the probe, with no import running and during one."""

    idle_ms: list[float] = field(default_factory=list)
    busy_ms: list[float] = field(default_factory=list)

    @property
    def p99(self) -> float:
        return percentile(self.busy_ms, 99)


class GetProbe:
    """``with GetProbe(address, user_id) as probe: ...``: GetUser every ``interval_s`` on a channel and
    thread of its own, recording each call's latency in ``latencies_ms`` until the block ends. Calls are
    paced against a schedule (a slow one is not followed by a burst), so the probe adds a steady, light
    load rather than competing with the import for the server's CPU."""

    def __init__(self, address: str, user_id: str, interval_s: float = PROBE_INTERVAL_S) -> None:
        self.latencies_ms: list[float] = []
        self._client = c.connect(address)
        self._request = user_service_pb2.GetUserRequest(id=user_id)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="get-probe", daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> GetProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=c.CALL_TIMEOUT_S + 5)
        self.close()

    def calls(self, count: int) -> list[float]:
        """Run ``count`` paced calls in the calling thread instead (no import running); their latencies."""
        self._run(count)
        self.close()
        return self.latencies_ms

    def close(self) -> None:
        self._client.close()
        if self.error is not None:
            raise BenchError(f"GetUser probe failed: {self.error}")

    def _run(self, count: int | None = None) -> None:
        get = self._client.users.GetUser
        next_at = time.perf_counter()
        try:
            while not self._stop.is_set() and (count is None or len(self.latencies_ms) < count):
                started = time.perf_counter()
                get(self._request, timeout=c.CALL_TIMEOUT_S)
                self.latencies_ms.append((time.perf_counter() - started) * 1000)
                next_at = max(next_at + self._interval_s, time.perf_counter())
                self._stop.wait(max(0.0, next_at - time.perf_counter()))  # pacing, not synchronisation
        except grpc.RpcError as error:
            self.error = error


def get_latency_during(address: str, user_id: str, work: Callable[[], T]) -> tuple[GetLatency, T]:
    """The probe's latencies with nothing else running, then while ``work`` runs; and what it returned."""
    idle_ms = GetProbe(address, user_id).calls(IDLE_PROBES)
    with GetProbe(address, user_id) as busy:
        outcome = work()
    return GetLatency(idle_ms, busy.latencies_ms), outcome


def probe_user(client: c.Client) -> str:
    """A stored user for the probe to read (created before the seed, so it exists throughout)."""
    user = resources_pb2.User(email="probe@bench.example", display_name="Latency Probe")
    request = user_service_pb2.CreateUserRequest(user=user, user_id="bench-latency-probe")
    return client.users.CreateUser(request, timeout=c.CALL_TIMEOUT_S).id
