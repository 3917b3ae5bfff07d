"""A user's email is shown only to that user and to admins, on every read path, the cache tier included.

A history-style workload with two principals (and an admin) runs against real server processes: the
embedded default (in-process cache) and two replicas sharing PostgreSQL and a real Redis. Owners change
their own emails while all three read everyone through Get, BatchGet, List (paged, with a read mask,
and searching by someone else's email), Export and Watch, each on a random replica, so that most reads
are cache hits of bytes another principal's read filled. Every user in every response is checked: the
email is there exactly when the reader is that user or an admin.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2_grpc
from wellspring.v1 import watch_service_pb2 as watch_api

from tests.conftest import RedisProcess, fresh_pg_database, sqlite_url_for
from tests.e2e.helpers import details
from tests.e2e.process import ServerProcess
from tests.e2e.tokens import AUTH_ENV, bearer

DURATION_S = 3.0
ENOUGH_CHECKED = 2000  # user messages checked, at least, before the run may end


class Checker:
    """Every user a reader was shown, against who the reader is."""

    def __init__(self, admin: str) -> None:
        self.admin = admin
        self.checked: Counter[str] = Counter()  # by read path
        self.wrong: list[str] = []

    def saw(self, path: str, reader: str, user: pb.User) -> None:
        self.checked[path] += 1
        shown = bool(user.email)
        expected = reader in (self.admin, user.id)
        if shown != expected:
            self.wrong.append(f"{path}: {reader} read {user.id} with email {user.email!r}")

    @property
    def total(self) -> int:
        return sum(self.checked.values())


@pytest.fixture(params=["embedded", pytest.param("postgres-redis", marks=pytest.mark.postgres)])
async def replicas(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[str]]:
    async with AsyncExitStack() as stack:
        env = {"WELLSPRING_RATE_LIMIT": "off"}  # the workload runs past any budget a person would set
        if request.param == "embedded":
            names = ["only"]
            url = sqlite_url_for(tmp_path)
        else:
            names = ["first", "second"]
            redis = RedisProcess(tmp_path)
            redis.start()
            stack.callback(redis.kill)
            url = await stack.enter_async_context(fresh_pg_database())
            env |= {
                "WELLSPRING_REDIS_URL": redis.url,
                "WELLSPRING_CACHE_PREFIX": f"p{secrets.token_hex(3)}:",
                "WELLSPRING_PAGE_TOKEN_SECRET": "privacy-test-secret-0123456789",
            }
        addresses = []
        for name in names:
            server = stack.enter_context(ServerProcess(tmp_path, url, name=name, **AUTH_ENV, **env))
            await server.serving()
            addresses.append(server.address)
        yield addresses


async def test_nobody_reads_anyone_elses_email(replicas: list[str]) -> None:
    tag = secrets.token_hex(3)
    ana, ben, root = f"ana-{tag}", f"ben-{tag}", f"root-{tag}"
    others = [f"u{n}-{tag}" for n in range(6)]
    ids = [ana, ben, *others]
    readers = {ana: bearer(ana, "read write"), ben: bearer(ben, "read write"), root: bearer(root, "admin")}
    checker = Checker(root)
    channels = [grpc.aio.insecure_channel(a) for a in replicas]
    stubs = [user_service_pb2_grpc.UserServiceStub(c) for c in channels]
    watchers = [watch_service_pb2_grpc.WatchServiceStub(c) for c in channels]
    rng = random.Random(tag)

    def stub() -> Any:
        return rng.choice(stubs)

    for n, uid in enumerate(ids):  # display names never start like an email
        user = pb.User(email=f"{uid}@mail.test", display_name=f"Person {n}")
        await stub().CreateUser(api.CreateUserRequest(user=user, user_id=uid), metadata=readers[root])

    async def watch(reader: str, watcher: Any, started: asyncio.Event) -> None:
        request = watch_api.WatchRequest(collections=["users"])
        async for reply in watcher.Watch(request, metadata=readers[reader]):
            started.set()
            for event in reply.events:
                if event.HasField("user"):
                    checker.saw("watch", reader, event.user)

    async def change_email(writer: str, n: int) -> None:
        target = writer if writer != root else rng.choice(others)
        user = pb.User(id=target, email=f"{target}+{n}@mail.test")
        update = api.UpdateUserRequest(user=user, update_mask=FieldMask(paths=["email"]))
        await stub().UpdateUser(update, metadata=readers[writer])

    async def write(writer: str, rounds: Callable[[], bool]) -> None:
        n = 0
        while rounds():
            n += 1
            await change_email(writer, n)

    async def read(reader: str, rounds: Callable[[], bool]) -> None:
        md = readers[reader]
        while rounds():
            path = rng.choice(["get", "get-masked", "batch-get", "list", "search", "export"])
            if path == "get":
                checker.saw(
                    path, reader, await stub().GetUser(api.GetUserRequest(id=rng.choice(ids)), metadata=md)
                )
            elif path == "get-masked":
                masked = api.GetUserRequest(id=rng.choice(ids), read_mask=FieldMask(paths=["id", "email"]))
                checker.saw(path, reader, await stub().GetUser(masked, metadata=md))
            elif path == "batch-get":
                reply = await stub().BatchGetUsers(
                    api.BatchGetUsersRequest(ids=rng.sample(ids, 4)), metadata=md
                )
                for user in reply.users:
                    checker.saw(path, reader, user)
            elif path == "list":
                token = ""
                while True:
                    page = await stub().ListUsers(
                        api.ListUsersRequest(page_size=3, page_token=token), metadata=md
                    )
                    for user in page.users:
                        checker.saw(path, reader, user)
                    token = page.next_page_token
                    if not token:
                        break
            elif path == "search":  # someone's email prefix: only those who may see it find it by it
                target = rng.choice(ids)
                page = await stub().ListUsers(api.ListUsersRequest(query=target), metadata=md)
                for user in page.users:
                    checker.saw(path, reader, user)
                found = target in [u.id for u in page.users]
                if found != (reader == root):
                    checker.wrong.append(f"search: {reader} searched {target}'s email, found: {found}")
            else:
                try:
                    async for chunk in stub().ExportUsers(api.ExportUsersRequest(), metadata=md):
                        for user in chunk.users:
                            checker.saw(path, reader, user)
                except grpc.aio.AioRpcError as error:
                    # Six read loops may export at once; the server runs at most four exports and answers
                    # the others TOO_MANY_EXPORTS (retry shortly), as it should: nothing was read.
                    if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                        raise
                    if details(error)["ErrorInfo"][0].reason != "TOO_MANY_EXPORTS":
                        raise

    started = [asyncio.Event() for _ in readers for _ in watchers]
    watching = [
        asyncio.create_task(watch(reader, watcher, started[i * len(watchers) + j]))
        for i, reader in enumerate(readers)
        for j, watcher in enumerate(watchers)
    ]
    try:
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in started)), 30)
        end = time.monotonic() + DURATION_S

        def rounds() -> bool:
            return time.monotonic() < end or checker.total < ENOUGH_CHECKED

        work = [write(w, rounds) for w in readers] + [read(r, rounds) for r in readers for _ in range(2)]
        await asyncio.wait_for(asyncio.gather(*work), 120)
        # One last write each, then wait until every watcher has seen its event: Watch is checked too.
        seen_before = checker.checked["watch"]
        await change_email(ana, 0)
        deadline = time.monotonic() + 20
        while checker.checked["watch"] < seen_before + len(readers) * len(watchers):
            assert time.monotonic() < deadline, "the watchers did not see the last write"
            await asyncio.sleep(0.05)
    finally:
        for task in watching:
            task.cancel()
        for channel in channels:
            await channel.close()
    assert not checker.wrong, checker.wrong[:10]
    paths = ("get", "get-masked", "batch-get", "list", "search", "export", "watch")
    assert all(checker.checked[p] > 20 for p in paths), checker.checked
