"""The Watch promise checked against the change log, with two real replica processes sharing one database.

Writers on both replicas run a mixed workload (users and posts created, updated, deleted, imported; a
force-delete also deletes the user's posts in the same transaction) for a few seconds. Meanwhile watchers
on both replicas follow the feed from one start revision: one for everything, one for ``posts``, one for a
fixed set of ids. One more watcher disconnects midway, waits while the writes go on and resumes on the
*other* replica from the last revision it was told about + 1; two late watchers join midway from the start
revision. Those three catch up from the log while new commits arrive and then hand over to the live tail,
the window where a feed most easily skips or repeats an event.

Once the writers stop, every watcher is read until it reports the log's final revision. Then each one's
events are checked against the ``change_log`` rows in (start, final], read straight from the database:

* revisions strictly increase (nothing duplicated, nothing out of order);
* exactly the rows matching the watcher's filter arrive: nothing missed, nothing extra;
* kind, collection, id and the resource itself equal the logged row (deletes carry no resource);
* every message's ``revision`` keeps its promise: when it arrived, every matching row up to it had been
  delivered (so resuming from it + 1, as the resuming watcher does, cannot skip anything).

The run must produce a meaningful number of events, so the check cannot pass vacuously. PostgreSQL runs
with a Redis of the test's own (as deployed); SQLite runs with the cache off and no Redis, because two
processes share the file and an in-process cache is per process.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from wellspring.v1 import watch_service_pb2 as watch_api
from wellspring.v1 import watch_service_pb2_grpc

from service.api.bindings import BINDINGS
from service.domain.specs import REGISTRY, CollectionSpec
from service.repository.database import async_url
from service.repository.tables import TABLES, change_log
from tests.conftest import RedisProcess, fresh_pg_database, sqlite_url_for
from tests.e2e.helpers import (
    changeable,
    create_request,
    create_with_parents,
    delete_request,
    parents_first,
    resource_message,
    stubs,
    update_request,
    update_time_us,
    valid_fields,
)
from tests.e2e.test_history import replica, wait_serving

DURATION_S = 3.0
WRITERS_PER_REPLICA = 4
FIXED = 3  # per collection: resources updated throughout, never deleted; the ids watcher follows them
CYCLED = 2  # per collection: ids created and deleted again and again; the ids watcher follows them too
MIN_EVENTS = 200
CATCH_UP_S = 15.0
RESUMER_DISCONNECTS_AFTER = 40  # events
RESUMER_STAYS_AWAY_FOR = 100  # revisions written meanwhile
LATE_JOINERS_AFTER = (150, 300)  # revisions into the run: late watchers catch up while writes go on
EXPECTED_FAILURES = {"NOT_FOUND", "ALREADY_EXISTS", "ABORTED", "FAILED_PRECONDITION"}
REPLICA_ENV = {
    "WELLSPRING_WATCH_PROGRESS_S": "0.2",
    "WELLSPRING_MIGRATE_ON_START": "0",
    "WELLSPRING_REDIS_TIMEOUT_S": "0.5",
}


# --- the change log, read directly --------------------------------------------------------------------


@dataclass(frozen=True)
class LogRow:
    revision: int
    collection: str
    resource_id: str
    kind: int
    payload: bytes | None


class ChangeLog:
    """Reads ``change_log`` with SQLAlchemy: asyncpg for PostgreSQL, the stdlib driver (in a thread) for
    SQLite."""

    def __init__(self, url: str) -> None:
        self._sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sync = sa.create_engine(url, poolclass=NullPool) if self._sqlite else None
        self._async = None if self._sqlite else create_async_engine(async_url(url), poolclass=NullPool)

    async def _all(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        if self._sync is not None:
            engine = self._sync

            def run() -> list[sa.Row[Any]]:
                with engine.connect() as conn:
                    return list(conn.execute(query).all())

            return await asyncio.to_thread(run)
        assert self._async is not None
        async with self._async.connect() as conn:
            return list((await conn.execute(query)).all())

    async def latest(self) -> int:
        rows = await self._all(sa.select(sa.func.coalesce(sa.func.max(change_log.c.revision), 0)))
        return int(rows[0][0])

    async def rows(self, after: int, upto: int) -> list[LogRow]:
        c = change_log.c
        query = (
            sa.select(c.revision, c.collection, c.resource_id, c.kind, c.payload)
            .where(c.revision > after, c.revision <= upto)
            .order_by(c.revision)
        )
        return [LogRow(int(r[0]), r[1], r[2], int(r[3]), r[4]) for r in await self._all(query)]

    async def stored(self) -> dict[Key, int]:
        """Every stored resource of every registered collection, read from its table."""
        found: dict[Key, int] = {}
        for spec in REGISTRY:
            c = TABLES[spec.collection].table.c
            for item_id, update_time in await self._all(sa.select(c.id, c.update_time_us)):
                found[spec.collection, item_id] = int(update_time)
        return found

    async def close(self) -> None:
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            self._sync.dispose()


# --- waiting without sleeping -------------------------------------------------------------------------


class Pulse:
    """Beats whenever something a waiter may be waiting for happened (a Watch message, the writers' end)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def beat(self) -> None:
        self._event.set()

    async def until(self, predicate: Callable[[], bool], within_s: float) -> bool:
        """Whether ``predicate`` became true within ``within_s`` seconds (checked at every beat)."""
        deadline = time.monotonic() + within_s
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._event.clear()  # no await between the check and here: no beat can be missed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), remaining)
        return True


# --- watchers -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One Watch message as received: its revision and how many events the watcher had by then."""

    revision: int
    delivered: int


@dataclass
class Watcher:
    name: str
    collections: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    events: list[watch_api.ChangeEvent] = field(default_factory=list)
    messages: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reached: int = -1  # the last message's revision; -1 before the first message

    def request(self, start_revision: int) -> watch_api.WatchRequest:
        return watch_api.WatchRequest(
            collections=self.collections, ids=self.ids, start_revision=start_revision
        )

    def matches(self, row: LogRow) -> bool:
        return (not self.collections or row.collection in self.collections) and (
            not self.ids or row.resource_id in self.ids
        )

    def record(self, message: watch_api.WatchResponse) -> None:
        self.events.extend(message.events)
        self.messages.append(Seen(message.revision, len(self.events)))
        if message.events and message.revision < message.events[-1].revision:
            self.errors.append(f"message revision {message.revision} < its last event's")
        if message.revision < self.reached:
            self.errors.append(f"message revision went back from {self.reached} to {message.revision}")
        self.reached = message.revision


async def follow(
    stub: watch_service_pb2_grpc.WatchServiceStub, watcher: Watcher, start: int, pulse: Pulse
) -> None:
    """Read one Watch call into ``watcher`` until the task is cancelled (which cancels the call)."""
    call = stub.Watch(watcher.request(start))
    try:
        async for message in call:
            if message is None:  # grpc logs a message it cannot decode and yields None
                watcher.errors.append("a message that does not decode")
                continue
            watcher.record(message)
            pulse.beat()
        watcher.errors.append("the stream ended")
    except grpc.aio.AioRpcError as error:
        watcher.errors.append(f"the stream failed: {error.code().name} {error.details()}")
    finally:
        call.cancel()
    pulse.beat()


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@dataclass
class Resumption:
    """What the resuming watcher did: the revision it resumed from and how far the log got meanwhile."""

    resumed_from: int = 0
    written_meanwhile_upto: int = 0


async def disconnect_and_resume(
    stubs: list[watch_service_pb2_grpc.WatchServiceStub],
    watcher: Watcher,
    start: int,
    pulse: Pulse,
    log: ChangeLog,
    writers_done: asyncio.Event,
    resumption: Resumption,
) -> None:
    """Follow on the first replica; once some events arrived, cancel; wait while the log grows by
    RESUMER_STAYS_AWAY_FOR revisions; resume on the second replica from the last revision seen + 1."""
    first = asyncio.create_task(follow(stubs[0], watcher, start, pulse))
    try:
        some_events = await pulse.until(
            lambda: len(watcher.events) >= RESUMER_DISCONNECTS_AFTER or writers_done.is_set(),
            DURATION_S + CATCH_UP_S,
        )
        assert some_events, "the resuming watcher got no events and the writers never finished"
    finally:
        await stop(first)
    resumption.resumed_from = max(watcher.reached + 1, start)
    deadline = time.monotonic() + DURATION_S + CATCH_UP_S
    while not writers_done.is_set():  # polling the database, with a deadline
        resumption.written_meanwhile_upto = await log.latest()
        if resumption.written_meanwhile_upto >= watcher.reached + RESUMER_STAYS_AWAY_FOR:
            break
        assert time.monotonic() < deadline, "the log stopped growing while the resumer was away"
        await asyncio.sleep(0.02)
    else:
        resumption.written_meanwhile_upto = await log.latest()
    await follow(stubs[1], watcher, resumption.resumed_from, pulse)


async def join_late(
    stub: watch_service_pb2_grpc.WatchServiceStub,
    watcher: Watcher,
    start: int,
    after: int,
    pulse: Pulse,
    clock: Watcher,
    writers_done: asyncio.Event,
    joined_while_writing: list[bool],
) -> None:
    """Start from ``start`` once ``clock`` (a live watcher) passed ``start + after``: a catch-up over the
    backlog and its hand-over to the live tail, while the writers are still writing."""
    await pulse.until(
        lambda: clock.reached >= start + after or writers_done.is_set(), DURATION_S + CATCH_UP_S
    )
    joined_while_writing.append(not writers_done.is_set())
    await follow(stub, watcher, start, pulse)


# --- writers ------------------------------------------------------------------------------------------


Key = tuple[str, str]  # (collection, id)


@dataclass
class Fixture:
    """Per collection: resources that exist before the run and are never deleted (each new resource's
    parents are these or the writer's own), and ids created and deleted again and again."""

    fixed: dict[str, list[str]]
    cycled: dict[str, list[str]]

    @property
    def watched_ids(self) -> tuple[str, ...]:
        return tuple(i for ids in (*self.fixed.values(), *self.cycled.values()) for i in ids)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


class Writer:
    """One client doing a random mix of writes over every registered collection on one replica; failures
    that a race explains are counted. It remembers what it created and from which parents, so a forced
    delete knows what it cascades to: ``cascaded`` (each must get a DELETED event of its own)."""

    def __init__(self, stubs_: dict[str, Any], fixture: Fixture, outcomes: Counter[str]) -> None:
        self.s = stubs_
        self.fixture = fixture
        self.outcomes = outcomes
        self.rng = random.Random()
        self.own: dict[str, list[str]] = {spec.collection: [] for spec in REGISTRY}
        self.parents: dict[Key, set[Key]] = {}  # what each own resource refers to
        self.cascaded: list[Key] = []

    async def run(self, until: float) -> None:
        ops = [
            (0.32, self.create),
            (0.28, self.update),
            (0.12, self.delete),
            (0.12, self.update_fixed),
            (0.08, self.cycle),
            (0.08, self.import_items),
        ]
        weights = [w for w, _ in ops]
        while time.monotonic() < until:
            op = self.rng.choices([o for _, o in ops], weights)[0]
            spec = self.rng.choice(list(REGISTRY))
            try:
                await op(spec)
                self.outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                self.outcomes[error.code().name] += 1

    async def call(self, collection: str, verb: str, request: Message) -> Any:
        method = getattr(self.s[collection], BINDINGS[collection].method(verb))
        return await method(request, timeout=10)

    def pick_parents(self, spec: CollectionSpec[Any, Any]) -> dict[str, str]:
        """Mostly the writer's own resources, so forced deletes have something to cascade to."""
        chosen = {}
        for ref in spec.references:
            own = self.own[ref.collection]
            pool = own if own and self.rng.random() < 0.8 else self.fixture.fixed[ref.collection]
            chosen[ref.collection] = self.rng.choice(pool)
        return chosen

    async def create(self, spec: CollectionSpec[Any, Any]) -> None:
        parents, item_id = self.pick_parents(spec), new_id(spec.resource[0])
        fields = valid_fields(spec, parents, item_id)
        await self.call(spec.collection, "Create", create_request(spec.collection, fields, item_id))
        self.adopt(spec.collection, item_id, parents)

    def adopt(self, collection: str, item_id: str, parents: dict[str, str]) -> None:
        self.own[collection].append(item_id)
        self.parents[collection, item_id] = set(parents.items())

    async def update(self, spec: CollectionSpec[Any, Any]) -> None:
        if not self.own[spec.collection]:
            return await self.create(spec)
        await self.change(spec, self.rng.choice(self.own[spec.collection]))

    async def change(self, spec: CollectionSpec[Any, Any], item_id: str) -> None:
        name = changeable(spec)
        request = update_request(spec.collection, item_id, {name: secrets.token_hex(8)}, (name,))
        await self.call(spec.collection, "Update", request)

    async def delete(self, spec: CollectionSpec[Any, Any]) -> None:
        """Forced where the collection has referrers: what refers to the victim (and so on down) is
        deleted in the same transaction (several log rows in one commit)."""
        if not self.own[spec.collection]:
            return await self.create(spec)
        await self.force_delete(spec, self.rng.choice(self.own[spec.collection]))

    async def force_delete(self, spec: CollectionSpec[Any, Any], item_id: str) -> None:
        victim = (spec.collection, item_id)
        doomed = self.descendants(victim)
        for key in (victim, *doomed):
            self.own[key[0]].remove(key[1])
            del self.parents[key]
        await self.call(spec.collection, "Delete", delete_request(spec.collection, victim[1], force=True))
        self.cascaded += doomed

    async def chain(self) -> None:
        """One resource of every collection, each referring to the one created just before it, then a
        forced delete of the root: every referring collection is cascaded at least once, however the random
        mix went (a short run once force-deleted no user that had posts)."""
        for spec in REGISTRY:  # a collection's references are registered before it
            parents = {ref.collection: self.own[ref.collection][-1] for ref in spec.references}
            item_id = new_id(spec.resource[0])
            fields = valid_fields(spec, parents, item_id)
            await self.call(spec.collection, "Create", create_request(spec.collection, fields, item_id))
            self.adopt(spec.collection, item_id, parents)
        root = next(iter(REGISTRY))
        await self.force_delete(root, self.own[root.collection][-1])

    def descendants(self, key: Key) -> list[Key]:
        """The writer's resources that refer to ``key``, directly or through others."""
        found: list[Key] = []
        frontier = {key}
        while frontier:
            children = {k for k, parents in self.parents.items() if parents & frontier and k not in found}
            found += sorted(children)
            frontier = children
        return found

    async def update_fixed(self, spec: CollectionSpec[Any, Any]) -> None:
        await self.change(spec, self.rng.choice(self.fixture.fixed[spec.collection]))

    async def cycle(self, spec: CollectionSpec[Any, Any]) -> None:
        """Create a cycled id, or delete it when it exists (racing the other writers on purpose). Nothing
        refers to cycled ids, so the delete cascades to nothing."""
        item_id = self.rng.choice(self.fixture.cycled[spec.collection])
        parents = {ref.collection: self.fixture.fixed[ref.collection][0] for ref in spec.references}
        request = create_request(spec.collection, valid_fields(spec, parents, new_id("c")), item_id)
        try:
            await self.call(spec.collection, "Create", request)
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            await self.call(spec.collection, "Delete", delete_request(spec.collection, item_id, force=True))

    async def import_items(self, spec: CollectionSpec[Any, Any]) -> None:
        """Several resources in one import: several rows committed together."""
        binding = BINDINGS[spec.collection]
        batch = [(new_id("i"), self.pick_parents(spec)) for _ in range(4)]
        items = [resource_message(spec.collection, valid_fields(spec, p, i), i) for i, p in batch]
        request = binding.request("Import")(**{spec.collection: items})
        method = getattr(self.s[spec.collection], binding.method("Import"))
        result = await method(iter([request]), timeout=10)
        if result.failed_count == 0:
            for item_id, parents in batch:
                self.adopt(spec.collection, item_id, parents)


async def seed(stubs_: dict[str, Any]) -> Fixture:
    """FIXED resources of each collection, parents first: the i-th refers to the i-th of each parent."""
    fixed: dict[str, list[str]] = {}
    for spec in parents_first():
        fixed[spec.collection] = []
        for i in range(FIXED):
            parents = {ref.collection: fixed[ref.collection][i] for ref in spec.references}
            ids = await create_with_parents(stubs_, spec.collection, "fixed", parents, new_id("fixed"))
            fixed[spec.collection].append(ids[spec.collection])
    cycled = {spec.collection: [new_id("cycled") for _ in range(CYCLED)] for spec in REGISTRY}
    return Fixture(fixed, cycled)


# --- the check ----------------------------------------------------------------------------------------


def describe(ev: watch_api.ChangeEvent) -> str:
    return f"{ev.revision} {ev.kind} {ev.collection}/{ev.id} {ev.WhichOneof('resource')}"


def resource_problem(ev: watch_api.ChangeEvent, row: LogRow) -> str | None:
    """The event's resource against the logged payload (parsed, so encoding details do not matter)."""
    if row.payload is None:
        return None if ev.WhichOneof("resource") is None else "a delete event carries a resource"
    expected_type = REGISTRY[row.collection].resource  # the oneof's field is named after the resource
    if ev.WhichOneof("resource") != expected_type:
        return f"resource is {ev.WhichOneof('resource')}, want {expected_type}"
    got = getattr(ev, expected_type)
    want = type(got).FromString(row.payload)
    return None if got == want else f"{expected_type} differs: {field_diff(got, want)}"


def field_diff(got: Message, want: Message) -> str:
    """The fields that differ, one ``name: got … want …`` each."""
    diffs = [
        f"{f.name}: got {getattr(got, f.name)!r} want {getattr(want, f.name)!r}".replace("\n", " ")
        for f in got.DESCRIPTOR.fields
        if getattr(got, f.name) != getattr(want, f.name)
    ]
    return "; ".join(diffs) or "only unknown fields"


def event_problem(ev: watch_api.ChangeEvent, row: LogRow) -> str | None:
    got = (ev.kind, ev.collection, ev.id)
    want = (row.kind, row.collection, row.resource_id)
    if got != want:
        return f"(kind, collection, id) = {got}, want {want}"
    return resource_problem(ev, row)


def check(watcher: Watcher, rows: list[LogRow], final: int) -> list[str]:
    """Every way ``watcher``'s feed can differ from the log rows in (start, final] matching its filter."""
    expected = [r for r in rows if watcher.matches(r)]
    by_revision = {r.revision: r for r in expected}
    revisions = [ev.revision for ev in watcher.events]
    problems = [f"{error} (x{n})" if n > 1 else error for error, n in Counter(watcher.errors).items()]
    if watcher.reached < final:
        problems.append(f"never reported revision {final}: the last message said {watcher.reached}")
    problems += [f"revision {b} after {a}" for a, b in itertools.pairwise(revisions) if b <= a]
    duplicates = sorted(r for r, n in Counter(revisions).items() if n > 1)
    if duplicates:
        problems.append(f"{len(duplicates)} duplicated revisions, first {duplicates[:10]}")
    missing = sorted(set(by_revision) - set(revisions))
    if missing:
        problems.append(f"{len(missing)} missed revisions, first {missing[:10]}")
    extra = sorted(set(revisions) - set(by_revision))
    if extra:
        shown = [describe(ev) for ev in watcher.events if ev.revision in set(extra[:10])]
        problems.append(f"{len(extra)} unexpected events (not matching rows up to {final}), first {shown}")
    for ev in watcher.events:
        row = by_revision.get(ev.revision)
        problem = event_problem(ev, row) if row is not None else None
        if problem is not None:
            problems.append(f"revision {ev.revision}: {problem}")
    expected_revisions = sorted(by_revision)
    for seen in watcher.messages:
        owed = bisect.bisect_right(expected_revisions, seen.revision)
        if seen.delivered < owed:
            problems.append(
                f"a message said revision {seen.revision} with {seen.delivered} events delivered, "
                f"{owed} were due by then"
            )
            break
    return problems


def replay_problems(watcher: Watcher, result: Run) -> list[str]:
    """The whole feed replayed against the tables once the writers were done: whatever it mentions
    exists iff its last event is not a delete, at that event's version; what it never mentions existed
    before the run. A delete that wrote no log row (a cascade that forgot one, say) shows up here, where
    comparing the feed with the log cannot see it."""
    last = {(ev.collection, ev.id): ev for ev in watcher.events}
    problems = []
    for key, ev in last.items():
        now = result.stored.get(key)
        if ev.kind == watch_api.ChangeEvent.KIND_DELETED:
            if now is not None:
                problems.append(f"{key} still stored after its DELETED event at {ev.revision}")
        elif now is None:
            problems.append(f"{key} is gone, but its last event ({describe(ev)}) is no delete")
        elif now != update_time_us(getattr(ev, REGISTRY[key[0]].resource)):
            problems.append(f"{key} is stored at update_time {now}, its last event ({describe(ev)}) differs")
    before = {(c, i) for c, ids in result.fixture.fixed.items() for i in ids}
    unseen = sorted(set(result.stored) - set(last) - before)
    if unseen:
        problems.append(f"{len(unseen)} stored resources the feed never mentioned, first {unseen[:10]}")
    return problems


# --- the deployment -----------------------------------------------------------------------------------


@asynccontextmanager
async def deployment(backend: str, tmp: Path) -> AsyncIterator[tuple[str, list[str]]]:
    """Two replica processes on one migrated database; yields the database URL and their addresses."""
    async with contextlib.AsyncExitStack() as stack:
        if backend == "postgres":
            redis = RedisProcess(tmp)
            redis.start()
            stack.callback(redis.kill)
            url = await stack.enter_async_context(fresh_pg_database())
            redis_url, env = redis.url, REPLICA_ENV
        else:
            url = await asyncio.to_thread(sqlite_url_for, tmp)
            redis_url, env = "", {**REPLICA_ENV, "WELLSPRING_CACHE": "0"}  # no Redis, no cache
        prefix = f"w{secrets.token_hex(3)}:"
        addresses = [stack.enter_context(replica(url, redis_url, prefix, tmp, **env)) for _ in range(2)]
        for address in addresses:
            await wait_serving(address)
        yield url, addresses


@dataclass
class Stubs:
    resources: dict[str, Any]  # every registered collection's service stub, by collection
    watch: watch_service_pb2_grpc.WatchServiceStub

    @classmethod
    def of(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(stubs(channel), watch_service_pb2_grpc.WatchServiceStub(channel))


@asynccontextmanager
async def clients(addresses: list[str]) -> AsyncIterator[list[Stubs]]:
    async with contextlib.AsyncExitStack() as stack:
        channels = [await stack.enter_async_context(grpc.aio.insecure_channel(a)) for a in addresses]
        yield [Stubs.of(channel) for channel in channels]


def the_watchers(fixture: Fixture) -> list[tuple[int, Watcher]]:
    """(replica index, watcher): everything and the fixed ids on each replica, and one watcher per
    registered collection, on the replicas in turn."""
    placed = [
        (i, w) for i in range(2) for w in (Watcher(f"all@{i}"), Watcher(f"ids@{i}", ids=fixture.watched_ids))
    ]
    for n, spec in enumerate(REGISTRY):
        placed.append((n % 2, Watcher(f"{spec.collection}@{n % 2}", collections=(spec.collection,))))
    return placed


@dataclass
class Run:
    watchers: list[Watcher]
    rows: list[LogRow]
    start: int
    final: int
    outcomes: Counter[str]
    resumption: Resumption
    late_joins: list[bool]
    seconds: float
    fixture: Fixture
    cascaded: list[Key]  # what the writers' forced deletes took with them
    stored: dict[Key, int]  # every stored resource once the writers were done: its update_time (µs)


async def run(url: str, addresses: list[str]) -> Run:
    began = time.monotonic()
    log = ChangeLog(url)
    pulse = Pulse()
    writers_done = asyncio.Event()
    outcomes: Counter[str] = Counter()
    resumption = Resumption()
    late_joins: list[bool] = []  # per late watcher: whether it joined while the writers were writing
    try:
        async with clients(addresses) as stubs:
            fixture = await seed(stubs[0].resources)
            start = await log.latest() + 1
            placed = the_watchers(fixture)
            tasks = [asyncio.create_task(follow(stubs[i].watch, w, start, pulse)) for i, w in placed]
            watchers = [w for _, w in placed]
            # Live tails, not catch-up, for these: the first message means the watcher is subscribed.
            subscribed = await pulse.until(lambda: all(w.messages or w.errors for w in watchers), CATCH_UP_S)
            assert subscribed, {w.name: w.errors for w in watchers if not w.messages}
            resumer = Watcher("resumed@0->1")
            watchers.append(resumer)
            tasks.append(
                asyncio.create_task(
                    disconnect_and_resume(
                        [s.watch for s in stubs], resumer, start, pulse, log, writers_done, resumption
                    )
                )
            )
            for i, after in enumerate(LATE_JOINERS_AFTER):
                late = Watcher(f"late@{i}")
                watchers.append(late)
                join = join_late(
                    stubs[i].watch, late, start, after, pulse, watchers[0], writers_done, late_joins
                )
                tasks.append(asyncio.create_task(join))
            until = time.monotonic() + DURATION_S
            writers = [
                Writer(s.resources, fixture, outcomes) for s in stubs for _ in range(WRITERS_PER_REPLICA)
            ]

            try:
                await asyncio.gather(*(w.run(until) for w in writers))
                await writers[0].chain()
            finally:
                writers_done.set()
                pulse.beat()
            final = await log.latest()
            stored = await log.stored()
            try:  # a watcher that falls short is reported by the check, with the rest of its diff
                await pulse.until(lambda: all(w.reached >= final or w.errors for w in watchers), CATCH_UP_S)
            finally:
                for task in tasks:
                    await stop(task)
        rows = await log.rows(start - 1, final)
    finally:
        await log.close()
    cascaded = [key for w in writers for key in w.cascaded]
    seconds = time.monotonic() - began
    return Run(
        watchers, rows, start, final, outcomes, resumption, late_joins, seconds, fixture, cascaded, stored
    )


# --- the test -----------------------------------------------------------------------------------------


def assert_cascades_were_logged(result: Run) -> None:
    """Forced deletes took resources of every collection that refers to another with them, and each of
    those got a DELETED row of its own (a forced post delete, one per comment)."""
    deleted = {
        (r.collection, r.resource_id) for r in result.rows if r.kind == watch_api.ChangeEvent.KIND_DELETED
    }
    taken = Counter(collection for collection, _ in result.cascaded)
    referring = [spec.collection for spec in REGISTRY if spec.references]
    assert all(taken[c] > 0 for c in referring), f"forced deletes cascaded too little: {dict(taken)}"
    unlogged = [key for key in result.cascaded if key not in deleted]
    assert not unlogged, f"{len(unlogged)} cascaded deletes without a DELETED row, first {unlogged[:10]}"


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_every_watcher_sees_exactly_the_log(backend: str, tmp_path: Path) -> None:
    async with deployment(backend, tmp_path) as (url, addresses):
        result = await run(url, addresses)
    counts = {w.name: len(w.events) for w in result.watchers}
    kinds = Counter(f"{r.collection}:{r.kind}" for r in result.rows)
    print(
        f"\n{backend}: {result.seconds:.1f}s, log rows ({result.start - 1}, {result.final}]:"
        f" {len(result.rows)} {dict(sorted(kinds.items()))}; writes {dict(result.outcomes)};"
        f" events per watcher {counts};"
        f" resumed from {result.resumption.resumed_from} after the log reached"
        f" {result.resumption.written_meanwhile_upto};"
        f" cascaded {dict(Counter(c for c, _ in result.cascaded))}"
    )
    assert len(result.rows) > MIN_EVENTS, f"only {len(result.rows)} changes: the run proves nothing"
    assert kinds.keys() >= {f"{spec.collection}:{k}" for spec in REGISTRY for k in (1, 2, 3)}, kinds
    assert_cascades_were_logged(result)
    owed = {w.name: sum(w.matches(r) for r in result.rows) for w in result.watchers}
    assert min(owed.values()) >= 10, f"some watcher's filter matched too little to prove anything: {owed}"
    assert result.resumption.written_meanwhile_upto >= result.resumption.resumed_from, (
        "the resuming watcher was not away while changes were written",
        result.resumption,
    )
    assert result.late_joins == [True] * len(LATE_JOINERS_AFTER), "late watchers joined after the writes"
    unexplained = {code: n for code, n in result.outcomes.items() if code not in EXPECTED_FAILURES | {"OK"}}
    assert not unexplained, f"writes failed unexpectedly: {unexplained}"
    problems = {w.name: check(w, result.rows, result.final) for w in result.watchers}
    for w in result.watchers:
        if not w.collections and not w.ids:
            problems[w.name] += replay_problems(w, result)
    report = "\n".join(f"{name}: {p}" for name, found in problems.items() for p in found[:15])
    assert not report, f"the feed differs from the change log:\n{report}"
