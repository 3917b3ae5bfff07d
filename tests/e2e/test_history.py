"""The cache promise checked from histories (DESIGN §6), with two real replica processes sharing a real
PostgreSQL and a real Redis.

Many clients run a mixed workload against both replicas, over every registered collection (each operation
on one drawn at random; creates and updates are derived from the collection's spec, parents first); one
replica's Redis calls are delayed at random to widen races. Every operation's invoke and complete times,
status and returned versions (update_time, strictly increasing per resource) are recorded, then checked:
no read returned a version older than the newest write acknowledged before the read began, and nothing
acknowledged as existing reads as NOT_FOUND (or as existing after an acknowledged delete). The same run
with fills switched to a plain SET — a test-only setting — must fail the check: the test of the test.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message

from service.api.bindings import BINDINGS
from service.domain.specs import REGISTRY
from tests.conftest import RedisProcess, fresh_pg_database
from tests.e2e.helpers import (
    changeable,
    create_request,
    create_with_parents,
    delete_request,
    parents_first,
    stubs,
    update_request,
    update_time_us,
    valid_fields,
)
from tests.e2e.process import ServerProcess, wait_serving

pytestmark = pytest.mark.postgres
DURATION_S = 4.0
ENOUGH_OPS = 900  # the run goes on past DURATION_S (up to OVERTIME_S more) until it has this many operations
OVERTIME_S = 30.0
CLIENTS = 12
FIXED = 3  # per collection


@dataclass
class Op:
    kind: str
    invoke: float
    complete: float = 0.0
    status: str = "OK"
    versions: dict[str, int | None] = field(default_factory=dict)  # key -> update_time µs, None: NOT_FOUND


def version(resource: Message) -> int:
    """A resource's version as the checker compares them: its update_time (µs), strictly increasing."""
    return update_time_us(resource)


def check(history: list[Op]) -> list[str]:
    """Every read against the writes acknowledged before it began."""
    puts: dict[str, list[Op]] = defaultdict(list)
    deletes: dict[str, list[Op]] = defaultdict(list)
    for op in history:
        if op.status != "OK":
            continue
        for key in op.versions:
            if op.kind in ("update", "create"):
                puts[key].append(op)
            elif op.kind == "delete":
                deletes[key].append(op)
    violations = []
    for read in history:
        if read.kind not in ("get", "batch_get", "list") or read.status not in ("OK", "NOT_FOUND"):
            continue
        for key, got in read.versions.items():
            acked = [w.versions[key] for w in puts[key] if w.complete < read.invoke]
            newest = max((v for v in acked if v is not None), default=None)
            deleted_before = any(d.complete < read.invoke for d in deletes[key])
            delete_started = any(d.invoke < read.complete for d in deletes[key])
            if got is None:
                if newest is not None and not delete_started:
                    violations.append(f"{read.kind} of {key} was NOT_FOUND after an acknowledged write")
            elif deleted_before:
                violations.append(f"{read.kind} of {key} returned a value after an acknowledged delete")
            elif newest is not None and got < newest:
                violations.append(f"{read.kind} of {key} returned {got} < {newest} acknowledged before it")
    return violations


@contextmanager
def replica(url: str, redis_url: str, prefix: str, tmp: Path, **extra: str) -> Iterator[str]:
    env = {
        "WELLSPRING_REDIS_URL": redis_url,
        "WELLSPRING_CACHE_PREFIX": prefix,
        "WELLSPRING_PAGE_TOKEN_SECRET": "history-test-secret-0123456789",
        "WELLSPRING_REDIS_TIMEOUT_S": "0.2",
        "WELLSPRING_SHUTDOWN_GRACE_S": "1",
        **extra,
    }
    with ServerProcess(tmp, url, name="replica", **env) as server:
        yield server.address
        assert server.running, f"replica {server.address} died; see {server.log_path}"


async def timed(history: list[Op], op: Op, call: object) -> object | None:
    try:
        result = await call  # type: ignore[misc]
    except grpc.aio.AioRpcError as error:
        op.complete, op.status = time.monotonic(), error.code().name
        history.append(op)
        return None
    op.complete = time.monotonic()
    history.append(op)
    return result


@dataclass
class Keys:
    """One collection's ids: fixed ones (created before the run, never deleted, the parents of every new
    resource) and the ephemeral ones created during the run (deleted again; nothing refers to them)."""

    fixed: list[str]
    ephemeral: list[str] = field(default_factory=list)


def key_of(collection: str, item_id: str) -> str:
    return f"{collection}/{item_id}"


class Workload:
    """One client's random mix over every registered collection: reads (Get, BatchGet, List) and writes
    (Update, Create, Delete), each on a collection drawn at random; every call recorded in ``history``."""

    def __init__(self, channels: list[dict[str, Any]], keys: dict[str, Keys], history: list[Op]) -> None:
        self.channels = channels
        self.keys = keys
        self.history = history
        self.rng = random.Random()

    async def run(self, stop: float) -> None:
        """Until `stop`, and then on while the history is too short for the check to mean much: the
        machine is shared, so the number of operations, not their rate, is what the test relies on."""
        ops = [(0.40, self.get), (0.15, self.batch_get), (0.10, self.list), (0.25, self.update)]
        ops += [(0.05, self.create), (0.05, self.delete)]
        overtime = stop + OVERTIME_S
        while (now := time.monotonic()) < stop or (len(self.history) < ENOUGH_OPS and now < overtime):
            op = self.rng.choices([o for _, o in ops], [w for w, _ in ops])[0]
            spec = self.rng.choice(list(REGISTRY))
            await op(spec.collection, self.rng.choice(self.channels)[spec.collection])

    async def call(self, op: Op, stub: Any, verb: str, collection: str, request: Message) -> Any:
        method = getattr(stub, BINDINGS[collection].method(verb))
        return await timed(self.history, op, method(request, timeout=10))

    async def get(self, collection: str, stub: Any) -> None:
        keys = self.keys[collection]
        item_id = self.rng.choice(keys.fixed + keys.ephemeral[-4:])
        op = Op("get", time.monotonic())
        request = BINDINGS[collection].request("Get")(id=item_id)
        item = await self.call(op, stub, "Get", collection, request)
        if op.status in ("OK", "NOT_FOUND"):
            op.versions[key_of(collection, item_id)] = version(item) if item is not None else None

    async def batch_get(self, collection: str, stub: Any) -> None:
        ids = self.rng.sample(self.keys[collection].fixed, 2)
        op = Op("batch_get", time.monotonic())
        got = await self.call(
            op, stub, "BatchGet", collection, BINDINGS[collection].request("BatchGet")(ids=ids)
        )
        if got is not None:
            op.versions.update({key_of(collection, r.id): version(r) for r in getattr(got, collection)})
        elif op.status == "NOT_FOUND":
            op.versions.update(dict.fromkeys(key_of(collection, i) for i in ids))

    async def list(self, collection: str, stub: Any) -> None:
        op = Op("list", time.monotonic())
        request = BINDINGS[collection].request("List")(page_size=100)
        got = await self.call(op, stub, "List", collection, request)
        if got is not None:
            op.versions.update({key_of(collection, r.id): version(r) for r in getattr(got, collection)})

    async def update(self, collection: str, stub: Any) -> None:
        item_id = self.rng.choice(self.keys[collection].fixed)
        name = changeable(REGISTRY[collection])
        request = update_request(collection, item_id, {name: secrets.token_hex(4)}, (name,))
        op = Op("update", time.monotonic())
        item = await self.call(op, stub, "Update", collection, request)
        if item is not None:
            op.versions[key_of(collection, item_id)] = version(item)

    async def create(self, collection: str, stub: Any) -> None:
        spec = REGISTRY[collection]
        parents = {
            ref.collection: self.rng.choice(self.keys[ref.collection].fixed) for ref in spec.references
        }
        new_id = "e-" + secrets.token_hex(5)
        request = create_request(collection, valid_fields(spec, parents, new_id), new_id)
        op = Op("create", time.monotonic())
        created = await self.call(op, stub, "Create", collection, request)
        if created is not None:
            op.versions[key_of(collection, new_id)] = version(created)
            self.keys[collection].ephemeral.append(new_id)

    async def delete(self, collection: str, stub: Any) -> None:
        ephemeral = self.keys[collection].ephemeral
        if not ephemeral:
            return
        victim = ephemeral.pop(self.rng.randrange(len(ephemeral)))
        op = Op("delete", time.monotonic())
        op.versions[key_of(collection, victim)] = None
        await self.call(op, stub, "Delete", collection, delete_request(collection, victim))


async def inject(fault: str, redis: RedisProcess) -> None:
    """A third of the way in, kill -9 (or SIGSTOP) the Redis server; a third later, bring it back."""
    import signal

    await asyncio.sleep(DURATION_S / 3)  # the fault's timing within the run, not a synchronisation
    if fault == "kill":
        redis.kill()
    else:
        redis.signal(signal.SIGSTOP)
    await asyncio.sleep(DURATION_S / 3)
    if fault == "kill":
        redis.start()
    else:
        redis.signal(signal.SIGCONT)


async def seed(stubs_: dict[str, Any]) -> dict[str, Keys]:
    """FIXED resources of each collection, parents first; the i-th refers to the i-th of each parent."""
    fixed: dict[str, list[str]] = {}
    for spec in parents_first():
        fixed[spec.collection] = []
        for i in range(FIXED):
            parents = {ref.collection: fixed[ref.collection][i] for ref in spec.references}
            ids = await create_with_parents(stubs_, spec.collection, f"fixed{i}", parents)
            fixed[spec.collection].append(ids[spec.collection])
    return {collection: Keys(ids) for collection, ids in fixed.items()}


async def run_workload(
    addresses: list[str], fault: str = "none", redis: RedisProcess | None = None
) -> list[Op]:
    channels = [grpc.aio.insecure_channel(a) for a in addresses]
    try:
        per_channel = [stubs(c) for c in channels]
        keys = await seed(per_channel[0])
        history: list[Op] = []
        stop = time.monotonic() + DURATION_S
        faults = [inject(fault, redis)] if fault != "none" and redis is not None else []
        workloads = [Workload(per_channel, keys, history) for _ in range(CLIENTS)]
        await asyncio.gather(*(w.run(stop) for w in workloads), *faults)
        return history
    finally:
        for channel in channels:
            await channel.close()


@asynccontextmanager
async def cluster(redis: RedisProcess, tmp: Path, **extra: str) -> AsyncIterator[list[str]]:
    async with fresh_pg_database() as url:
        prefix = f"h{secrets.token_hex(3)}:"
        with (
            replica(url, redis.url, prefix, tmp, **extra) as first,
            replica(url, redis.url, prefix, tmp, WELLSPRING_TEST_REDIS_DELAY_S="0.03", **extra) as second,
        ):
            await wait_serving(first)
            await wait_serving(second)
            yield [first, second]


@pytest.mark.parametrize("fault", ["none", "kill", "stop"])
async def test_history_keeps_the_promise(redis_server: RedisProcess, tmp_path: Path, fault: str) -> None:
    """Also with Redis killed (kill -9, restarted empty) or paused (SIGSTOP/SIGCONT) in the middle:
    zero failed requests and no stale read."""
    async with cluster(redis_server, tmp_path) as addresses:
        history = await run_workload(addresses, fault, redis_server)
    reads = [op for op in history if op.kind in ("get", "batch_get") and op.status == "OK"]
    assert len(history) > 500 and len(reads) > 200, len(history)
    assert_every_collection_taken_part(history)
    failed = [op for op in history if op.status not in ("OK", "NOT_FOUND")]
    assert failed == [], failed[:5]
    violations = check(history)
    print(
        f"history: {len(history)} operations, {len(reads)} Get/BatchGet reads, {len(violations)} violations"
    )
    assert violations == [], violations[:10]


def assert_every_collection_taken_part(history: list[Op]) -> None:
    """Each registered collection was read and written enough for its part of the check to mean something."""
    done = Counter((op.kind, k.partition("/")[0]) for op in history if op.status == "OK" for k in op.versions)
    thin = {
        f"{kind} {spec.collection}": done[kind, spec.collection]
        for spec in REGISTRY
        for kind, least in (("get", 30), ("update", 15), ("create", 2))
        if done[kind, spec.collection] < least
    }
    assert not thin, f"some collections took too little part: {thin}"


async def test_plain_set_fills_break_the_promise_and_the_checker_sees_it(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    async with cluster(redis_server, tmp_path, WELLSPRING_TEST_UNSAFE_PLAIN_FILLS="1") as addresses:
        history = await run_workload(addresses)
    violations = check(history)
    print(f"plain-SET fills: {len(history)} operations, {len(violations)} violations")
    assert violations, "a cache-aside fill with a plain SET must produce stale reads"


def test_the_checker_itself() -> None:
    write = Op("update", 0.0, 1.0, versions={"a": 10})
    fresh = Op("get", 2.0, 3.0, versions={"a": 10})
    stale = Op("get", 2.0, 3.0, versions={"a": 9})
    lost = Op("get", 2.0, 3.0, versions={"a": None})
    concurrent = Op("get", 0.5, 3.0, versions={"a": 9})  # began before the write was acknowledged
    assert check([write, fresh, concurrent]) == []
    assert len(check([write, stale])) == 1 and len(check([write, lost])) == 1
    delete = Op("delete", 4.0, 5.0, versions={"a": None})
    assert len(check([write, delete, Op("get", 6.0, 7.0, versions={"a": 10})])) == 1
