"""Every PostService unary RPC over a real channel, including each error case of DESIGN §2."""

from __future__ import annotations

import secrets

import grpc
import pytest
from google.protobuf import field_mask_pb2, timestamp_pb2
from wellspring.v1 import post_service_pb2 as api
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as uapi

from tests.e2e.helpers import fails, violated_fields

Code = grpc.StatusCode


async def author(users_stub) -> pb.User:  # type: ignore[no-untyped-def]
    n = secrets.token_hex(4)
    return await users_stub.CreateUser(
        uapi.CreateUserRequest(user=pb.User(email=f"{n}@example.com", display_name=f"Author {n}"))
    )


async def test_crud_round_trip(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    a = await author(users_stub)
    created = await posts_stub.CreatePost(
        api.CreatePostRequest(post=pb.Post(author_id=a.id, title="Hi", body="b", tags=["x", "y", "x"]))
    )
    assert list(created.tags) == ["x", "y"]
    assert await posts_stub.GetPost(api.GetPostRequest(id=created.id)) == created
    masked = await posts_stub.GetPost(
        api.GetPostRequest(id=created.id, read_mask=field_mask_pb2.FieldMask(paths=["title", "tags"]))
    )
    assert (masked.title, list(masked.tags), masked.body, masked.id) == ("Hi", ["x", "y"], "", "")
    got = await posts_stub.BatchGetPosts(api.BatchGetPostsRequest(ids=[created.id]))
    assert list(got.posts) == [created]
    updated = await posts_stub.UpdatePost(
        api.UpdatePostRequest(post=pb.Post(id=created.id, tags=["z"], etag=created.etag))
    )
    assert list(updated.tags) == ["z"] and updated.title == "Hi"
    await fails(
        posts_stub.UpdatePost(
            api.UpdatePostRequest(post=pb.Post(id=created.id, title="no", etag=created.etag))
        ),
        Code.ABORTED,
    )
    await fails(posts_stub.DeletePost(api.DeletePostRequest(id=created.id, etag=created.etag)), Code.ABORTED)
    await posts_stub.DeletePost(api.DeletePostRequest(id=created.id, etag=updated.etag))
    await fails(posts_stub.GetPost(api.GetPostRequest(id=created.id)), Code.NOT_FOUND)
    await fails(posts_stub.DeletePost(api.DeletePostRequest(id=created.id)), Code.NOT_FOUND)


async def test_create_errors(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    found = await fails(
        posts_stub.CreatePost(api.CreatePostRequest(post=pb.Post(author_id="nobody-here", title="t"))),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(found) == ["post.author_id"]
    a = await author(users_stub)
    found = await fails(
        posts_stub.CreatePost(
            api.CreatePostRequest(post=pb.Post(author_id=a.id, title="", tags=[f"t{i}" for i in range(21)]))
        ),
        Code.INVALID_ARGUMENT,
    )
    assert set(violated_fields(found)) == {"post.title", "post.tags"}
    first = await posts_stub.CreatePost(
        api.CreatePostRequest(
            post=pb.Post(author_id=a.id, title="t"), post_id="fixed-" + secrets.token_hex(3)
        )
    )
    await fails(
        posts_stub.CreatePost(
            api.CreatePostRequest(post=pb.Post(author_id=a.id, title="t"), post_id=first.id)
        ),
        Code.ALREADY_EXISTS,
    )


async def test_list_filters_and_pagination(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    a, b = await author(users_stub), await author(users_stub)
    tag = "tag-" + secrets.token_hex(3)
    made = []
    for i in range(5):
        owner = a if i % 2 == 0 else b
        post = pb.Post(author_id=owner.id, title=f"T{i}", tags=[tag] if i < 4 else [])
        made.append(await posts_stub.CreatePost(api.CreatePostRequest(post=post)))
    by_a = await posts_stub.ListPosts(api.ListPostsRequest(author_id=a.id))
    assert [p.id for p in by_a.posts] == [made[0].id, made[2].id, made[4].id]
    tagged, token = [], ""
    while True:
        page = await posts_stub.ListPosts(api.ListPostsRequest(tag=tag, page_size=3, page_token=token))
        tagged += [p.id for p in page.posts]
        token = page.next_page_token
        if not token:
            break
    assert tagged == [p.id for p in made[:4]]
    window = await posts_stub.ListPosts(
        api.ListPostsRequest(
            tag=tag,
            create_time_after=made[0].create_time,
            create_time_before=made[3].create_time,
            order_by="title desc",
        )
    )
    assert [p.id for p in window.posts] == [made[2].id, made[1].id]


async def test_list_invalid_arguments(posts_stub) -> None:  # type: ignore[no-untyped-def]
    cases = {
        "author_id": api.ListPostsRequest(author_id="Bad!"),
        "create_time_after": api.ListPostsRequest(create_time_after=timestamp_pb2.Timestamp(seconds=10**12)),
        "create_time_before": api.ListPostsRequest(
            create_time_after=timestamp_pb2.Timestamp(seconds=100),
            create_time_before=timestamp_pb2.Timestamp(seconds=5),
        ),
        "order_by": api.ListPostsRequest(order_by="body"),
        "tag": api.ListPostsRequest(tag="t" * 51),
        "page_size": api.ListPostsRequest(page_size=-5),
    }
    for field, request in cases.items():
        found = await fails(posts_stub.ListPosts(request), Code.INVALID_ARGUMENT)
        assert field in violated_fields(found), (field, found)


async def test_request_id_idempotency(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    a = await author(users_stub)
    rid = secrets.token_hex(6)
    post = pb.Post(author_id=a.id, title="once")
    first = await posts_stub.CreatePost(api.CreatePostRequest(post=post, request_id=rid))
    assert await posts_stub.CreatePost(api.CreatePostRequest(post=post, request_id=rid)) == first
    listed = await posts_stub.ListPosts(api.ListPostsRequest(author_id=a.id))
    assert len(listed.posts) == 1


async def test_update_mask_rules_and_upsert(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    a = await author(users_stub)
    created = await posts_stub.CreatePost(
        api.CreatePostRequest(post=pb.Post(author_id=a.id, title="t", body="b"))
    )
    found = await fails(
        posts_stub.UpdatePost(
            api.UpdatePostRequest(
                post=pb.Post(id=created.id), update_mask=field_mask_pb2.FieldMask(paths=["id"])
            )
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(found) == ["update_mask"]
    found = await fails(
        posts_stub.UpdatePost(api.UpdatePostRequest(post=pb.Post(id=created.id, author_id="ghost-user"))),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(found) == ["post.author_id"]
    new_id = "upsert-" + secrets.token_hex(3)
    upserted = await posts_stub.UpdatePost(
        api.UpdatePostRequest(post=pb.Post(id=new_id, author_id=a.id, title="new"), allow_missing=True)
    )
    assert upserted.id == new_id


async def test_a_cached_not_found_does_not_outlive_the_create(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    """NOT_FOUND is cached briefly; the create that follows must replace it before it is acknowledged."""
    a = await author(users_stub)
    post_id = "later-" + secrets.token_hex(3)
    for _ in range(2):
        await fails(posts_stub.GetPost(api.GetPostRequest(id=post_id)), Code.NOT_FOUND)
    created = await posts_stub.CreatePost(
        api.CreatePostRequest(post=pb.Post(author_id=a.id, title="now"), post_id=post_id)
    )
    assert await posts_stub.GetPost(api.GetPostRequest(id=post_id)) == created
    got = await posts_stub.BatchGetPosts(api.BatchGetPostsRequest(ids=[post_id]))
    assert list(got.posts) == [created]


async def test_create_takes_the_id_set_in_the_resource(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    """Issue 10: ``post.id`` was ignored and a new id chosen; both ids set and different is refused."""
    a = await author(users_stub)
    chosen = "p-" + secrets.token_hex(5)
    created = await posts_stub.CreatePost(
        api.CreatePostRequest(post=pb.Post(id=chosen, author_id=a.id, title="In body"))
    )
    assert created.id == chosen and (await posts_stub.GetPost(api.GetPostRequest(id=chosen))) == created
    differ = api.CreatePostRequest(post=pb.Post(id="p-one", author_id=a.id, title="x"), post_id="p-two")
    found = await fails(posts_stub.CreatePost(differ), Code.INVALID_ARGUMENT)
    assert set(violated_fields(found)) == {"post_id", "post.id"}


async def test_a_stale_etag_is_called_stale(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    a = await author(users_stub)
    created = await posts_stub.CreatePost(api.CreatePostRequest(post=pb.Post(author_id=a.id, title="One")))
    updated = await posts_stub.UpdatePost(api.UpdatePostRequest(post=pb.Post(id=created.id, title="Two")))
    stale = api.UpdatePostRequest(post=pb.Post(id=created.id, title="Three", etag=created.etag))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await posts_stub.UpdatePost(stale)
    assert info.value.code() == Code.ABORTED
    assert info.value.details() == (
        f'etag "{created.etag}" is stale: post {created.id} was changed since '
        f'(current etag "{updated.etag}"); read it again'
    )
