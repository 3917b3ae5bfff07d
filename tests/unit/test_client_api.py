"""The SDK's public surface is a contract with the code already written against it: the names of the
first release stay importable, and every per-collection method of it keeps accepting the parameters it
accepted then, on the async client and on the sync facade alike (pinned here from release 0.1's code)."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest

import wellspring_client
from tests.client_fakes import ClientEnv
from wellspring_client import CacheOptions, ChannelOptions, SyncWellspringClient, Timing, WellspringClient

FIRST_RELEASE_NAMES = {
    "Aborted", "AlreadyExists", "CacheStats", "Cancelled", "ChangeEvent", "Conflict", "DeadlineExceeded",
    "Export", "FailedPrecondition", "GrpcTransport", "ImportFailure", "ImportResult", "InvalidArgument",
    "Key", "NotFound", "OutOfRange", "Page", "PermissionDenied", "Post", "ResourceExhausted", "RetryPolicy",
    "ServerError", "SyncExport", "SyncWellspringClient", "Transport", "Unauthenticated", "Unavailable",
    "User", "WellspringClient", "WellspringError", "__version__",
}  # fmt: skip

# Each method of the first release and the parameters it took (besides self), from its signature.
FIRST_RELEASE_METHODS = {
    "get_user": "id read_mask timeout allow_stale",
    "batch_get_users": "ids read_mask timeout",
    "list_users_page": "page_size page_token query order_by read_mask timeout",
    "list_users": "page_size query order_by read_mask timeout",
    "create_user": "user user_id request_id timeout",
    "update_user": "user update_mask allow_missing optimistic timeout",
    "delete_user": "id etag force allow_missing timeout",
    "import_users": "users chunk_size timeout",
    "export_users": "query read_mask timeout",
    "get_post": "id read_mask timeout allow_stale",
    "batch_get_posts": "ids read_mask timeout",
    "list_posts_page": "page_size page_token author_id tag create_time_after create_time_before order_by "
    "read_mask timeout",
    "list_posts": "page_size author_id tag create_time_after create_time_before order_by read_mask timeout",
    "create_post": "post post_id request_id timeout",
    "update_post": "post update_mask allow_missing optimistic timeout",
    "delete_post": "id etag allow_missing timeout",
    "import_posts": "posts chunk_size timeout",
    "export_posts": "author_id tag create_time_after create_time_before read_mask timeout",
    "user_key": "id",
    "post_key": "id",
    "prefetch_user": "id",
    "prefetch_post": "id",
    "cached_user": "id",
    "cached_post": "id",
    "watch": "collections ids start_revision",
    "invalidate": "prefix",
    "subscribe": "key callback",
    "prefetch": "reads",
}  # fmt: skip


def accepted(method: Callable[..., Any]) -> set[str]:
    """The parameter names ``method`` takes, with the keys of an ``**options: Unpack[TypedDict]``."""
    names = set()
    for name, parameter in inspect.signature(method).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            unpacked = typing.get_args(typing.get_type_hints(method, include_extras=True)[name])[0]
            names |= set(typing.get_type_hints(unpacked))
        elif name != "self":
            names.add(name)
    return names


def test_the_first_releases_names_are_still_exported() -> None:
    assert FIRST_RELEASE_NAMES <= set(wellspring_client.__all__)
    assert all(hasattr(wellspring_client, name) for name in wellspring_client.__all__)


@pytest.mark.parametrize("client", [WellspringClient, SyncWellspringClient], ids=["async", "sync"])
@pytest.mark.parametrize("name", sorted(FIRST_RELEASE_METHODS))
def test_the_first_releases_methods_take_the_parameters_they_took(client: type, name: str) -> None:
    method = getattr(client, name)
    assert set(FIRST_RELEASE_METHODS[name].split()) <= accepted(method)
    assert inspect.getdoc(method), f"{client.__name__}.{name} has no docstring"


async def test_option_objects_and_their_fields_given_by_name(env: ClientEnv) -> None:
    """``caching=CacheOptions(...)`` and ``stale_after_s=...`` are two spellings of one setting; a name
    overrides the object's field, and an unknown name is a TypeError."""
    env.fake.put_user("ada")
    timing = Timing(clock=env.clock, sleep=env.sleep, rng=lambda: 0.5)
    by_object = WellspringClient(transport=env.fake, caching=CacheOptions(stale_after_s=0), timing=timing)
    by_name = WellspringClient(
        transport=env.fake, caching=CacheOptions(stale_after_s=60), stale_after_s=0, timing=timing
    )
    kept = WellspringClient(transport=env.fake, caching=CacheOptions(stale_after_s=60), timing=timing)
    try:
        for client, fresh in ((by_object, False), (by_name, False), (kept, True)):
            await client.users.get("ada")
            assert (client.users.cached("ada") is not None) is fresh, client
    finally:
        for client in (by_object, by_name, kept):
            await client.close()
    with pytest.raises(TypeError, match="stale_after"):
        WellspringClient(transport=env.fake, stale_after=1)  # type: ignore[call-arg]
    assert ChannelOptions(metadata=(("x", "1"),)).metadata == (("x", "1"),)
