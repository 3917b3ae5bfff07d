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
from wellspring.v1 import post_service_pb2 as posts_api
from wellspring.v1 import post_service_pb2_grpc, user_service_pb2_grpc, watch_service_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as users_api
from wellspring.v1 import watch_service_pb2 as watch_api

from service.repository.database import async_url
from service.repository.tables import change_log
from tests.conftest import RedisProcess, fresh_pg_database, sqlite_url_for
from tests.e2e.test_history import replica, wait_serving

DURATION_S = 3.0
WRITERS_PER_REPLICA = 4
FIXED = 3  # fixed users and fixed posts, updated throughout; the ids watcher follows them
CYCLED = 2  # ids created and deleted again and again; the ids watcher follows them too
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


@dataclass
class Fixture:
    """Resources that exist before the run and are never deleted, and ids created and deleted repeatedly."""

    users: list[str]
    posts: list[str]
    cycled: list[str]

    @property
    def watched_ids(self) -> tuple[str, ...]:
        return (*self.users, *self.posts, *self.cycled)


@dataclass
class Stubs:
    users: user_service_pb2_grpc.UserServiceStub
    posts: post_service_pb2_grpc.PostServiceStub
    watch: watch_service_pb2_grpc.WatchServiceStub

    @classmethod
    def of(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            user_service_pb2_grpc.UserServiceStub(channel),
            post_service_pb2_grpc.PostServiceStub(channel),
            watch_service_pb2_grpc.WatchServiceStub(channel),
        )


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def a_user(user_id: str = "") -> pb.User:
    tag = user_id or secrets.token_hex(6)
    return pb.User(id=user_id, email=f"{tag}-{secrets.token_hex(3)}@x.io", display_name=f"User {tag}")


def a_post(author: str) -> pb.Post:
    return pb.Post(
        author_id=author, title=f"Post {secrets.token_hex(3)}", body="b", tags=["t", secrets.token_hex(2)]
    )


class Writer:
    """One client doing a random mix of writes on one replica; failures that a race explains are counted."""

    def __init__(self, stubs: Stubs, fixture: Fixture, outcomes: Counter[str]) -> None:
        self.s = stubs
        self.fixture = fixture
        self.outcomes = outcomes
        self.rng = random.Random()
        self.users: list[str] = []
        self.posts: dict[str, str] = {}  # post id -> author id

    async def run(self, until: float) -> None:
        ops = [
            (0.18, self.create_user),
            (0.14, self.update_user),
            (0.07, self.delete_user),
            (0.20, self.create_post),
            (0.16, self.update_post),
            (0.05, self.delete_post),
            (0.10, self.update_fixed),
            (0.06, self.cycle),
            (0.04, self.import_users),
        ]
        weights = [w for w, _ in ops]
        while time.monotonic() < until:
            op = self.rng.choices([o for _, o in ops], weights)[0]
            try:
                await op()
                self.outcomes["OK"] += 1
            except grpc.aio.AioRpcError as error:
                self.outcomes[error.code().name] += 1

    async def create_user(self) -> None:
        user_id = new_id("u")
        await self.s.users.CreateUser(users_api.CreateUserRequest(user=a_user(), user_id=user_id), timeout=10)
        self.users.append(user_id)

    async def update_user(self) -> None:
        if not self.users:
            return await self.create_user()
        user = pb.User(id=self.rng.choice(self.users), bio=secrets.token_hex(8))
        await self.s.users.UpdateUser(users_api.UpdateUserRequest(user=user), timeout=10)

    async def delete_user(self) -> None:
        """Force: the user's posts are deleted in the same transaction (several log rows in one commit)."""
        if not self.users:
            return await self.create_user()
        victim = self.users.pop(self.rng.randrange(len(self.users)))
        await self.s.users.DeleteUser(users_api.DeleteUserRequest(id=victim, force=True), timeout=10)
        self.posts = {p: author for p, author in self.posts.items() if author != victim}

    async def create_post(self) -> None:
        author = self.rng.choice(self.users or self.fixture.users)
        post_id = new_id("p")
        request = posts_api.CreatePostRequest(post=a_post(author), post_id=post_id)
        await self.s.posts.CreatePost(request, timeout=10)
        self.posts[post_id] = author

    async def update_post(self) -> None:
        if not self.posts:
            return await self.create_post()
        post = pb.Post(id=self.rng.choice(list(self.posts)), title=f"Retitled {secrets.token_hex(3)}")
        await self.s.posts.UpdatePost(posts_api.UpdatePostRequest(post=post), timeout=10)

    async def delete_post(self) -> None:
        if not self.posts:
            return await self.create_post()
        victim = self.rng.choice(list(self.posts))
        del self.posts[victim]
        await self.s.posts.DeletePost(posts_api.DeletePostRequest(id=victim), timeout=10)

    async def update_fixed(self) -> None:
        if self.rng.random() < 0.5:
            user = pb.User(id=self.rng.choice(self.fixture.users), bio=secrets.token_hex(8))
            await self.s.users.UpdateUser(users_api.UpdateUserRequest(user=user), timeout=10)
        else:
            post = pb.Post(id=self.rng.choice(self.fixture.posts), body=secrets.token_hex(8))
            await self.s.posts.UpdatePost(posts_api.UpdatePostRequest(post=post), timeout=10)

    async def cycle(self) -> None:
        """Create a cycled id, or delete it when it exists (racing the other writers on purpose)."""
        user_id = self.rng.choice(self.fixture.cycled)
        try:
            await self.s.users.CreateUser(
                users_api.CreateUserRequest(user=a_user(), user_id=user_id), timeout=10
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
            await self.s.users.DeleteUser(users_api.DeleteUserRequest(id=user_id, force=True), timeout=10)

    async def import_users(self) -> None:
        """Several users in one import: several rows committed together."""
        batch = [a_user(new_id("i")) for _ in range(4)]
        result = await self.s.users.ImportUsers(iter([users_api.ImportUsersRequest(users=batch)]), timeout=10)
        if result.failed_count == 0:
            self.users.extend(u.id for u in batch)


async def seed(stubs: Stubs) -> Fixture:
    users = [new_id("fixed-u") for _ in range(FIXED)]
    for user_id in users:
        await stubs.users.CreateUser(users_api.CreateUserRequest(user=a_user(), user_id=user_id), timeout=10)
    posts = [new_id("fixed-p") for _ in range(FIXED)]
    for post_id, author in zip(posts, users, strict=True):
        await stubs.posts.CreatePost(
            posts_api.CreatePostRequest(post=a_post(author), post_id=post_id), timeout=10
        )
    return Fixture(users, posts, [new_id("cycled") for _ in range(CYCLED)])


# --- the check ----------------------------------------------------------------------------------------


def describe(ev: watch_api.ChangeEvent) -> str:
    return f"{ev.revision} {ev.kind} {ev.collection}/{ev.id} {ev.WhichOneof('resource')}"


def resource_problem(ev: watch_api.ChangeEvent, row: LogRow) -> str | None:
    """The event's resource against the logged payload (parsed, so encoding details do not matter)."""
    if row.payload is None:
        return None if ev.WhichOneof("resource") is None else "a delete event carries a resource"
    expected_type = "user" if row.collection == "users" else "post"
    if ev.WhichOneof("resource") != expected_type:
        return f"resource is {ev.WhichOneof('resource')}, want {expected_type}"
    got = ev.user if expected_type == "user" else ev.post
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


@asynccontextmanager
async def clients(addresses: list[str]) -> AsyncIterator[list[Stubs]]:
    async with contextlib.AsyncExitStack() as stack:
        channels = [await stack.enter_async_context(grpc.aio.insecure_channel(a)) for a in addresses]
        yield [Stubs.of(channel) for channel in channels]


def the_watchers(fixture: Fixture) -> list[tuple[int, Watcher]]:
    """(replica index, watcher): everything, posts only and the fixed ids, on each replica."""
    return [
        (i, w)
        for i in range(2)
        for w in (
            Watcher(f"all@{i}"),
            Watcher(f"posts@{i}", collections=("posts",)),
            Watcher(f"ids@{i}", ids=fixture.watched_ids),
        )
    ]


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
            fixture = await seed(stubs[0])
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
            writers = [Writer(s, fixture, outcomes) for s in stubs for _ in range(WRITERS_PER_REPLICA)]
            try:
                await asyncio.gather(*(w.run(until) for w in writers))
            finally:
                writers_done.set()
                pulse.beat()
            final = await log.latest()
            try:  # a watcher that falls short is reported by the check, with the rest of its diff
                await pulse.until(lambda: all(w.reached >= final or w.errors for w in watchers), CATCH_UP_S)
            finally:
                for task in tasks:
                    await stop(task)
        rows = await log.rows(start - 1, final)
    finally:
        await log.close()
    return Run(watchers, rows, start, final, outcomes, resumption, late_joins, time.monotonic() - began)


# --- the test -----------------------------------------------------------------------------------------


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
        f" {result.resumption.written_meanwhile_upto}"
    )
    assert len(result.rows) > MIN_EVENTS, f"only {len(result.rows)} changes: the run proves nothing"
    assert kinds.keys() >= {"users:1", "users:2", "users:3", "posts:1", "posts:2", "posts:3"}, kinds
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
    report = "\n".join(f"{name}: {p}" for name, found in problems.items() for p in found[:15])
    assert not report, f"the feed differs from the change log:\n{report}"
