"""The change feed of one replica (DESIGN §4): one tailer reads the change log, every watcher gets its events.

* The tailer reads ``after(head)`` whenever the database signals a commit (LISTEN/NOTIFY on PostgreSQL, a
  cheap ``data_version`` poll on SQLite) and at least every ``poll_s``; the signal is only a hint, the log
  is the source. Events are encoded once and shared by every watcher.
* A watcher first catches up from the log itself (pages after its start), then subscribes with no await
  between its last check against ``head`` and the subscription, so no revision falls between the two.
* Each subscription has a bounded queue (events and bytes). A watcher whose queue overflows is ended with
  RESOURCE_EXHAUSTED naming the revision to resume from; its queue is dropped at once, so a client that
  stopped reading costs nothing but the HTTP/2 window.
* Watchers are admitted up to a cap per replica and per connection (TooManyWatchers past either).
* The fan-out touches only the subscriptions an event concerns (indexed by id, else by their collections)
  and yields to the event loop every ``fan_out_group`` subscriptions: the watchers it woke, and every
  other call, run between groups, so one write to thousands of watchers does not stall the loop for the
  time of all of them. Each subscription gets a page's events in one piece, in revision order.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TypeVar

from service.config import DEFAULTS
from service.domain.commands import Watch
from service.domain.errors import (
    FieldViolation,
    RevisionCompacted,
    ServerClosing,
    TooManyWatchers,
    WatcherTooSlow,
)
from service.domain.models import ChangeKind, Principal
from service.domain.specs import REGISTRY
from service.domain.validation import check_id, raise_if
from service.repository.base import Database, LoggedChange

log = logging.getLogger("wellspring.feed")

MAX_WATCH_IDS = 1000
# (revision, kind, collection, id, payload or None) -> the encoded event; injected by the composition root
EventEncoder = Callable[[int, ChangeKind, str, str, bytes | None], bytes]
# (collection, payload) -> (owner, the payload without its private fields), None when it has none
PublicPart = Callable[[str, bytes], tuple[str, bytes] | None]
_K = TypeVar("_K")


@dataclass(frozen=True, slots=True)
class FeedEvent:
    revision: int
    collection: str
    resource_id: str
    wire: bytes  # the encoded event, shared by every watcher
    owner: str = ""
    public: bytes | None = None  # the event without the resource's private fields (None: it has none)
    trace: str | None = None  # the W3C traceparent of the write that logged it, if it was traced

    def shown_to(self, viewer: Principal | None) -> bytes:
        if self.public is None or viewer is None or viewer.sees_private_of(self.owner):
            return self.wire
        return self.public


@dataclass(frozen=True, slots=True)
class WatchBatch:
    """Encoded events in revision order (empty: a progress message) and the revision the stream reached."""

    events: list[bytes]
    revision: int
    traces: tuple[str, ...] = ()  # the traceparents of the writes behind ``events`` (those traced)


@dataclass(frozen=True, slots=True)
class FeedLimits:
    queue_events: int = DEFAULTS.watch_queue_events
    queue_bytes: int = 16 * 1024 * 1024
    batch_bytes: int = 1024 * 1024
    page_rows: int = 200
    poll_s: float = 1.0
    progress_s: float = DEFAULTS.watch_progress_s
    max_watchers: int = DEFAULTS.watch_max_watchers  # per replica
    max_watchers_per_connection: int = DEFAULTS.watch_max_per_connection  # 0: no per-connection cap
    max_watchers_per_principal: int = DEFAULTS.watch_max_per_principal  # 0: no per-principal cap
    fan_out_group: int = 16  # subscriptions handed events per turn of the event loop


class _Subscription:
    __slots__ = (
        "closing",
        "collections",
        "compacted",
        "ids",
        "limits",
        "overflowed",
        "queue",
        "queued_bytes",
        "wake",
    )

    def __init__(self, cmd: Watch, limits: FeedLimits) -> None:
        self.collections = frozenset(cmd.collections)
        self.ids = frozenset(cmd.ids)
        self.limits = limits
        self.queue: deque[FeedEvent] = deque()
        self.queued_bytes = 0
        self.wake = asyncio.Event()
        self.overflowed = False
        self.closing = False
        self.compacted = 0  # the watermark the tailer found above its head: rows up to it may be lost

    def matches(self, collection: str, resource_id: str) -> bool:
        return (not self.collections or collection in self.collections) and (
            not self.ids or resource_id in self.ids
        )

    def offer(self, events: list[FeedEvent], size: int) -> None:
        """Queue ``events`` (already routed to this subscription, ``size`` bytes) and wake the watcher."""
        if self.overflowed:
            return
        self.queue.extend(events)
        self.queued_bytes += size
        if len(self.queue) > self.limits.queue_events or self.queued_bytes > self.limits.queue_bytes:
            self.overflowed = True
            self.queue.clear()
            self.queued_bytes = 0
        self.wake.set()

    def take(self, max_bytes: int) -> list[FeedEvent]:
        taken: list[FeedEvent] = []
        size = 0
        while self.queue and (not taken or size + len(self.queue[0].wire) <= max_bytes):
            event = self.queue.popleft()
            size += len(event.wire)
            taken.append(event)
        self.queued_bytes -= size
        return taken


Route = tuple[list[_Subscription], list[FeedEvent], int]  # who, which events (in order), their bytes


class _Subscribers:
    """The live subscriptions, indexed by what they follow so that routing a page of events costs what
    it delivers, not (subscriptions x events): those naming ids under each id, the others under their
    set of collections (empty: all). Each subscription sits under one key per id it names, or one set."""

    def __init__(self) -> None:
        self._all: set[_Subscription] = set()
        self._by_collections: dict[frozenset[str], set[_Subscription]] = {}
        self._by_id: dict[str, set[_Subscription]] = {}

    def __len__(self) -> int:
        return len(self._all)

    def snapshot(self) -> list[_Subscription]:
        return list(self._all)

    def add(self, subscription: _Subscription) -> None:
        self._all.add(subscription)
        if subscription.ids:
            for resource_id in subscription.ids:
                self._by_id.setdefault(resource_id, set()).add(subscription)
        else:
            self._by_collections.setdefault(subscription.collections, set()).add(subscription)

    def discard(self, subscription: _Subscription) -> None:
        if subscription not in self._all:
            return
        self._all.discard(subscription)
        if subscription.ids:
            for resource_id in subscription.ids:
                _discard_from(self._by_id, resource_id, subscription)
        else:
            _discard_from(self._by_collections, subscription.collections, subscription)

    def route(self, events: list[FeedEvent]) -> list[Route]:
        """Who gets which of ``events``; lists are snapshots, so subscribing meanwhile is safe."""
        routes: list[Route] = []
        for collections, subscriptions in self._by_collections.items():
            matching = events if not collections else [e for e in events if e.collection in collections]
            if matching:
                routes.append((list(subscriptions), matching, _size(matching)))
        if self._by_id:
            named: dict[_Subscription, list[FeedEvent]] = {}
            for event in events:
                for subscription in self._by_id.get(event.resource_id, ()):
                    if not subscription.collections or event.collection in subscription.collections:
                        named.setdefault(subscription, []).append(event)
            routes += [([subscription], mine, _size(mine)) for subscription, mine in named.items()]
        return routes


def _discard_from(index: dict[_K, set[_Subscription]], key: _K, subscription: _Subscription) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(subscription)
        if not members:
            del index[key]


def _traces(events: list[FeedEvent]) -> tuple[str, ...]:
    return tuple(e.trace for e in events if e.trace is not None)


def _size(events: list[FeedEvent]) -> int:
    return sum(len(e.wire) for e in events)


def _count(counts: dict[str, int], key: str, step: int) -> None:
    """Move ``key``'s count by ``step``; a count back at 0 is dropped (the dict holds live keys only)."""
    left = counts.get(key, 0) + step
    if left:
        counts[key] = left
    else:
        del counts[key]


def check_watch(cmd: Watch) -> None:
    violations = [
        FieldViolation(f"collections[{i}]", f"unknown collection; use one of {', '.join(REGISTRY.names)}")
        for i, c in enumerate(cmd.collections)
        if c not in REGISTRY
    ][:20]
    if len(cmd.ids) > MAX_WATCH_IDS:
        violations.append(FieldViolation("ids", f"at most {MAX_WATCH_IDS} ids"))
    else:
        for i, resource_id in enumerate(cmd.ids):
            violations += check_id(resource_id, f"ids[{i}]")
    if cmd.start_revision < 0:
        violations.append(FieldViolation("start_revision", "must not be negative (0 means from now)"))
    raise_if(violations[:20])


class ChangeFeed:
    def __init__(
        self,
        db: Database,
        encode: EventEncoder,
        limits: FeedLimits | None = None,
        public_part: PublicPart | None = None,
    ) -> None:
        self._db = db
        self._encode = encode
        self._public_part = public_part
        self.limits = limits or FeedLimits()
        self.head = 0
        self._subscribers = _Subscribers()
        self._admitted = 0  # watch calls admitted and not yet ended, catching up or subscribed
        self._per_connection: dict[str, int] = {}
        self._per_principal: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._ready = asyncio.Event()
        self._closed = False
        # For the metrics: events handed to subscriptions, watchers ended for falling behind.
        self.fanned_out = 0
        self.too_slow = 0

    def _event(self, row: LoggedChange) -> FeedEvent:
        """The row's event, encoded once for everyone; with private fields, a public variant beside it."""
        c = row.change
        wire = self._encode(row.revision, c.kind, c.collection, c.resource_id, c.payload)
        split = None
        if c.payload is not None and self._public_part is not None:
            split = self._public_part(c.collection, c.payload)
        if split is None:
            return FeedEvent(row.revision, c.collection, c.resource_id, wire, trace=row.trace)
        public = self._encode(row.revision, c.kind, c.collection, c.resource_id, split[1])
        return FeedEvent(row.revision, c.collection, c.resource_id, wire, split[0], public, row.trace)

    @property
    def watchers(self) -> int:
        """Subscribed (caught-up) watchers."""
        return len(self._subscribers)

    @property
    def admitted(self) -> int:
        """Watch calls counted against the caps: catching up or subscribed."""
        return self._admitted

    def _admit(self, connection: str, principal: str) -> None:
        limits = self.limits
        if self._admitted >= limits.max_watchers:
            raise TooManyWatchers("replica", limits.max_watchers)
        per_connection = limits.max_watchers_per_connection
        if connection and per_connection and self._per_connection.get(connection, 0) >= per_connection:
            raise TooManyWatchers("connection", per_connection)
        per_principal = limits.max_watchers_per_principal
        if principal and per_principal and self._per_principal.get(principal, 0) >= per_principal:
            raise TooManyWatchers("principal", per_principal)
        self._admitted += 1
        _count(self._per_connection, connection, 1)
        _count(self._per_principal, principal, 1)

    def _release(self, connection: str, principal: str) -> None:
        self._admitted -= 1
        _count(self._per_connection, connection, -1)
        _count(self._per_principal, principal, -1)

    def poke(self) -> None:
        """Something may have been committed: read the log soon."""
        self._wake.set()

    async def run(self) -> None:
        """The tailer: until cancelled. Database errors are logged and retried; watchers just wait."""
        delay = 0.05
        while not self._ready.is_set():
            try:
                async with self._db.reading() as uow:
                    self.head = await uow.changes.latest()
                self._ready.set()
            except Exception as error:  # the database is not there yet
                # The start-up check logs what is wrong, in the driver's words, and ends a permanent problem.
                log.debug("change feed waiting for the database (%s)", type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        signals = asyncio.create_task(self._db.commit_signals(self.poke))
        try:
            while True:
                try:
                    async with asyncio.timeout(self.limits.poll_s):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                if signals.done():  # the wake-up source failed: log it, start it again, poll meanwhile
                    if not signals.cancelled() and signals.exception() is not None:
                        log.warning("commit signals stopped (%r); restarting", signals.exception())
                    signals = asyncio.create_task(self._db.commit_signals(self.poke))
                try:
                    await self._pull()
                except Exception as error:  # the database went away; the next wake-up retries
                    log.warning("change feed cannot read the log (%s)", type(error).__name__)
                    await asyncio.sleep(min(self.limits.poll_s, 0.5))
        finally:
            signals.cancel()

    async def _pull(self) -> None:
        if not self._subscribers and await self._skip_to_latest():
            return
        while True:
            async with self._db.reading() as uow:
                rows = await uow.changes.after(self.head, self.limits.page_rows)
                compacted = await uow.changes.compacted()  # after the page: see change_log.py
            if compacted > self.head:  # rows after head may be gone: a tailer this late cannot vouch
                self._lost_rows(compacted)
                continue
            if not rows:
                return
            events = [self._event(r) for r in rows]
            self.head = rows[-1].revision
            await self._fan_out(events)
            if len(rows) < self.limits.page_rows:
                return

    async def _skip_to_latest(self) -> bool:
        """With nobody subscribed, nobody needs the rows: the head moves to the log's latest revision
        without reading or encoding them (a bulk import would otherwise pay for both). A watcher that
        subscribed while the revision was read may need them, so then nothing moves (False)."""
        latest = await self._latest()
        if self._subscribers:
            return False
        self.head = max(self.head, latest)
        return True

    async def _fan_out(self, events: list[FeedEvent]) -> None:
        """Hand every subscription its share of ``events``, yielding to the loop between groups: the
        watchers woken so far (and other calls) run before the next group is woken. The next page is
        not routed before this one is handed to everyone, so each watcher still sees commit order; a
        watcher subscribing meanwhile caught up to ``head`` from the log and is not in this routing."""
        group = self.limits.fan_out_group
        handed = 0
        for subscriptions, matching, size in self._subscribers.route(events):
            self.fanned_out += len(matching) * len(subscriptions)
            for subscription in subscriptions:
                subscription.offer(matching, size)
                handed += 1
                if handed % group == 0:
                    await asyncio.sleep(0)

    def _lost_rows(self, compacted: int) -> None:
        """Compaction passed the tailer (it lagged by a whole retention window): every live watcher that
        still needed those rows is ended with OUT_OF_RANGE rather than given a stream with a hole; the
        tailer goes on from there."""
        log.warning("change log compacted past the tailer (%d > %d)", compacted, self.head)
        for subscription in self._subscribers.snapshot():
            subscription.compacted = compacted
            subscription.wake.set()
        self.head = compacted

    def close(self) -> None:
        """Shutting down: every watcher ends with UNAVAILABLE naming where to resume, new ones at once."""
        self._closed = True
        for subscription in self._subscribers.snapshot():
            subscription.closing = True
            subscription.wake.set()

    async def _latest(self) -> int:
        """ "Now" is the log's latest revision, not this tailer's head, which may lag it by a wake-up."""
        async with self._db.reading() as uow:
            return await uow.changes.latest()

    async def _page(self, after: int) -> tuple[list[LoggedChange], int]:
        async with self._db.reading(bulk=True) as uow:
            rows = await uow.changes.after(after, self.limits.page_rows)
            compacted = await uow.changes.compacted()  # after the page: see change_log.py
        return rows, compacted

    async def watch(self, cmd: Watch, connection: str = "") -> AsyncGenerator[WatchBatch, None]:
        """Every matching change after ``start_revision - 1`` (or from now), in revision order; the first
        message once caught up, and each message while idle, is a progress message. ``connection`` names
        the caller's connection for the per-connection cap ("" : not counted per connection)."""
        check_watch(cmd)
        viewer = None if cmd.viewer is None or cmd.viewer.admin else cmd.viewer
        principal = cmd.viewer.subject if cmd.viewer is not None else ""
        # one generator, not a wrapper: every message would pay for a second
        self._admit(connection, principal)
        try:
            await self._ready.wait()
            if self._closed:  # before asking the database: a closing replica answers at once
                raise ServerClosing(cmd.start_revision - 1 if cmd.start_revision > 0 else self.head)
            rev = cmd.start_revision - 1 if cmd.start_revision > 0 else await self._latest()
            if self._closed:
                raise ServerClosing(rev)
            wanted = _Subscription(cmd, self.limits)
            if cmd.start_revision > 0:
                async with self._db.reading() as uow:
                    compacted = await uow.changes.compacted()
                if compacted > rev:
                    raise RevisionCompacted(cmd.start_revision, compacted + 1)
            while rev < self.head:
                rows, compacted = await self._page(rev)
                if compacted > rev:
                    raise RevisionCompacted(cmd.start_revision, compacted + 1)
                if not rows:
                    break
                caught_up = [
                    self._event(r) for r in rows if wanted.matches(r.change.collection, r.change.resource_id)
                ]
                rev = rows[-1].revision
                if caught_up:
                    yield WatchBatch([e.shown_to(viewer) for e in caught_up], rev, _traces(caught_up))
            # No await between the loop's last look at ``head`` and here: the subscription gets every
            # event after ``head``, and the catch-up delivered everything up to it.
            subscription = wanted
            subscription.closing = self._closed
            self._subscribers.add(subscription)
            try:
                yield WatchBatch([], max(rev, self.head))
                while True:
                    if subscription.closing:
                        raise ServerClosing(rev)
                    if subscription.overflowed:
                        self.too_slow += 1
                        raise WatcherTooSlow(rev)
                    if subscription.compacted > rev:
                        raise RevisionCompacted(rev + 1, subscription.compacted + 1)
                    if subscription.queue:
                        events = [e for e in subscription.take(self.limits.batch_bytes) if e.revision > rev]
                        if events:
                            rev = events[-1].revision
                            yield WatchBatch([e.shown_to(viewer) for e in events], rev, _traces(events))
                        continue
                    subscription.wake.clear()
                    try:
                        async with asyncio.timeout(self.limits.progress_s):
                            await subscription.wake.wait()
                    except TimeoutError:
                        if not subscription.queue:  # an event offered as the timer fired goes first
                            yield WatchBatch([], max(rev, self.head))
            finally:
                self._subscribers.discard(subscription)
        finally:
            self._release(connection, principal)
