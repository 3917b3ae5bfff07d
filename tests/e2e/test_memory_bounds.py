"""A real server process under read-only memory attacks (issue 9, part 2): its RSS stays under a stated
bound while the attack runs, and comes back near its baseline afterwards.

- 100 ListUsers calls with page sizes 1001, 1002, … (all meaning 1000) over pages of ~1.4 MB: keyed by the
  normalised request and too large to cache, they are not stored once per spelling; the smaller distinct
  pages mixed in are cached within the budget.
- ListPosts (4 at a time, page_size 1000) and BatchGetPosts over 400 kB posts: only what fits in the
  response is read from the database; a BatchGet refused as too large reads (and caches) nothing.
- 80 ListUsers calls over Redis, half of them distinct pages worth caching: what List caching puts in
  Redis is bounded in bytes per replica (WELLSPRING_CACHE_LIST_MAX_BYTES).

Data is seeded by an in-process server on the same SQLite file before the measured process starts, so its
baseline is a fresh server's. Peaks are the kernel's VmHWM, reset (``clear_refs`` 5) after the warm-up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
import redis.asyncio as redis
from wellspring.v1 import post_service_pb2 as post_api
from wellspring.v1 import post_service_pb2_grpc, user_service_pb2_grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as user_api

from tests.conftest import RedisProcess, sqlite_url_for, start_app
from tests.e2e.helpers import fails
from tests.e2e.process import ServerProcess, memory_kb

MIB = 1024  # kB
PEAK_MIB = 64  # allowed growth of peak RSS over the baseline while an attack runs
AFTER_MIB = 24  # allowed growth of RSS over the baseline once the attack is over
USERS = 1000
BIO = "b" * 1300  # a page of 1000 users is ~1.4 MB: within the 4 MiB response limit, over the page cap
POSTS = 160
BODY = "\U0001d11e" * 100_000  # 400 kB of UTF-8: the most a post body may hold (100 000 characters)


async def _seed(url: str, *, users: int = 0, posts: int = 0) -> None:
    """Users (and posts by the first of them) through an in-process server with no cache."""
    app = await start_app(url, cache_enabled=False)
    try:
        async with grpc.aio.insecure_channel(app.address) as channel:
            user_stub = user_service_pb2_grpc.UserServiceStub(channel)
            people = [
                pb.User(id=f"u{n:05d}", email=f"u{n}@example.com", display_name=f"User {n}", bio=BIO)
                for n in range(users)
            ]
            reply = await user_stub.ImportUsers(iter([user_api.ImportUsersRequest(users=people)]))
            assert reply.created_count == users
            post_stub = post_service_pb2_grpc.PostServiceStub(channel)
            for start in range(0, posts, 8):
                batch = [
                    pb.Post(id=f"p{n:05d}", author_id="u00000", title=f"Post {n}", body=BODY)
                    for n in range(start, min(posts, start + 8))
                ]
                reply = await post_stub.ImportPosts(iter([post_api.ImportPostsRequest(posts=batch)]))
                assert reply.created_count == len(batch), reply
    finally:
        await app.stop(0)


def _reset_peak(server: ServerProcess) -> None:
    Path(f"/proc/{server.pid}/clear_refs").write_text("5")


async def _settled_rss(server: ServerProcess, ceiling_kb: int, deadline_s: float = 5.0) -> int:
    """RSS once it is at most ``ceiling_kb``, or the last figure when the deadline passes."""
    deadline = time.monotonic() + deadline_s
    while True:
        rss = server.rss_kb()
        if rss <= ceiling_kb or time.monotonic() > deadline:
            return rss
        await asyncio.sleep(0.1)


async def _measured(server: ServerProcess, attack: Callable[[], Awaitable[None]]) -> tuple[int, int, int]:
    """(baseline, peak, after) RSS in kB around ``attack``."""
    baseline = server.rss_kb()
    _reset_peak(server)
    await attack()
    peak = memory_kb(server.pid, "VmHWM")
    after = await _settled_rss(server, baseline + AFTER_MIB * MIB)
    return baseline, peak, after


def _check(figures: tuple[int, int, int], what: str) -> None:
    baseline, peak, after = figures
    print(f"{what}: baseline {baseline // MIB} MiB, peak {peak // MIB} MiB, after {after // MIB} MiB")
    assert peak - baseline <= PEAK_MIB * MIB, f"{what}: peak {peak // MIB} MiB over {baseline // MIB} MiB"
    assert after - baseline <= AFTER_MIB * MIB, f"{what}: {after // MIB} MiB after, {baseline // MIB} before"


async def _gather_bounded(calls: list[Callable[[], Awaitable[Any]]], parallel: int) -> None:
    queue = list(reversed(calls))

    async def worker() -> None:
        while queue:
            await queue.pop()()

    await asyncio.gather(*(worker() for _ in range(parallel)))


def _page_sizes(calls: int, every: int = 15) -> list[int]:
    """1001, 1002, … (one page of all 1000 users, spelled differently), and every ``every``-th call a
    smaller page of 300-700 users (distinct pages of 0.4-1 MB, each worth caching on its own)."""
    return [300 + (n * 5) % 400 if n % every == 0 else 1001 + n for n in range(calls)]


async def _list_users_attack(address: str, calls: int = 300, every: int = 15) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)

        def one(size: int) -> Callable[[], Awaitable[Any]]:
            async def call() -> None:
                page = await stub.ListUsers(user_api.ListUsersRequest(page_size=size), timeout=30)
                assert len(page.users) == min(size, USERS)

            return call

        await _gather_bounded([one(size) for size in _page_sizes(calls, every)], parallel=4)


@pytest.fixture(scope="module")
async def users_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """One seeded database for the module's tests (each server only reads it)."""
    url = sqlite_url_for(tmp_path_factory.mktemp("users"))
    await _seed(url, users=USERS)
    yield url


@pytest.fixture(scope="module")
async def posts_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    url = sqlite_url_for(tmp_path_factory.mktemp("posts"))
    await _seed(url, users=1, posts=POSTS)
    yield url


async def test_list_pages_under_many_page_sizes_stay_within_the_cache_budget(
    tmp_path: Path, users_url: str
) -> None:
    with ServerProcess(tmp_path, users_url) as server:
        await server.serving()
        await _list_users_attack(server.address, calls=20)  # warm-up: code paths, pools, allocator
        _check(await _measured(server, lambda: _list_users_attack(server.address, 100)), "ListUsers x100")


async def test_list_posts_reads_only_the_rows_that_fit_in_the_response(
    tmp_path: Path, posts_url: str
) -> None:
    with ServerProcess(tmp_path, posts_url) as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = post_service_pb2_grpc.PostServiceStub(channel)
            sizes = iter(range(1001, 2000))  # a new spelling of 1000 each time: no cached page helps

            async def list_posts() -> None:
                for _ in range(2):
                    pages = await asyncio.gather(
                        *(stub.ListPosts(post_api.ListPostsRequest(page_size=next(sizes))) for _ in range(4))
                    )
                    assert all(0 < len(p.posts) <= 10 and p.next_page_token for p in pages)

            await list_posts()  # warm-up
            _check(await _measured(server, list_posts), "ListPosts x8 over 400 kB posts")


async def test_a_batch_get_refused_as_too_large_reads_and_caches_nothing(
    tmp_path: Path, posts_url: str
) -> None:
    ids = [f"p{n:05d}" for n in range(POSTS)]
    with ServerProcess(tmp_path, posts_url) as server:
        await server.serving()
        async with grpc.aio.insecure_channel(server.address) as channel:
            stub = post_service_pb2_grpc.PostServiceStub(channel)

            async def batch_get() -> None:
                for _ in range(3):
                    found = await fails(
                        stub.BatchGetPosts(post_api.BatchGetPostsRequest(ids=ids)),
                        grpc.StatusCode.INVALID_ARGUMENT,
                    )
                    assert found["ErrorInfo"][0].reason == "RESPONSE_TOO_LARGE"

            await stub.GetPost(post_api.GetPostRequest(id=ids[0]))  # warm-up
            _check(await _measured(server, batch_get), "BatchGetPosts of 160 x 400 kB posts")
            small = await stub.BatchGetPosts(post_api.BatchGetPostsRequest(ids=ids[:8]))
            assert [p.id for p in small.posts] == ids[:8]


async def test_list_caching_puts_a_bounded_number_of_bytes_in_redis(
    tmp_path: Path, users_url: str, redis_server: RedisProcess
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    try:
        with ServerProcess(tmp_path, users_url, WELLSPRING_REDIS_URL=redis_server.url) as server:
            await server.serving()
            await _list_users_attack(server.address, calls=4)
            before = (await client.info("memory"))["used_memory"]
            # half of the calls are distinct pages of 0.4-1 MB (~30 MB of them): the bound must hold
            await _list_users_attack(server.address, calls=80, every=2)
            grown = (await client.info("memory"))["used_memory"] - before
            print(f"Redis used_memory grew by {grown // 1024} kB")
            # WELLSPRING_CACHE_LIST_MAX_BYTES (16 MiB) plus jemalloc's rounding in Redis (up to ~1/4)
            assert grown <= 22 * 1024 * 1024, grown
    finally:
        await client.aclose()


async def test_spellings_of_one_list_request_share_one_cached_page(users_url: str) -> None:
    app = await start_app(users_url)
    try:
        assert app.cache is not None
        async with grpc.aio.insecure_channel(app.address) as channel:
            stub = user_service_pb2_grpc.UserServiceStub(channel)
            spellings = [
                user_api.ListUsersRequest(page_size=0, order_by="create_time"),  # 0 means 50
                user_api.ListUsersRequest(page_size=50, order_by="create_time  ASC"),
                user_api.ListUsersRequest(page_size=50, order_by=" create_time asc "),
            ]
            pages = [await stub.ListUsers(request) for request in spellings]
        assert all(page == pages[0] for page in pages) and len(pages[0].users) == 50
        assert (app.cache.counters["list_misses"], app.cache.counters["list_hits"]) == (1, 2)
    finally:
        await app.stop(0)
