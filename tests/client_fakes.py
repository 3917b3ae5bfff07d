"""Fakes for the client SDK's unit tests: a hand-driven clock, a sleep that only advances it, and a
``FakeTransport`` that implements ``wellspring_client.transport.Transport`` over in-memory tables of the
real protobuf messages.

The transport records every call, can fail the next calls of a method (``fail``), hold a call open until
the test releases it (``hold``), and serves ``Watch`` from a queue the test feeds (``push_watch``).
asyncio objects are made on first use, so a transport built outside a loop works on any one loop.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import itertools
from collections import defaultdict, deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from google.protobuf import empty_pb2, field_mask_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from wellspring.v1 import resources_pb2, watch_service_pb2

from wellspring_client import WellspringClient
from wellspring_client._resources import BY_COLLECTION, RESOURCES, Resource, owned
from wellspring_client.errors import (
    AlreadyExists,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    WellspringError,
)
from wellspring_client.types import Post, User

T = TypeVar("T")

HANG_GUARD_S = 5.0  # real seconds; only ever reached when the client is broken and a wait would hang
_EPOCH_S = 1_700_000_000
_OUTPUT_ONLY = {"id", "create_time", "update_time", "etag"}
KINDS = {
    "created": watch_service_pb2.ChangeEvent.KIND_CREATED,
    "updated": watch_service_pb2.ChangeEvent.KIND_UPDATED,
    "deleted": watch_service_pb2.ChangeEvent.KIND_DELETED,
}


async def bounded(awaitable: Awaitable[T], what: str) -> T:
    """``await awaitable``, failing the test instead of hanging the run if the client never gets there."""
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            return await awaitable
    except TimeoutError:
        raise AssertionError(f"still waiting for {what} after {HANG_GUARD_S} s") from None


class FakeClock:
    """``clock()`` is the fake time in seconds; only ``advance`` moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """An ``asyncio.sleep`` stand-in: records each delay and advances the clock by it, at once. It yields
    to the loop once, so a retry loop can never starve the tasks around it."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.clock.advance(seconds)
        await asyncio.sleep(0)


@dataclass(frozen=True)
class Call:
    method: str
    request: Any  # for a client stream: the list of messages received
    timeout: float | None


class Gate:
    """One held call: ``await gate.arrived()`` once it was made, ``release()`` to let it answer."""

    def __init__(self) -> None:
        self._arrived = asyncio.Event()
        self._released = asyncio.Event()
        self.call: Call | None = None

    async def arrived(self) -> Call:
        await bounded(self._arrived.wait(), "the held call to be made")
        assert self.call is not None
        return self.call

    def release(self) -> None:
        self._released.set()

    async def _pass(self, call: Call) -> None:
        self.call = call
        self._arrived.set()
        await self._released.wait()


Spec = Resource[Any, Any]  # the registry's entry of a collection
_BY_STREAM = {r.method(verb): r for r in RESOURCES for verb in ("Import", "Export")}
_END = object()  # ends a Watch stream normally


class FakeTransport:
    """An in-memory Wellspring server behind the SDK's ``Transport`` protocol. Errors are SDK errors.

    ``clock`` (optional) lets ``latency`` cost fake time: a call whose latency reaches its timeout fails
    with DeadlineExceeded, like a real channel's."""

    def __init__(self, *, clock: FakeClock | None = None, export_chunk: int = 2) -> None:
        self.clock = clock
        self.export_chunk = export_chunk
        self.tables: dict[str, dict[str, Any]] = {r.collection: {} for r in RESOURCES}
        self.calls: list[Call] = []
        self.revision = 0  # the change log's revision: every write bumps it
        self.latency: dict[str, float] = {}
        self.closed = False
        self._versions = itertools.count(1)
        self._ids = itertools.count(1)
        self._failures: dict[str, deque[BaseException]] = defaultdict(deque)
        self._holds: dict[str, deque[Gate]] = defaultdict(deque)
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[None]]] = []
        self._watch_queue: asyncio.Queue[Any] | None = None
        self._request_ids: dict[tuple[str, str], Any] = {}
        self._unary: dict[str, Callable[[Any], Any]] = {}
        for spec in RESOURCES:
            handlers = {
                "Get": self._get,
                "BatchGet": self._batch_get,
                "List": self._list,
                "Create": self._create,
                "Update": self._update,
                "Delete": self._delete,
            }
            for verb, handler in handlers.items():
                self._unary[spec.method(verb)] = functools.partial(handler, spec)

    # --- test controls ------------------------------------------------------------------------------------

    def fail(self, method: str, error: WellspringError, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` raise (a copy of) ``error`` without touching the data."""
        self._failures[method].extend(copy.copy(error) for _ in range(times))

    def hold(self, method: str) -> Gate:
        """The next call of ``method`` is made (recorded, answered from the data as it is then) and waits
        for ``gate.release()`` before it returns."""
        gate = Gate()
        self._holds[method].append(gate)
        return gate

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def count(self, method: str) -> int:
        return len(self.calls_of(method))

    async def wait_calls(self, method: str, n: int) -> None:
        """Until ``method`` has been called ``n`` times."""
        await self._until(lambda: self.count(method) >= n)

    def put(self, collection: str, id: str, **fields: Any) -> Any:
        """Create or overwrite item ``id`` of ``collection`` on the server (a new version), as another
        client would; returns it as the SDK's value."""
        spec = BY_COLLECTION[collection]
        return spec.from_pb(self._store(spec, spec.message(id=id, **fields)))

    def put_user(self, id: str, **fields: Any) -> User:
        """``put("users", …)`` with an email and a display name made from the id."""
        return self.put("users", id, **{"email": f"{id}@example.com", "display_name": id.title()} | fields)

    def put_post(self, id: str, author_id: str, **fields: Any) -> Post:
        return self.put("posts", id, **{"author_id": author_id, "title": f"Post {id}"} | fields)

    def remove(self, collection: str, id: str) -> None:
        """Delete on the server, as another client would."""
        del self.tables[collection][id]
        self.revision += 1

    def item(self, collection: str, id: str) -> Any:
        """The server's item as the SDK's value."""
        return BY_COLLECTION[collection].from_pb(self.tables[collection][id])

    def user(self, id: str) -> User:
        return self.item("users", id)  # type: ignore[no-any-return]

    def user_pb(self, id: str) -> resources_pb2.User:
        return copy.deepcopy(self.tables["users"][id])

    # --- the Watch script ---------------------------------------------------------------------------------

    @property
    def watch_queue(self) -> asyncio.Queue[Any]:
        if self._watch_queue is None:
            self._watch_queue = asyncio.Queue()
        return self._watch_queue

    def push_watch(self, *items: watch_service_pb2.WatchResponse | BaseException) -> None:
        """What the Watch stream delivers next: a message, or an error that ends the stream."""
        for item in items:
            self.watch_queue.put_nowait(item)

    def end_watch(self) -> None:
        self.watch_queue.put_nowait(_END)

    async def watch_processed(self) -> None:
        """Until every pushed item was consumed: the stream was asked for the next message (so the client
        has finished with the previous one) or raised the pushed error."""
        await bounded(self.watch_queue.join(), "the client to consume the Watch stream")

    def progress(self) -> watch_service_pb2.WatchResponse:
        """A progress message at the current revision."""
        return watch_service_pb2.WatchResponse(revision=self.revision)

    def change(
        self, kind: str, collection: str, id: str, resource: Any = None
    ) -> watch_service_pb2.WatchResponse:
        """A message carrying one event at the next revision; ``resource`` defaults to the server's
        current value (none for a delete)."""
        self.revision += 1
        event = watch_service_pb2.ChangeEvent(
            revision=self.revision, kind=KINDS[kind], collection=collection, id=id
        )
        if kind != "deleted":
            value = resource if resource is not None else self.tables[collection][id]
            getattr(event, BY_COLLECTION[collection].field).CopyFrom(value)
        return watch_service_pb2.WatchResponse(events=[event], revision=self.revision)

    # --- the Transport protocol (which names the per-call deadline ``timeout``: hence the noqa) ------------

    async def unary(self, method: str, request: Any, timeout: float | None) -> Any:  # noqa: ASYNC109
        call = self._record(method, request, timeout)
        self._spend(method, timeout)
        failure = self._next_failure(method)
        response = None
        if failure is None:
            try:
                response = self._unary[method](request)
            except WellspringError as error:
                failure = error
        if self._holds[method]:
            await self._holds[method].popleft()._pass(call)
        if failure is not None:
            raise failure
        return response

    async def server_stream(self, method: str, request: Any, timeout: float | None) -> AsyncIterator[Any]:  # noqa: ASYNC109
        self._record(method, request, timeout)
        failure = self._next_failure(method)
        if failure is not None:
            raise failure
        if method == "Watch":
            async for message in self._watch():
                yield message
            return
        spec = _BY_STREAM[method]
        items = [m for m in self._sorted(spec) if _selected(spec, m, request)]
        revision = self.revision
        for start in range(0, len(items), self.export_chunk):
            chunk = items[start : start + self.export_chunk]
            yield response(spec, "Export", **{spec.collection: chunk, "revision": revision})

    async def client_stream(self, method: str, requests: AsyncIterable[Any], timeout: float | None) -> Any:  # noqa: ASYNC109
        received = [r async for r in requests]
        self._record(method, received, timeout)
        failure = self._next_failure(method)
        if failure is not None:
            raise failure
        spec = _BY_STREAM[method]
        created = updated = 0
        for request in received:
            for item in getattr(request, spec.collection):
                if item.id in self.tables[spec.collection]:
                    updated += 1
                else:
                    created += 1
                self._store(spec, item)
        return response(spec, "Import", created_count=created, updated_count=updated)

    async def close(self) -> None:
        self.closed = True

    # --- internals ----------------------------------------------------------------------------------------

    def _record(self, method: str, request: Any, timeout: float | None) -> Call:
        call = Call(method, request, timeout)
        self.calls.append(call)
        for predicate, future in list(self._waiters):
            if predicate() and not future.done():
                future.set_result(None)
                self._waiters.remove((predicate, future))
        return call

    async def _until(self, predicate: Callable[[], bool]) -> None:
        if predicate():
            return
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        await bounded(future, "a call")

    def _spend(self, method: str, timeout: float | None) -> None:
        latency = self.latency.get(method, 0.0)
        if latency and self.clock is not None:
            if timeout is not None and latency >= timeout:
                self.clock.advance(timeout)
                raise DeadlineExceeded("Deadline Exceeded")
            self.clock.advance(latency)

    def _next_failure(self, method: str) -> BaseException | None:
        queue = self._failures[method]
        return queue.popleft() if queue else None

    async def _watch(self) -> AsyncIterator[watch_service_pb2.WatchResponse]:
        queue = self.watch_queue
        while True:
            item = await queue.get()
            try:
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise copy.copy(item)
                yield item
            finally:
                queue.task_done()

    def _store(self, spec: Spec, item: Any) -> Any:
        """Write ``item`` as a new version: output-only fields are the server's."""
        stored = copy.deepcopy(item)
        old = self.tables[spec.collection].get(item.id)
        version = next(self._versions)
        stamp = timestamp_pb2.Timestamp(seconds=_EPOCH_S + version)
        stored.create_time.CopyFrom(old.create_time if old is not None else stamp)
        stored.update_time.CopyFrom(stamp)
        stored.etag = f"v{version}"
        self.tables[spec.collection][item.id] = stored
        self.revision += 1
        return copy.deepcopy(stored)

    def _find(self, spec: Spec, id: str) -> Any:
        found = self.tables[spec.collection].get(id)
        if found is None:
            raise _not_found([id])
        return found

    @staticmethod
    def _masked(item: Any, request: Any) -> Any:
        if not request.HasField("read_mask"):
            return copy.deepcopy(item)
        out = type(item)(id=item.id)
        request.read_mask.MergeMessage(item, out)
        return out

    def _sorted(self, spec: Spec) -> list[Any]:
        return sorted(self.tables[spec.collection].values(), key=lambda m: m.id)

    def _get(self, spec: Spec, request: Any) -> Any:
        return self._masked(self._find(spec, request.id), request)

    def _batch_get(self, spec: Spec, request: Any) -> Any:
        if not 1 <= len(request.ids) <= 1000:
            raise InvalidArgument("ids: 1 to 1000")
        table = self.tables[spec.collection]
        missing = [i for i in request.ids if i not in table]
        if missing:
            raise _not_found(missing)
        return response(
            spec, "BatchGet", **{spec.collection: [self._masked(table[i], request) for i in request.ids]}
        )

    def _list(self, spec: Spec, request: Any) -> Any:
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        items = [m for m in self._sorted(spec) if _selected(spec, m, request)]
        start = int(request.page_token or 0)
        size = min(request.page_size or 50, 1000)
        page = [self._masked(m, request) for m in items[start : start + size]]
        token = str(start + size) if start + size < len(items) else ""
        return response(spec, "List", **{spec.collection: page, "next_page_token": token})

    def _create(self, spec: Spec, request: Any) -> Any:
        key = (spec.collection, request.request_id)
        if request.request_id and key in self._request_ids:
            return copy.deepcopy(self._request_ids[key])
        item = copy.deepcopy(getattr(request, spec.field))
        item.id = getattr(request, f"{spec.field}_id") or f"{spec.field}-{next(self._ids)}"
        if item.id in self.tables[spec.collection]:
            raise AlreadyExists(f"{item.id} exists")
        for owner in spec.owners:
            if getattr(item, owner.field) not in self.tables[owner.collection]:
                raise InvalidArgument(f"{spec.field}.{owner.field} names nothing in {owner.collection}")
        created = self._store(spec, item)
        if request.request_id:
            self._request_ids[key] = created
        return created

    def _update(self, spec: Spec, request: Any) -> Any:
        change = getattr(request, spec.field)
        old = self.tables[spec.collection].get(change.id)
        if old is None:
            if not request.allow_missing:
                raise _not_found([change.id])
            return self._store(spec, change)
        if change.etag and change.etag != old.etag:
            raise Conflict("etag mismatch")
        if request.HasField("update_mask"):
            paths = list(request.update_mask.paths)
        else:
            paths = [f.name for f, _ in change.ListFields() if f.name not in _OUTPUT_ONLY]
        if "*" in paths:
            paths = [f.name for f in spec.message.DESCRIPTOR.fields if f.name not in _OUTPUT_ONLY]
        unknown = [p for p in paths if p in _OUTPUT_ONLY or p not in spec.message.DESCRIPTOR.fields_by_name]
        if unknown:
            raise InvalidArgument(f"update_mask: cannot update {unknown}")
        new = copy.deepcopy(old)
        field_mask_pb2.FieldMask(paths=paths).MergeMessage(change, new, replace_repeated_field=True)
        return self._store(spec, new)

    def _delete(self, spec: Spec, request: Any) -> Any:
        old = self.tables[spec.collection].get(request.id)
        if old is None:
            if request.allow_missing:
                return _empty()
            raise _not_found([request.id])
        if request.etag and request.etag != old.etag:
            raise Conflict("etag mismatch")
        doomed = self._owned_by(spec, request.id)
        if doomed and not getattr(request, "force", False):
            raise FailedPrecondition(f"{request.id} owns items of {sorted({c for c, _ in doomed})}")
        for collection, item_id in doomed:
            self.remove(collection, item_id)
        self.remove(spec.collection, request.id)
        return _empty()

    def _owned_by(self, spec: Spec, id: str) -> list[tuple[str, str]]:
        """(collection, id) of every item a forced delete of ``id`` deletes, directly or through others."""
        found: list[tuple[str, str]] = []
        frontier = [(spec.collection, id)]
        while frontier:
            owner = frontier.pop()
            for collection in owned(owner[0]):
                child = BY_COLLECTION[collection]
                fields = [o.field for o in child.owners if o.collection == owner[0]]
                for item in self.tables[collection].values():
                    if (collection, item.id) not in found and any(
                        getattr(item, f) == owner[1] for f in fields
                    ):
                        found.append((collection, item.id))
                        frontier.append((collection, item.id))
        return found


def response(spec: Spec, verb: str, **fields: Any) -> Any:
    """The response message of ``spec``'s ``verb`` (the generated class named after the method)."""
    return getattr(spec.api, f"{spec.method(verb)}Response")(**fields)


def _selected(spec: Spec, item: Any, request: Any) -> bool:
    """Does ``item`` pass the request's filter? By the filter's names, as the real server reads them:
    ``query`` is a prefix of a writable text field, ``x_after``/``x_before`` bound the time ``x``
    (exclusive), a repeated field's singular (``tag``) must be among its values, any other is equal."""
    fields = spec.message.DESCRIPTOR.fields_by_name
    for name in spec.filter.__annotations__:
        wanted = getattr(request, name)
        if isinstance(wanted, timestamp_pb2.Timestamp):
            if not request.HasField(name):
                continue
            stamp = getattr(item, name.rsplit("_", 1)[0]).ToNanoseconds()
            after = name.endswith("_after")
            if (stamp <= wanted.ToNanoseconds()) if after else (stamp >= wanted.ToNanoseconds()):
                return False
        elif not wanted:
            continue
        elif name == "query":
            texts = [getattr(item, n) for n, f in fields.items() if f.type == f.TYPE_STRING]
            if not any(t.startswith(wanted) for t in texts if t not in (item.id, item.etag)):
                return False
        elif name in fields:
            if getattr(item, name) != wanted:
                return False
        elif wanted not in getattr(item, f"{name}s"):
            return False
    return True


def _empty() -> Any:
    return empty_pb2.Empty()


def _not_found(ids: list[str]) -> NotFound:
    """NOT_FOUND as the real server sends it: ErrorInfo, then one ResourceInfo per missing id."""
    info = error_details_pb2.ErrorInfo(reason="RESOURCE_NOT_FOUND", domain="wellspring")
    resources = tuple(error_details_pb2.ResourceInfo(resource_name=i, description="not found") for i in ids)
    return NotFound(f"not found: {', '.join(ids)}", details=(info, *resources))


class ClientEnv:
    """A fake clock, a fake sleep, a fake transport, and the clients a test builds on them."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.sleep = FakeSleep(self.clock)
        self.fake = FakeTransport(clock=self.clock)
        self._clients: list[WellspringClient] = []

    def client(self, **options: Any) -> WellspringClient:
        """A client on the fakes (rng fixed at 0.5: every backoff is half its cap)."""
        defaults: dict[str, Any] = {
            "transport": self.fake,
            "clock": self.clock,
            "sleep": self.sleep,
            "rng": lambda: 0.5,
        }
        client = WellspringClient(**(defaults | options))
        self._clients.append(client)
        return client

    async def close_client(self, client: WellspringClient) -> None:
        self._clients.remove(client)
        await client.close()

    async def close(self) -> None:
        for client in self._clients:
            await client.close()


async def refreshed(client: WellspringClient, key: Any) -> Any:
    """Await the fetch in flight for ``key`` (e.g. a stale hit's background refresh); returns its value."""
    query = client.cache.get(key)
    assert query is not None and query.fetch is not None, "no fetch in flight for this key"
    return await query.fetch


def done_with(awaitable: Any) -> Any:
    """The value of an awaitable that is already complete (a cache answer that did not yield)."""
    assert asyncio.isfuture(awaitable) and awaitable.done(), "expected an answer without an await"
    return awaitable.result()


async def fetched(awaitable: Any) -> Any:
    """The value of an answer the cache could not give at once (it had to ask the server)."""
    assert not (asyncio.isfuture(awaitable) and awaitable.done()), "answered from the cache"
    return await awaitable


@pytest.fixture
async def env() -> AsyncIterator[ClientEnv]:
    """Clients on one FakeTransport, FakeClock and FakeSleep; all closed after the test."""
    env = ClientEnv()
    yield env
    await env.close()
