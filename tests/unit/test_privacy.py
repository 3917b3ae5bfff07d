"""Private fields cut from serialized resources: the fast path and the scan agree with the decoded message
for any user; the owner's own reads return the cached bytes untouched (the same object, nothing read);
a non-owner's cut reads no further than the private field; filters leave private fields out for those
who may not see them; the change feed hands each watcher its variant."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from hypothesis import given
from hypothesis import strategies as st
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as users_api

from service.api import auth
from service.api.bindings import BINDINGS
from service.api.privacy import PrivateFields
from service.api.resources import ResourceApi
from service.changes.feed import FeedEvent
from service.domain.models import Principal
from service.domain.specs import PUBLIC, REGISTRY, CollectionSpec

USERS = REGISTRY["users"]
PRIVATE = PrivateFields(USERS, pb.User)
ADA = Principal("ada", frozenset({"read"}), 0.0)
ROOT = Principal("root", frozenset({"admin"}), 0.0)

text = st.text(st.characters(codec="utf-8"), max_size=300)
users = st.builds(
    pb.User,
    id=st.from_regex(r"[a-z0-9-]{1,63}", fullmatch=True),
    email=text,
    display_name=text,
    bio=text,
    create_time=st.builds(Timestamp, seconds=st.integers(0, 2**40), nanos=st.integers(0, 999_999_999)),
    etag=text,
)


def without_email(user: pb.User) -> pb.User:
    public = pb.User()
    public.CopyFrom(user)
    public.ClearField("email")
    return public


@given(users, st.sampled_from(["ada", "someone-else", "root"]))
def test_every_user_is_cut_as_the_decoded_message_would_be(user: pb.User, who: str) -> None:
    payload = user.SerializeToString()
    fast, scanned = PRIVATE.locate(payload), PRIVATE._scan(payload)
    assert fast == scanned and fast[0] == user.id
    viewer = ROOT if who == "root" else Principal(who, frozenset({"read"}), 0.0)
    shown = PRIVATE.view(payload, viewer)
    if who == "root" or who == user.id:
        assert shown is payload
    else:
        assert pb.User.FromString(shown) == without_email(user)
    public = PRIVATE.public(payload)
    assert (public is None) == (user.email == "")
    if public is not None:
        assert public == (user.id, without_email(user).SerializeToString())


@given(users)
def test_any_field_order_is_cut_by_the_scan(user: pb.User) -> None:
    """Protobuf parsers take fields in any order: bytes not written by SerializeToString (reversed here)
    still lose every private field, through the scan."""
    parts = [pb.User(**{f.name: v}).SerializeToString() for f, v in user.ListFields()]
    payload = b"".join(reversed(parts))
    shown = PRIVATE.view(payload, ADA if user.id != "ada" else Principal("bob", frozenset(), 0.0))
    assert pb.User.FromString(shown) == without_email(user)


def test_the_cut_reads_no_further_than_the_private_field() -> None:
    """Bytes after the email are not looked at: here they would not even parse."""
    head = pb.User(id="bob", email="bob@example.com").SerializeToString()
    junk = b"\xff\xff\xff\xff"
    assert PRIVATE.view(head + junk, ADA) == pb.User(id="bob").SerializeToString() + junk


def test_a_private_field_must_be_a_writable_non_owner_string() -> None:
    with pytest.raises(ValueError, match="private"):
        dataclasses.replace(USERS, private=("id",))
    with pytest.raises(ValueError, match="private"):
        dataclasses.replace(USERS, private=("etag",))
    with pytest.raises(ValueError, match="only private"):
        dataclasses.replace(USERS, filters=(dataclasses.replace(USERS.filters[0], fields=("email",)),))


def test_filters_leave_private_fields_out_for_who_may_not_see_them() -> None:
    assert USERS.public_filter("query") == f"query{PUBLIC}"
    assert USERS.filter(f"query{PUBLIC}").fields == ("display_name",)
    assert USERS.filter("query").fields == ("display_name", "email")
    posts: CollectionSpec[Any, Any] = REGISTRY["posts"]
    assert posts.public_filter("tag") == "tag" and not posts.private


class _Handlers:
    def __init__(self, payloads: dict[str, bytes]) -> None:
        self.payloads = payloads

    async def get_encoded(self, resource_id: str, deadline: float | None) -> bytes:
        return self.payloads[resource_id]

    async def batch_get_encoded(self, ids: list[str], deadline: float | None, max_bytes: int) -> list[bytes]:
        return [self.payloads[i] for i in ids]


class _Context:
    def time_remaining(self) -> None:
        return None


def _api(payloads: dict[str, bytes]) -> ResourceApi:
    return ResourceApi(BINDINGS["users"], _Handlers(payloads), max_response_bytes=1 << 20, export_max_s=1)  # type: ignore[arg-type]


async def _as(viewer: Principal | None, call: Any) -> Any:
    async def run() -> Any:
        auth._principal.set(viewer)
        return await call

    return await asyncio.create_task(run())  # its own context, as each call has


async def test_the_owners_get_is_the_cached_bytes_untouched() -> None:
    """Not a copy and not parsed: the owner's own Get (and BatchGet item) answers the very bytes object
    the cache returned; a 'payload' that is not a User at all shows that nothing read it."""
    unreadable = b"\xff\xfe not a user"
    bob = pb.User(id="bob", email="bob@example.com", display_name="Bob").SerializeToString()
    api = _api({"ada": unreadable, "bob": bob})
    mine = await _as(ADA, api.get(users_api.GetUserRequest(id="ada"), _Context()))  # type: ignore[arg-type]
    assert mine.data is unreadable
    theirs = await _as(ADA, api.get(users_api.GetUserRequest(id="bob"), _Context()))  # type: ignore[arg-type]
    assert pb.User.FromString(theirs.data) == pb.User(id="bob", display_name="Bob")
    for viewer in (None, ROOT):  # authentication off, or an admin: everything
        shown = await _as(viewer, api.get(users_api.GetUserRequest(id="bob"), _Context()))  # type: ignore[arg-type]
        assert shown.data is bob
    batch = await _as(ADA, api.batch_get(users_api.BatchGetUsersRequest(ids=["bob"]), _Context()))  # type: ignore[arg-type]
    assert users_api.BatchGetUsersResponse.FromString(batch.data).users[0].email == ""


def test_each_watcher_gets_its_variant_of_an_event() -> None:
    event = FeedEvent(7, "users", "bob", b"whole", "bob", b"public")
    assert event.shown_to(None) == b"whole" and event.shown_to(ROOT) == b"whole"
    assert event.shown_to(Principal("bob", frozenset(), 0.0)) == b"whole"
    assert event.shown_to(ADA) == b"public"
    plain = FeedEvent(8, "posts", "p1", b"post")
    assert plain.shown_to(ADA) == b"post"
