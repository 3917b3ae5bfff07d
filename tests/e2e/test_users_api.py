"""Every UserService unary RPC over a real channel, including each error case of DESIGN §2."""

from __future__ import annotations

import secrets

import grpc
import pytest
from google.protobuf import field_mask_pb2
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api

from tests.e2e.helpers import fails, violated_fields

Code = grpc.StatusCode


def uid() -> str:
    return "t-" + secrets.token_hex(5)


async def make_user(stub, **kw) -> pb.User:  # type: ignore[no-untyped-def]
    n = secrets.token_hex(4)
    user = pb.User(email=f"{n}@example.com", display_name=f"User {n}", **kw)
    return await stub.CreateUser(api.CreateUserRequest(user=user, user_id=uid()))


async def test_create_get_round_trip(users_stub) -> None:  # type: ignore[no-untyped-def]
    created = await make_user(users_stub, bio="hello")
    got = await users_stub.GetUser(api.GetUserRequest(id=created.id))
    assert got == created
    assert got.etag and got.create_time.seconds > 0 and got.update_time == got.create_time


async def test_get_with_read_mask(users_stub) -> None:  # type: ignore[no-untyped-def]
    created = await make_user(users_stub)
    got = await users_stub.GetUser(
        api.GetUserRequest(id=created.id, read_mask=field_mask_pb2.FieldMask(paths=["id", "email"]))
    )
    assert (got.id, got.email, got.display_name, got.HasField("create_time")) == (
        created.id,
        created.email,
        "",
        False,
    )
    found = await fails(
        users_stub.GetUser(
            api.GetUserRequest(id=created.id, read_mask=field_mask_pb2.FieldMask(paths=["nope"]))
        ),
        Code.INVALID_ARGUMENT,
    )
    assert violated_fields(found) == ["read_mask"]


async def test_get_missing_and_invalid_id(users_stub) -> None:  # type: ignore[no-untyped-def]
    found = await fails(users_stub.GetUser(api.GetUserRequest(id="no-such-user")), Code.NOT_FOUND)
    assert found["ErrorInfo"][0].reason == "RESOURCE_NOT_FOUND"
    assert found["ResourceInfo"][0].resource_name == "no-such-user"
    found = await fails(users_stub.GetUser(api.GetUserRequest(id="Bad Id!")), Code.INVALID_ARGUMENT)
    assert violated_fields(found) == ["id"]


async def test_batch_get_order_and_missing(users_stub) -> None:  # type: ignore[no-untyped-def]
    a, b = await make_user(users_stub), await make_user(users_stub)
    got = await users_stub.BatchGetUsers(api.BatchGetUsersRequest(ids=[b.id, a.id, b.id]))
    assert [u.id for u in got.users] == [b.id, a.id, b.id]
    found = await fails(
        users_stub.BatchGetUsers(api.BatchGetUsersRequest(ids=[a.id, "gone-1", "gone-2"])), Code.NOT_FOUND
    )
    assert found["ErrorInfo"][0].metadata["missing_ids"] == "gone-1,gone-2"
    assert [r.resource_name for r in found["ResourceInfo"]] == ["gone-1", "gone-2"]


async def test_batch_get_limits(users_stub) -> None:  # type: ignore[no-untyped-def]
    await fails(users_stub.BatchGetUsers(api.BatchGetUsersRequest(ids=[])), Code.INVALID_ARGUMENT)
    found = await fails(
        users_stub.BatchGetUsers(api.BatchGetUsersRequest(ids=["a"] * 1001)), Code.INVALID_ARGUMENT
    )
    assert violated_fields(found) == ["ids"]
    # 1000 missing ids still produce a NOT_FOUND whose details fit in the trailers
    found = await fails(
        users_stub.BatchGetUsers(api.BatchGetUsersRequest(ids=[f"m{'x' * 59}{i:03d}" for i in range(1000)])),
        Code.NOT_FOUND,
    )
    assert found["ErrorInfo"][0].metadata["missing_count"] == "1000"


async def test_list_pages_filters_and_tokens(users_stub) -> None:  # type: ignore[no-untyped-def]
    prefix = "zq" + secrets.token_hex(3)
    ids = set()
    for i in range(7):
        user = pb.User(email=f"{prefix}{i}@example.com", display_name=f"Listed {i}")
        ids.add((await users_stub.CreateUser(api.CreateUserRequest(user=user))).id)
    seen, token, pages = [], "", 0
    while True:
        page = await users_stub.ListUsers(
            api.ListUsersRequest(
                page_size=3, page_token=token, query=prefix.upper(), order_by="display_name desc"
            )
        )
        seen += [u.id for u in page.users]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert set(seen) == ids and len(seen) == 7 and pages == 3

    first = await users_stub.ListUsers(api.ListUsersRequest(page_size=2, query=prefix))
    for other in (
        api.ListUsersRequest(page_token=first.next_page_token, query=prefix + "x"),
        api.ListUsersRequest(page_token=first.next_page_token, query=prefix, order_by="display_name"),
        api.ListUsersRequest(page_token=first.next_page_token[:-3] + "AAA", query=prefix),
        api.ListUsersRequest(page_token="garbage", query=prefix),
    ):
        found = await fails(users_stub.ListUsers(other), Code.INVALID_ARGUMENT)
        assert violated_fields(found) == ["page_token"]
    found = await fails(users_stub.ListUsers(api.ListUsersRequest(page_size=-1)), Code.INVALID_ARGUMENT)
    assert violated_fields(found) == ["page_size"]
    found = await fails(users_stub.ListUsers(api.ListUsersRequest(order_by="bio")), Code.INVALID_ARGUMENT)
    assert violated_fields(found) == ["order_by"]


async def test_create_errors(users_stub) -> None:  # type: ignore[no-untyped-def]
    existing = await make_user(users_stub)
    dup_id = api.CreateUserRequest(
        user=pb.User(email="fresh1@example.com", display_name="x"), user_id=existing.id
    )
    found = await fails(users_stub.CreateUser(dup_id), Code.ALREADY_EXISTS)
    assert found["ErrorInfo"][0].metadata["field"] == "id"
    dup_email = api.CreateUserRequest(user=pb.User(email=existing.email.upper(), display_name="x"))
    found = await fails(users_stub.CreateUser(dup_email), Code.ALREADY_EXISTS)
    assert found["ErrorInfo"][0].metadata["field"] == "email"
    bad = api.CreateUserRequest(user=pb.User(email="nope", display_name=""), user_id="UPPER")
    found = await fails(users_stub.CreateUser(bad), Code.INVALID_ARGUMENT)
    assert set(violated_fields(found)) == {"user.email", "user.display_name", "user_id"}


async def test_create_is_idempotent_by_request_id(users_stub) -> None:  # type: ignore[no-untyped-def]
    request_id = secrets.token_hex(8)
    user = pb.User(email=f"{request_id}@example.com", display_name="Idem")
    first = await users_stub.CreateUser(api.CreateUserRequest(user=user, request_id=request_id))
    again = await users_stub.CreateUser(api.CreateUserRequest(user=user, request_id=request_id))
    assert again == first
    other = pb.User(email=f"x{request_id}@example.com", display_name="Idem")
    found = await fails(
        users_stub.CreateUser(api.CreateUserRequest(user=other, request_id=request_id)), Code.INVALID_ARGUMENT
    )
    assert found["ErrorInfo"][0].reason == "REQUEST_ID_REUSED"


async def test_update_semantics(users_stub) -> None:  # type: ignore[no-untyped-def]
    created = await make_user(users_stub, bio="before")
    updated = await users_stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=created.id, bio="after")))
    assert (updated.bio, updated.display_name) == ("after", created.display_name)
    assert updated.etag != created.etag and updated.create_time == created.create_time

    masked = await users_stub.UpdateUser(
        api.UpdateUserRequest(
            user=pb.User(id=created.id, display_name="Renamed", bio="ignored"),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    )
    assert (masked.display_name, masked.bio) == ("Renamed", "after")

    found = await fails(
        users_stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=created.id, bio="x", etag=created.etag))),
        Code.ABORTED,
    )
    assert found["PreconditionFailure"][0].violations[0].type == "ETAG"
    assert (await users_stub.GetUser(api.GetUserRequest(id=created.id))).bio == "after"

    for path in ("etag", "create_time", "bogus"):
        found = await fails(
            users_stub.UpdateUser(
                api.UpdateUserRequest(
                    user=pb.User(id=created.id), update_mask=field_mask_pb2.FieldMask(paths=[path])
                )
            ),
            Code.INVALID_ARGUMENT,
        )
        assert violated_fields(found) == ["update_mask"]

    replaced = await users_stub.UpdateUser(
        api.UpdateUserRequest(
            user=pb.User(id=created.id, email=created.email, display_name="Only"),
            update_mask=field_mask_pb2.FieldMask(paths=["*"]),
        )
    )
    assert (replaced.display_name, replaced.bio) == ("Only", "")


async def test_update_missing_and_upsert(users_stub) -> None:  # type: ignore[no-untyped-def]
    ghost = uid()
    await fails(users_stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=ghost, bio="x"))), Code.NOT_FOUND)
    user = pb.User(id=ghost, email=f"{ghost}@example.com", display_name="Upserted")
    created = await users_stub.UpdateUser(api.UpdateUserRequest(user=user, allow_missing=True))
    assert created.id == ghost and created.etag


async def test_update_to_taken_email_is_already_exists(users_stub) -> None:  # type: ignore[no-untyped-def]
    a, b = await make_user(users_stub), await make_user(users_stub)
    await fails(
        users_stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=b.id, email=a.email))),
        Code.ALREADY_EXISTS,
    )


async def test_delete_semantics(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    from wellspring.v1 import post_service_pb2 as papi

    user = await make_user(users_stub)
    post = await posts_stub.CreatePost(papi.CreatePostRequest(post=pb.Post(author_id=user.id, title="t")))
    found = await fails(users_stub.DeleteUser(api.DeleteUserRequest(id=user.id)), Code.FAILED_PRECONDITION)
    assert found["PreconditionFailure"][0].violations[0].type == "HAS_POSTS"
    found = await fails(users_stub.DeleteUser(api.DeleteUserRequest(id=user.id, etag="stale")), Code.ABORTED)
    await users_stub.DeleteUser(api.DeleteUserRequest(id=user.id, etag=user.etag, force=True))
    await fails(users_stub.GetUser(api.GetUserRequest(id=user.id)), Code.NOT_FOUND)
    await fails(posts_stub.GetPost(papi.GetPostRequest(id=post.id)), Code.NOT_FOUND)
    await fails(users_stub.DeleteUser(api.DeleteUserRequest(id=user.id)), Code.NOT_FOUND)
    await users_stub.DeleteUser(api.DeleteUserRequest(id=user.id, allow_missing=True))


@pytest.mark.parametrize("method", ["GetUser", "CreateUser", "ListUsers", "DeleteUser"])
async def test_undecodable_bytes_are_invalid_argument(channel, method: str) -> None:  # type: ignore[no-untyped-def]
    call = channel.unary_unary(f"/wellspring.v1.UserService/{method}")
    found = await fails(call(b"\x0a\xff\xff\xff\xff\x0f"), Code.INVALID_ARGUMENT)
    assert found["ErrorInfo"][0].reason == "MALFORMED_REQUEST"


async def test_oversized_message_is_rejected(users_stub) -> None:  # type: ignore[no-untyped-def]
    huge = pb.User(email="a@b.co", display_name="x", bio="b" * (5 * 1024 * 1024))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users_stub.CreateUser(api.CreateUserRequest(user=huge))
    assert info.value.code() == Code.RESOURCE_EXHAUSTED


async def test_huge_invalid_input_still_gets_invalid_argument_with_details(users_stub) -> None:  # type: ignore[no-untyped-def]
    """Found by the fuzzer: quoting 30 unknown 5000-character paths overflowed the client's trailer limit."""
    created = await make_user(users_stub)
    request = api.UpdateUserRequest(
        user=pb.User(id=created.id), update_mask=field_mask_pb2.FieldMask(paths=["x" * 5000] * 30)
    )
    found = await fails(users_stub.UpdateUser(request), Code.INVALID_ARGUMENT)
    assert violated_fields(found)[0] == "update_mask"


async def test_a_cached_not_found_does_not_outlive_the_create(users_stub) -> None:  # type: ignore[no-untyped-def]
    user_id = uid()
    for _ in range(2):
        await fails(users_stub.GetUser(api.GetUserRequest(id=user_id)), Code.NOT_FOUND)
    created = await users_stub.CreateUser(
        api.CreateUserRequest(
            user=pb.User(email=f"{user_id}@example.com", display_name="Late"), user_id=user_id
        )
    )
    assert await users_stub.GetUser(api.GetUserRequest(id=user_id)) == created


async def test_create_takes_the_id_set_in_the_resource(users_stub) -> None:  # type: ignore[no-untyped-def]
    """Issue 10: ``user.id`` was ignored, a new id chosen, and a Get of the id sent failed."""
    chosen, n = uid(), secrets.token_hex(4)
    created = await users_stub.CreateUser(
        api.CreateUserRequest(user=pb.User(id=chosen, email=f"{n}@example.com", display_name="In body"))
    )
    assert created.id == chosen
    assert (await users_stub.GetUser(api.GetUserRequest(id=chosen))) == created

    same = pb.User(id=uid(), email=f"b{n}@example.com", display_name="Both")
    both = await users_stub.CreateUser(api.CreateUserRequest(user=same, user_id=same.id))
    assert both.id == same.id
    differ = api.CreateUserRequest(
        user=pb.User(id=uid(), email=f"c{n}@example.com", display_name="x"), user_id=uid()
    )
    found = await fails(users_stub.CreateUser(differ), Code.INVALID_ARGUMENT)
    assert set(violated_fields(found)) == {"user_id", "user.id"}
    bad = api.CreateUserRequest(user=pb.User(id="UPPER", email=f"d{n}@example.com", display_name="x"))
    assert violated_fields(await fails(users_stub.CreateUser(bad), Code.INVALID_ARGUMENT)) == ["user.id"]


async def test_a_replayed_create_after_an_update_says_its_etag_is_stale(users_stub) -> None:  # type: ignore[no-untyped-def]
    """AIP-155: the replay is the original response; the Update with its etag must say it is stale
    (it said "was changed concurrently")."""
    request_id, chosen = secrets.token_hex(8), uid()
    user = pb.User(email=f"{request_id}@example.com", display_name="Replayed")
    first = await users_stub.CreateUser(
        api.CreateUserRequest(user=user, user_id=chosen, request_id=request_id)
    )
    updated = await users_stub.UpdateUser(api.UpdateUserRequest(user=pb.User(id=chosen, bio="since")))
    replay = await users_stub.CreateUser(
        api.CreateUserRequest(user=user, user_id=chosen, request_id=request_id)
    )
    assert replay == first  # the same response as the first time, not the current resource
    stale = api.UpdateUserRequest(user=pb.User(id=chosen, bio="again", etag=replay.etag))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await users_stub.UpdateUser(stale)
    message = info.value.details()
    assert info.value.code() == Code.ABORTED
    assert message == (
        f'etag "{first.etag}" is stale: user {chosen} was changed since (current etag "{updated.etag}"); '
        "read it again"
    )
    found = await fails(
        users_stub.DeleteUser(api.DeleteUserRequest(id=chosen, etag=first.etag)), Code.ABORTED
    )
    violation = found["PreconditionFailure"][0].violations[0]
    assert (violation.type, violation.subject) == ("ETAG", f"user/{chosen}")
    assert "is stale" in violation.description and "concurrent" not in violation.description
