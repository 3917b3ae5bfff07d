"""Races that the database constraints and row locks must settle, on both backends."""

from __future__ import annotations

import asyncio
import secrets

import grpc
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api


async def test_concurrent_retries_of_one_request_id_create_one_user(users_stub) -> None:  # type: ignore[no-untyped-def]
    request_id = secrets.token_hex(8)
    user = pb.User(email=f"{request_id}@example.com", display_name="Racer")
    results = await asyncio.gather(
        *(users_stub.CreateUser(api.CreateUserRequest(user=user, request_id=request_id)) for _ in range(20))
    )
    assert len({r.id for r in results}) == 1
    listed = await users_stub.ListUsers(api.ListUsersRequest(query=request_id))
    assert [u.id for u in listed.users] == [results[0].id]


async def test_concurrent_creates_with_one_email_let_exactly_one_win(users_stub) -> None:  # type: ignore[no-untyped-def]
    email = f"{secrets.token_hex(6)}@example.com"
    calls = [
        users_stub.CreateUser(api.CreateUserRequest(user=pb.User(email=email, display_name=f"N{i}")))
        for i in range(10)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    wins = [o for o in outcomes if isinstance(o, pb.User)]
    losses = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(wins) == 1 and len(losses) == 9
    assert {e.code() for e in losses} == {grpc.StatusCode.ALREADY_EXISTS}


async def test_concurrent_updates_with_one_etag_let_exactly_one_win(users_stub) -> None:  # type: ignore[no-untyped-def]
    n = secrets.token_hex(4)
    user = await users_stub.CreateUser(
        api.CreateUserRequest(user=pb.User(email=f"{n}@example.com", display_name="Etag"))
    )
    calls = [
        users_stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=user.id, bio=f"b{i}", etag=user.etag)))
        for i in range(10)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    wins = [o for o in outcomes if isinstance(o, pb.User)]
    losses = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(wins) == 1 and {e.code() for e in losses} == {grpc.StatusCode.ABORTED}
    assert (await users_stub.GetUser(api.GetUserRequest(id=user.id))).bio == wins[0].bio


async def test_forced_user_delete_racing_post_writes_never_fails_internally(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    """Found in review: DeleteUser(force) and UpdatePost/DeletePost took row locks in opposite orders and
    PostgreSQL's deadlock came back INTERNAL. Now one lock order, and conflicts are retried."""
    from wellspring.v1 import post_service_pb2 as papi

    codes: set[grpc.StatusCode] = set()
    for _ in range(15):
        n = secrets.token_hex(4)
        author = await users_stub.CreateUser(
            api.CreateUserRequest(user=pb.User(email=f"{n}@example.com", display_name="D"))
        )
        posts = [
            await posts_stub.CreatePost(
                papi.CreatePostRequest(post=pb.Post(author_id=author.id, title="t", tags=["a", "b", "c"]))
            )
            for _ in range(6)
        ]
        calls = [users_stub.DeleteUser(api.DeleteUserRequest(id=author.id, force=True))]
        for post in posts:
            calls.append(
                posts_stub.UpdatePost(papi.UpdatePostRequest(post=pb.Post(id=post.id, tags=["x", "y"])))
            )
            calls.append(posts_stub.DeletePost(papi.DeletePostRequest(id=post.id)))
        for outcome in await asyncio.gather(*calls, return_exceptions=True):
            codes.add(outcome.code() if isinstance(outcome, grpc.aio.AioRpcError) else grpc.StatusCode.OK)
    assert codes <= {grpc.StatusCode.OK, grpc.StatusCode.NOT_FOUND}, codes


async def test_concurrent_upserts_of_one_new_id_all_succeed(users_stub) -> None:  # type: ignore[no-untyped-def]
    """AIP-134 allow_missing: the losers of the race to create become updates, not ALREADY_EXISTS."""
    new_id = "upsert-" + secrets.token_hex(4)
    calls = [
        users_stub.UpdateUser(
            api.UpdateUserRequest(
                user=pb.User(id=new_id, email=f"{new_id}@example.com", display_name=f"V{i}"),
                allow_missing=True,
            )
        )
        for i in range(8)
    ]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, pb.User) for o in outcomes), outcomes
