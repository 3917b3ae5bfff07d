"""The client SDK against a real server over a real channel: on the embedded default (SQLite, in-process
cache tier) and on PostgreSQL with a real redis-server. RPCs are counted on the server's side."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme

from service.bootstrap import App
from tests.conftest import RedisProcess, fresh_pg_database, sqlite_url_for, start_app
from wellspring_client import (
    AlreadyExists,
    Comment,
    CommentFilter,
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Post,
    PostFilter,
    RetryPolicy,
    SyncWellspringClient,
    Unavailable,
    User,
    WellspringClient,
)


@dataclass
class Deployment:
    """A running server and how to start it again on the same port, database and Redis."""

    app: App
    url: str
    overrides: dict[str, object]

    @property
    def target(self) -> str:
        return self.app.address

    def rpcs(self, method: str) -> int:
        return sum(n for (name, _), n in self.app.interceptor.calls.items() if name.endswith(f"/{method}"))

    async def restart(self) -> None:
        address = self.app.address
        await self.app.stop(0)
        self.app = await start_app(self.url, **(self.overrides | {"addr": address}))


@pytest.fixture(params=["embedded", pytest.param("postgres_redis", marks=pytest.mark.postgres)])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    async with AsyncExitStack() as stack:
        overrides: dict[str, object] = {}
        if request.param == "embedded":
            url = sqlite_url_for(tmp_path)
        else:
            redis = RedisProcess(tmp_path)
            redis.start()
            stack.callback(redis.kill)
            url = await stack.enter_async_context(fresh_pg_database())
            overrides = {"redis_url": redis.url, "cache_prefix": f"t{secrets.token_hex(4)}:"}
        deployed = Deployment(await start_app(url, **overrides), url, overrides)
        try:
            yield deployed
        finally:
            await deployed.app.stop(0)


def new_user(n: int | str = "") -> User:
    tag = f"{secrets.token_hex(3)}{n}"
    return User(email=f"{tag}@example.com", display_name=f"User {tag}")


async def until(check: Callable[[], bool], timeout_s: float) -> float:
    """Poll ``check`` (a few µs) until true; the time it took. Fails at the deadline."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout_s, f"not within {timeout_s * 1000:.0f} ms"
        await asyncio.sleep(0.001)  # a poll with a deadline
    return time.monotonic() - started


async def test_a_thousand_concurrent_gets_of_one_id_cost_one_rpc(deployment: Deployment) -> None:
    async with WellspringClient(deployment.target) as writer, WellspringClient(deployment.target) as client:
        user = await writer.create_user(new_user())
        deployment.app.interceptor.calls.clear()
        results = await asyncio.gather(*(client.get_user(user.id) for _ in range(1000)))
        assert {r.id for r in results} == {user.id} and results[0] == user
        assert deployment.rpcs("GetUser") + deployment.rpcs("BatchGetUsers") == 1
        assert client.stats.dedup == 999
        again = client.get_user(user.id)
        assert again.done()  # type: ignore[attr-defined] -- a fresh hit: no RPC, no yield
        assert await again == user and deployment.rpcs("GetUser") + deployment.rpcs("BatchGetUsers") == 1


async def test_a_hundred_concurrent_gets_of_distinct_ids_cost_one_batch_get(deployment: Deployment) -> None:
    async with WellspringClient(deployment.target) as writer, WellspringClient(deployment.target) as client:
        users = [await writer.create_user(new_user(n)) for n in range(101)]
        deployment.app.interceptor.calls.clear()
        assert await asyncio.gather(*(client.get_user(u.id) for u in users[:100])) == users[:100]
        assert (deployment.rpcs("BatchGetUsers"), deployment.rpcs("GetUser")) == (1, 0)
        assert (client.stats.batches, client.stats.batched_ids) == (1, 100)

        # A missing id fails alone: its NOT_FOUND names it, and the others are asked for again.
        missing = f"missing-{secrets.token_hex(4)}"
        results = await asyncio.gather(
            client.get_user(users[100].id), client.get_user(missing), return_exceptions=True
        )
        assert results[0] == users[100]
        assert isinstance(results[1], NotFound) and results[1].resource_names == [missing]
        assert (deployment.rpcs("BatchGetUsers"), deployment.rpcs("GetUser")) == (2, 1)


async def test_a_write_by_another_client_reaches_the_cache_through_watch_within_100_ms(
    deployment: Deployment,
) -> None:
    async with (
        WellspringClient(deployment.target, watch=True, stale_after_s=60) as reader,
        WellspringClient(deployment.target) as writer,
    ):
        await asyncio.wait_for(reader.watch_live.wait(), 10)
        user = await writer.create_user(new_user())
        assert (await reader.get_user(user.id)).bio == ""
        rpcs = reader.stats.rpcs
        latencies = []
        for n in range(5):
            updated = await writer.update_user(User(id=user.id, bio=f"edit {n}"))
            latencies.append(await until(lambda u=updated: reader.cached_user(user.id) == u, 0.1))
        assert reader.stats.rpcs == rpcs  # the Watch brought the new values, not a re-read
        deleted_at = time.monotonic()
        await writer.delete_user(user.id)
        await until(lambda: reader.cached_user(user.id) is None, 0.1)
        with pytest.raises(NotFound):
            await reader.get_user(user.id)
        assert max(latencies) < 0.1 and time.monotonic() - deleted_at < 1


async def test_with_watch_the_first_read_is_kept_and_the_same_read_again_costs_no_rpc(
    deployment: Deployment,
) -> None:
    """Issue 10: the first get went out before the cache's Watch was live; going live dropped its answer
    (or made it stale), so the same get again cost a second RPC. Each round is a new client."""
    async with WellspringClient(deployment.target) as writer:
        user = await writer.create_user(new_user())
    for _ in range(5):
        deployment.app.interceptor.calls.clear()
        async with WellspringClient(deployment.target, watch=True, stale_after_s=60) as client:
            assert await client.get_user(user.id) == user
            await asyncio.wait_for(client.watch_live.wait(), 10)
            assert await client.get_user(user.id) == user
            stats = client.stats
            assert (stats.misses, stats.hits, stats.stale_hits, stats.guard_drops) == (1, 1, 0, 0)
        assert deployment.rpcs("GetUser") + deployment.rpcs("BatchGetUsers") == 1


async def test_a_server_restart_mid_session_serves_no_wrong_data_and_the_watch_resumes(
    deployment: Deployment,
) -> None:
    reconnect = asyncio.Event()

    async def held_until_allowed(_: float) -> None:  # the reader's backoff waits for the test
        await reconnect.wait()

    async with WellspringClient(
        deployment.target, watch=True, stale_after_s=60, sleep=held_until_allowed
    ) as reader:
        await asyncio.wait_for(reader.watch_live.wait(), 10)
        async with WellspringClient(deployment.target) as writer:
            user = await writer.create_user(new_user())
        assert await reader.get_user(user.id) == user
        await deployment.restart()
        await until(lambda: not reader.watch_live.is_set(), 5)
        async with WellspringClient(deployment.target) as writer:  # a fresh channel: no reconnect backoff
            # A write the reader's broken Watch has not seen: the resumed Watch must deliver it, not
            # start from "now" and miss it.
            changed = await writer.update_user(User(id=user.id, bio="written while the watch was down"))
            assert reader.cached_user(user.id) is None  # not vouched for while the Watch is down
            reconnect.set()
            await asyncio.wait_for(reader.watch_live.wait(), 10)
            await until(lambda: reader.cached_user(user.id) == changed, 5)
            assert reader.stats.watch_reconnects >= 1
            assert await reader.get_user(user.id) == changed
            later = await writer.update_user(User(id=user.id, bio="after the restart"))
            await until(lambda: reader.cached_user(user.id) == later, 1)


async def test_typed_calls_and_errors_end_to_end(deployment: Deployment) -> None:
    async with WellspringClient(deployment.target) as client:
        ada = await client.create_user(new_user("ada"), user_id=f"ada-{secrets.token_hex(3)}")
        with pytest.raises(AlreadyExists):
            await client.create_user(new_user(), user_id=ada.id)
        with pytest.raises(InvalidArgument) as invalid:
            await client.create_user(User(email="not-an-email", display_name=""))
        assert {f for f, _ in invalid.value.field_violations} == {"user.email", "user.display_name"}
        assert invalid.value.reason and invalid.value.details
        with pytest.raises(Conflict):
            await client.update_user(User(id=ada.id, bio="x", etag="stale-etag"))

        post = await client.create_post(Post(author_id=ada.id, title="Hello", tags=("a", "b")))
        assert post.tags == ("a", "b") and post.create_time is not None
        assert [p.id async for p in client.list_posts(author_id=ada.id)] == [post.id]
        ids = [(await client.create_user(new_user(n))).id for n in range(7)]
        listed = [u.id async for u in client.list_users(page_size=3)]
        assert set(ids) <= set(listed) and len(listed) == len(set(listed))
        assert await client.batch_get_users(ids[:3]) == [client.cached_user(i) for i in ids[:3]]

        export = client.export_users()
        exported = [u async for u in export]
        assert {u.id for u in exported} == set(listed) and export.revision is not None and export.revision > 0
        result = await client.import_users(
            [User(id=ada.id, email=ada.email, display_name="Ada"), User(id="x")]
        )
        assert (result.updated, result.failed) == (1, 1) and result.failures[0].index == 1
        assert (await client.get_user(ada.id)).display_name == "Ada"  # the import invalidated the cache

        await client.delete_user(ada.id, force=True)
        with pytest.raises(NotFound):
            await client.get_post(post.id)


async def test_every_method_of_the_comments_resource_client(deployment: Deployment) -> None:
    """The third collection through the SDK's generic layer: each method of ``client.comments``, the
    delete rules of its parents, and a second client's cache kept coherent by Watch."""
    async with (
        WellspringClient(deployment.target) as client,
        WellspringClient(deployment.target, watch=True) as watcher,
    ):
        author = await client.users.create(new_user("author"))
        post = await client.posts.create(Post(author_id=author.id, title="On bugs"))
        first = await client.comments.create(Comment(post_id=post.id, author_id=author.id, body="One"))
        second = await client.comments.create(
            Comment(post_id=post.id, author_id=author.id, body="Two"), id=f"c-{secrets.token_hex(3)}"
        )
        assert first.create_time is not None and first.etag and second.id.startswith("c-")
        with pytest.raises(InvalidArgument) as invalid:
            await client.comments.create(Comment(post_id="no-such-post", author_id=author.id, body=""))
        assert {f for f, _ in invalid.value.field_violations} >= {"comment.body"}

        assert await watcher.comments.get(first.id) == first
        rpcs = deployment.rpcs("GetComment")
        assert await watcher.comments.get(first.id) == first and deployment.rpcs("GetComment") == rpcs
        assert await client.comments.batch_get([second.id, first.id]) == [second, first]
        newest_first = [
            c.id
            async for c in client.comments.list(CommentFilter(post_id=post.id), order_by="create_time desc")
        ]
        assert newest_first == [second.id, first.id]
        page = await client.comments.list_page(CommentFilter(author_id=author.id), page_size=1)
        assert page.items == (first,) and page.next_page_token
        export = client.comments.export(CommentFilter(post_id=post.id))
        assert [c.id async for c in export] == [first.id, second.id] and export.revision

        edited = await client.comments.update(Comment(id=first.id, body="One, edited", etag=first.etag))
        assert edited.body == "One, edited" and edited.etag != first.etag
        await until(lambda: watcher.comments.cached(first.id) == edited, 5)  # the Watch replaced it
        with pytest.raises(Conflict):
            await client.comments.update(Comment(id=first.id, body="late", etag=first.etag))
        result = await client.comments.import_items(
            [dataclasses.replace(edited, body="Imported", etag=""), Comment(id="bad", post_id=post.id)]
        )
        assert (result.updated, result.failed) == (1, 1) and result.failures[0].index == 1
        assert (await client.comments.get(first.id)).body == "Imported"

        with pytest.raises(FailedPrecondition) as refused:
            await client.posts.delete(post.id)
        assert refused.value.reason == "POST_HAS_COMMENTS"
        with pytest.raises(ValueError):
            await client.comments.delete(second.id, force=True)  # comments own nothing
        await client.comments.delete(second.id)
        await client.users.delete(author.id, force=True)  # the post and the last comment with it
        for read in (client.comments.get(first.id), client.posts.get(post.id)):
            with pytest.raises(NotFound):
                await read
        await until(lambda: watcher.comments.cached(first.id) is None, 5)
        assert [p async for p in client.posts.list(PostFilter(author_id=author.id))] == []


async def test_create_takes_the_id_of_the_resource_when_no_id_argument_is_given(
    deployment: Deployment,
) -> None:
    """Issue 10: ``create_user(User(id="x", ...))`` created another id, and a get of x was NotFound."""
    async with WellspringClient(deployment.target) as writer, WellspringClient(deployment.target) as reader:
        chosen = f"id-{secrets.token_hex(4)}"
        created = await writer.create_user(dataclasses.replace(new_user(), id=chosen))
        assert created.id == chosen and await reader.get_user(chosen) == created
        post = await writer.create_post(Post(id=f"{chosen}-p", author_id=chosen, title="Mine"))
        assert post.id == f"{chosen}-p" and await reader.get_post(post.id) == post
        with pytest.raises(InvalidArgument) as info:
            await writer.create_user(dataclasses.replace(new_user(), id="one"), user_id="two")
        assert {f for f, _ in info.value.field_violations} == {"user_id", "user.id"}


async def test_the_sync_facade(deployment: Deployment) -> None:
    def session() -> tuple[User, User, list[str], list[str], int | None]:
        with SyncWellspringClient(deployment.target) as client:
            created = client.create_user(new_user())
            fetched = client.get_user(created.id)
            export = client.export_users()
            exported = [u.id for u in export]
            return created, fetched, [u.id for u in client.list_users(page_size=2)], exported, export.revision

    created, fetched, listed, exported, revision = await asyncio.to_thread(session)
    assert fetched == created and created.id in listed and exported == listed
    assert revision is not None and revision > 0

    def comments(author: str) -> tuple[Comment, Comment | None, list[str]]:
        with SyncWellspringClient(deployment.target) as client:
            post = client.posts.create(Post(author_id=author, title="Sync"))
            said = client.comments.create(Comment(post_id=post.id, author_id=author, body="Hi"))
            return (
                said,
                client.comments.cached(said.id),
                [c.id for c in client.comments.list(CommentFilter(post_id=post.id))],
            )

    said, cached, on_post = await asyncio.to_thread(comments, created.id)
    assert cached == said and on_post == [said.id]


async def test_tls_and_call_credentials_pass_through(tmp_path: Path) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("localhost")
    key, chain = tmp_path / "key.pem", tmp_path / "chain.pem"
    issued.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    app = await start_app(sqlite_url_for(tmp_path), tls_cert_file=str(chain), tls_key_file=str(key))
    asked: list[str] = []

    class Token(grpc.AuthMetadataPlugin):
        def __call__(
            self, context: grpc.AuthMetadataContext, callback: grpc.AuthMetadataPluginCallback
        ) -> None:
            asked.append(context.method_name)
            callback((("authorization", "Bearer test-token"),), None)

    try:
        async with WellspringClient(
            app.address,
            credentials=grpc.ssl_channel_credentials(ca.cert_pem.bytes()),
            call_credentials=grpc.metadata_call_credentials(Token()),
            channel_options=[("grpc.ssl_target_name_override", "localhost")],
        ) as client:
            user = await client.create_user(new_user())
            assert await client.get_user(user.id, read_mask=["id", "email"]) == User(
                id=user.id, email=user.email
            )
        assert asked == ["CreateUser", "GetUser"]  # the token went with every call
        async with WellspringClient(app.address, timeout_s=2, retry=RetryPolicy(attempts=1)) as plaintext:
            with pytest.raises(Unavailable):  # a plaintext client cannot talk to a TLS port
                await plaintext.get_user(user.id)
    finally:
        await app.stop(0)
