"""Streaming figures: bulk ImportUsers and ExportUsers throughput, and Watch fan-out latency.

They run on servers of their own, started once the ratio servers have stopped: an embedded one (a fresh SQLite
file, in-process cache) and one on a fresh PostgreSQL database with a redis-server of the bench's own (the
shared-database deployment, as ``make run-cluster`` runs it). Tens of thousands of users would change what
the ratio figures measure, and separate servers let ``python -m bench --only streaming`` run just this part.

On each server, in this order (each step's data set is the previous step's):

* seed: 50,000 users through one ImportUsers stream (timed, shown as context), while a GetUser probe on
  another channel measures ``import_get_p99_ms`` (see bench/streaming_imports.py);
* ``export_items_per_s`` and ``export_msgs_vs_unary``: ExportUsers of every user against paging the same
  users with ListUsers(page_size=1000), alternated for a few rounds as in bench/pairs.py (which goes first
  alternates); the ratio is the median of the per-round ratios of items per second;
* ``import_items_per_s``: ImportUsers of fresh users in messages of 500, items / wall time of the call,
  median over two calls;
* ``import_mixed_items_per_s``: the same with 7.5 % bad items (duplicate emails against the table and within
  a message), every bad item reported by index (bench/streaming_imports.py);
* ``watch_fanout_p50_ms`` / ``watch_fanout_p99_ms``: see bench/watch.py.

Items per second are absolute figures: unlike the ratios they move with the machine's speed.
"""

from __future__ import annotations

import gc
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from wellspring.v1 import resources_pb2, user_service_pb2

from bench import client as c
from bench.backing import fresh_database, redis_server
from bench.run import progress
from bench.server import Backend, BenchError, ServerProcess, running_server
from bench.streaming_imports import (
    GetLatency,
    get_latency_during,
    mixed_import_call,
    mixed_requests,
    probe_user,
)
from bench.watch import FanoutPlan, FanoutResult, measure_fanout

EXPORT = "export_items_per_s"
IMPORT = "import_items_per_s"
IMPORT_MIXED = "import_mixed_items_per_s"
IMPORT_GET_P99 = "import_get_p99_ms"
EXPORT_VS_UNARY = "export_msgs_vs_unary"
WATCH_P50 = "watch_fanout_p50_ms"
WATCH_P99 = "watch_fanout_p99_ms"
NAMES = (EXPORT, IMPORT, IMPORT_MIXED, IMPORT_GET_P99, EXPORT_VS_UNARY, WATCH_P50, WATCH_P99)
PG_PREFIX = "pg_"  # the same figures on the PostgreSQL server

STREAM_TIMEOUT_S = 60.0  # one whole Import or Export call


@dataclass(frozen=True)
class StreamSettings:
    """Sizes chosen so both servers' streaming figures take about 40 s on 2 cores."""

    seed_users: int = 50_000
    import_users: int = 20_000
    import_calls: int = 2
    mixed_users: int = 20_000
    users_per_message: int = 500
    export_rounds: int = 5  # timed, after one untimed round
    list_page_size: int = 1000
    watchers: int = 100
    watch_channels: int = 4
    watch_writes: int = 200
    write_spacing_s: float = 0.010


@dataclass
class ExportVsList:
    """Seconds per pass of each side, per round (the same ``users`` every pass), and how they were cut up."""

    users: int
    page_size: int
    export_s: list[float] = field(default_factory=list)
    list_s: list[float] = field(default_factory=list)
    export_messages: int = 0
    list_pages: int = 0

    @property
    def ratios(self) -> list[float]:
        """Export items/s over ListUsers items/s in each round: the same users, so list time / export time."""
        return [listed / exported for exported, listed in zip(self.export_s, self.list_s, strict=True)]

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def export_items_per_s(self) -> float:
        return self.users / statistics.median(self.export_s)

    @property
    def list_items_per_s(self) -> float:
        return self.users / statistics.median(self.list_s)


@dataclass
class MixedImports:
    """ImportUsers calls with bad items mixed in: items per call (good and bad), bad per call, seconds."""

    items: int
    bad: int
    seconds: list[float] = field(default_factory=list)

    @property
    def items_per_s(self) -> float:
        return self.items / statistics.median(self.seconds)


@dataclass(frozen=True)
class Deployment:
    """A server for the streaming figures and how the report names it."""

    server: ServerProcess
    title: str
    description: str
    prefix: str
    on_postgres: bool


@dataclass
class BackendFigures:
    """Everything measured on one server."""

    deployment: Deployment
    seed_users: int
    seed_messages: int
    seed_s: float
    export: ExportVsList
    import_users: int
    users_per_message: int
    import_s: list[float]
    fanout: FanoutResult
    mixed: MixedImports
    get_latency: GetLatency

    @property
    def import_items_per_s(self) -> float:
        return self.import_users / statistics.median(self.import_s)

    def figures(self) -> dict[str, float]:
        """Figure name (with the server's prefix) -> value, in report order."""
        values = {
            EXPORT: self.export.export_items_per_s,
            IMPORT: self.import_items_per_s,
            IMPORT_MIXED: self.mixed.items_per_s,
            IMPORT_GET_P99: self.get_latency.p99,
            EXPORT_VS_UNARY: self.export.ratio,
            WATCH_P50: self.fanout.p50,
            WATCH_P99: self.fanout.p99,
        }
        return {self.deployment.prefix + name: values[name] for name in NAMES}


@dataclass
class StreamingOutcome:
    backends: list[BackendFigures] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Every watcher on every server received every write exactly once."""
        return all(b.fanout.complete for b in self.backends)


@contextmanager
def sqlite_deployment(workdir: Path) -> Iterator[Deployment]:
    """The embedded default on a SQLite file of its own (the ratio server's file is left alone)."""
    backend = Backend(f"sqlite:///{workdir / 'streaming.sqlite3'}")
    with running_server(workdir, backend, name="stream-sqlite") as server:
        title = "embedded server (SQLite, in-process cache)"
        yield Deployment(server, title, "fresh SQLite file, access log on", "", on_postgres=False)


@contextmanager
def postgres_deployment(workdir: Path) -> Iterator[Deployment]:
    """A fresh PostgreSQL database (SQLite when unreachable, as for the ratio figures) and a Redis."""
    with fresh_database(workdir) as database, redis_server(workdir) as redis:
        backend = Backend(database.url, redis.url, migrate_on_start=not database.shared)
        with running_server(workdir, backend, name="stream-pg") as server:
            title = "PostgreSQL + Redis (WELLSPRING_REDIS_URL)"
            description = f"{database.description}, redis-server {redis.url}, access log on"
            yield Deployment(server, title, description, PG_PREFIX, on_postgres=database.shared)


def import_requests(batch: str, users: int, per_message: int) -> list[user_service_pb2.ImportUsersRequest]:
    """Fresh users (ids and emails unique to ``batch``), built up front so the timed call is the stream and
    not the client making protobufs."""
    people = [
        resources_pb2.User(
            id=f"stream-{batch}-{i:06d}",
            email=f"stream{i}.{batch}@bench.example",
            display_name=f"Streamed User {i:06d}",
            bio=f"Imported by the benchmark in bulk; user number {i} of batch {batch}. " * 2,
        )
        for i in range(users)
    ]
    return [
        user_service_pb2.ImportUsersRequest(users=people[i : i + per_message])
        for i in range(0, users, per_message)
    ]


def import_call(client: c.Client, requests: list[user_service_pb2.ImportUsersRequest]) -> float:
    """One ImportUsers stream; its wall time. Every item must be created: failures would flatter the rate."""
    expected = sum(len(r.users) for r in requests)
    started = time.perf_counter()
    reply = client.users.ImportUsers(iter(requests), timeout=STREAM_TIMEOUT_S)
    seconds = time.perf_counter() - started
    if reply.created_count != expected or reply.failed_count:
        raise BenchError(
            f"ImportUsers created {reply.created_count} of {expected} users, {reply.failed_count} failed: "
            f"{list(reply.errors)[:3]}"
        )
    return seconds


def seed(
    client: c.Client, address: str, settings: StreamSettings
) -> tuple[list[str], list[str], int, float, GetLatency]:
    """The data set for Export and Watch: (ids, emails, messages sent, seconds, the GetUser probe's
    latencies before and during the seed import)."""
    requests = import_requests("seed", settings.seed_users, settings.users_per_message)
    probe = probe_user(client)
    latency, seconds = get_latency_during(address, probe, lambda: import_call(client, requests))
    users = [u for r in requests for u in r.users]
    return [probe] + [u.id for u in users], [u.email for u in users], len(requests), seconds, latency


def measure_mixed_imports(client: c.Client, emails: list[str], settings: StreamSettings) -> MixedImports:
    """Seconds per ImportUsers call of fresh users with 7.5 % bad ones (each call its own batch)."""
    mixed = MixedImports(settings.mixed_users, 0)
    for k in range(settings.import_calls):
        requests, bad = mixed_requests(f"mix{k}", settings.mixed_users, settings.users_per_message, emails)
        mixed.bad = len(bad)
        mixed.seconds.append(mixed_import_call(client, requests, bad, STREAM_TIMEOUT_S))
    return mixed


def export_pass(client: c.Client) -> tuple[int, int]:
    """(users, messages) of one ExportUsers of everything, each message received and decoded."""
    users = messages = 0
    for message in client.users.ExportUsers(user_service_pb2.ExportUsersRequest(), timeout=STREAM_TIMEOUT_S):
        users += len(message.users)
        messages += 1
    return users, messages


def list_pass(client: c.Client, page_size: int) -> tuple[int, int]:
    """(users, pages) of paging through everything with ListUsers, as a client without Export would."""
    users = pages = 0
    token = ""
    while True:
        request = user_service_pb2.ListUsersRequest(page_size=page_size, page_token=token)
        reply = client.users.ListUsers(request, timeout=c.CALL_TIMEOUT_S)
        users += len(reply.users)
        pages += 1
        token = reply.next_page_token
        if not token:
            return users, pages


def generation_bump(client: c.Client, user_id: str) -> Callable[[], None]:
    """An UpdateUser that really changes the user. List pages are cached under the collection's generation;
    one write before each pass moves it, so ListUsers reads the database like Export does (warm, every page
    of 50,000 users came from the list cache ~5x faster, which is not what paging a live collection costs).
    Export gets the same write before it, so both sides follow a commit alike."""
    counter = itertools.count()
    update = client.users.UpdateUser

    def bump() -> None:
        user = resources_pb2.User(id=user_id, bio=f"generation bump {next(counter)}")
        update(user_service_pb2.UpdateUserRequest(user=user), timeout=c.CALL_TIMEOUT_S)

    return bump


def _timed_pass(bump: Callable[[], None], run: Callable[[], tuple[int, int]]) -> tuple[float, int, int]:
    bump()
    gc.collect()  # paused inside the pass, as in bench/pairs.py: the client's collector is not timed
    gc.disable()
    try:
        started = time.perf_counter()
        items, parts = run()
        return time.perf_counter() - started, items, parts
    finally:
        gc.enable()


def measure_export_vs_list(client: c.Client, ids: list[str], settings: StreamSettings) -> ExportVsList:
    """Alternate Export and List passes over the same users; the first round is untimed (warm-up)."""
    bump = generation_bump(client, ids[0])
    result = ExportVsList(len(ids), settings.list_page_size)
    sides: dict[str, Callable[[], tuple[int, int]]] = {
        "export": lambda: export_pass(client),
        "list": lambda: list_pass(client, settings.list_page_size),
    }
    for r in range(settings.export_rounds + 1):
        order = ["export", "list"] if r % 2 == 0 else ["list", "export"]
        for side in order:
            seconds, items, parts = _timed_pass(bump, sides[side])
            if items != len(ids):
                raise BenchError(f"{side} pass returned {items} users, expected {len(ids)}")
            if r == 0:
                continue
            if side == "export":
                result.export_s.append(seconds)
                result.export_messages = parts
            else:
                result.list_s.append(seconds)
                result.list_pages = parts
    return result


def measure_imports(client: c.Client, settings: StreamSettings) -> list[float]:
    """Seconds per ImportUsers call of fresh users (each call its own batch, so every item is a create)."""
    return [
        import_call(client, import_requests(f"imp{k}", settings.import_users, settings.users_per_message))
        for k in range(settings.import_calls)
    ]


def measure_backend(deployment: Deployment, settings: StreamSettings) -> BackendFigures:
    """Seed, Export against List, Import, then the Watch fan-out; a failed call fails the bench with its
    status and the server's last log lines, rather than a traceback."""
    try:
        return _measure_backend(deployment, settings)
    except grpc.RpcError as error:
        status = f"{error.code().name}: {error.details()}" if isinstance(error, grpc.Call) else str(error)
        raise BenchError(
            f"{deployment.title}: a call failed ({status}); server log:\n{deployment.server.log_tail()}"
        ) from None


def _measure_backend(deployment: Deployment, settings: StreamSettings) -> BackendFigures:
    name = deployment.title
    client = c.connect(deployment.server.address)
    try:
        progress(f"{name}: seeding {settings.seed_users:,} users with one ImportUsers stream")
        ids, emails, messages, seed_s, get_latency = seed(client, deployment.server.address, settings)
        rounds = f"{settings.export_rounds} rounds after one untimed"
        progress(f"{name}: ExportUsers vs ListUsers(page_size={settings.list_page_size}), {rounds}")
        export = measure_export_vs_list(client, ids, settings)
        progress(f"{name}: {settings.import_calls} x ImportUsers of {settings.import_users:,} fresh users")
        import_s = measure_imports(client, settings)
        progress(f"{name}: {settings.import_calls} x ImportUsers of {settings.mixed_users:,}, 7.5 % bad")
        mixed = measure_mixed_imports(client, emails, settings)
    finally:
        client.close()
    progress(f"{name}: {settings.watchers} watchers, {settings.watch_writes} UpdateUser calls")
    plan = FanoutPlan(
        settings.watchers,
        settings.watch_channels,
        c.batch_ids(ids, settings.watch_writes),
        settings.write_spacing_s,
    )
    fanout = measure_fanout(deployment.server.address, plan)
    return BackendFigures(
        deployment,
        settings.seed_users,  # ids also holds the probe's user, created before the seed
        messages,
        seed_s,
        export,
        settings.import_users,
        settings.users_per_message,
        import_s,
        fanout,
        mixed,
        get_latency,
    )


def measure_streaming(workdir: Path, settings: StreamSettings | None = None) -> StreamingOutcome:
    """Both servers, one after the other, each stopped (exit 0 required) before the next one starts."""
    settings = settings or StreamSettings()
    started = time.monotonic()
    outcome = StreamingOutcome()
    home = workdir / "streaming"  # its own database files and server and Redis logs
    home.mkdir(exist_ok=True)
    progress("streaming: starting an embedded server (fresh SQLite file)")
    with sqlite_deployment(home) as deployment:
        outcome.backends.append(measure_backend(deployment, settings))
    progress("streaming: starting a server on a fresh PostgreSQL database with a redis-server")
    with postgres_deployment(home) as deployment:
        outcome.backends.append(measure_backend(deployment, settings))
    outcome.seconds = time.monotonic() - started
    return outcome
