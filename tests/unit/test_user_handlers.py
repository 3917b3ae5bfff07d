"""User use cases against the in-memory fakes and a fake clock."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from service.cache.stores import MemoryStore
from service.cache.tier import CacheTier
from service.config import DEFAULTS
from service.domain.commands import CreateItem, DeleteItem, ImportItem, ListItems, UpdateItem
from service.domain.errors import AlreadyExists, EtagMismatch, FailedPrecondition, InvalidInput, NotFound
from service.domain.models import Post, User, UserFields
from service.domain.specs import REGISTRY
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from tests.fakes import FakeDatabase, encode

UserHandlers = ResourceHandlers[User, UserFields]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000_000_000

    def __call__(self) -> int:
        self.now += 1000
        return self.now


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def users(db: FakeDatabase) -> UserHandlers:
    return make_users(db, CacheTier(MemoryStore()))


def make_users(db: FakeDatabase, cache: CacheTier | None = None) -> UserHandlers:
    """The users' use cases over ``db``, with a fake clock."""
    return ResourceHandlers(
        REGISTRY["users"], db, PageTokens(b"k" * 32), encode=encode, cache=cache, clock=FakeClock()
    )


def fields(n: int = 1, **kw: str) -> UserFields:
    return UserFields(**({"email": f"u{n}@example.com", "display_name": f"User {n}"} | kw))


async def test_create_then_get(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields(), chosen_id="alice"))
    assert (await users.get("alice")) == created
    assert created.version >= created.create_time_us == created.update_time_us


async def test_create_generates_valid_id(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields()))
    assert created.id and len(created.id) <= 63 and created.id == created.id.lower()


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (UserFields("", "Name"), "user.email"),
        (UserFields("not-an-email", "Name"), "user.email"),
        (UserFields("a@b.co", ""), "user.display_name"),
        (UserFields("a@b.co", "x" * 101), "user.display_name"),
        (UserFields("a@b.co", "Name", "b" * 2001), "user.bio"),
        (UserFields("a@b.co", "Na\x00me"), "user.display_name"),
    ],
)
async def test_create_rejects_invalid_fields(users: UserHandlers, given: UserFields, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await users.create(CreateItem(given))
    assert field in [v.field for v in info.value.violations]


async def test_create_rejects_bad_client_id(users: UserHandlers) -> None:
    with pytest.raises(InvalidInput) as info:
        await users.create(CreateItem(fields(), chosen_id="Not_Valid"))
    assert info.value.violations[0].field == "user_id"


async def test_duplicate_id_and_email_case_insensitive(users: UserHandlers) -> None:
    await users.create(CreateItem(fields(1), chosen_id="a"))
    with pytest.raises(AlreadyExists):
        await users.create(CreateItem(fields(2), chosen_id="a"))
    with pytest.raises(AlreadyExists) as info:
        await users.create(CreateItem(fields(2, email="U1@EXAMPLE.com")))
    assert info.value.field_name == "email"


async def test_request_id_replays_original_and_rejects_other_payload(
    users: UserHandlers, db: FakeDatabase
) -> None:
    first = await users.create(CreateItem(fields(), request_id="req-1"))
    again = await users.create(CreateItem(fields(), request_id="req-1"))
    assert again == first and len(db.state.items["users"]) == 1
    with pytest.raises(InvalidInput) as info:
        await users.create(CreateItem(fields(2), request_id="req-1"))
    assert info.value.reason == "REQUEST_ID_REUSED"


async def test_update_mask_absent_means_set_fields(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields(bio="old"), chosen_id="a"))
    updated = await users.update(UpdateItem("a", UserFields(bio="new")))
    assert (updated.bio, updated.display_name) == ("new", "User 1") and updated.version > created.version


async def test_update_star_replaces_everything(users: UserHandlers) -> None:
    await users.create(CreateItem(fields(bio="old"), chosen_id="a"))
    updated = await users.update(UpdateItem("a", fields(2), update_mask=("*",)))
    assert (updated.email, updated.bio) == ("u2@example.com", "")


@pytest.mark.parametrize("path", ["create_time", "etag", "id", "nonsense"])
async def test_update_rejects_output_only_and_unknown_paths(users: UserHandlers, path: str) -> None:
    await users.create(CreateItem(fields(), chosen_id="a"))
    with pytest.raises(InvalidInput) as info:
        await users.update(UpdateItem("a", fields(), update_mask=(path,)))
    assert info.value.violations[0].field == "update_mask"


async def test_update_with_stale_etag_aborts_and_changes_nothing(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields(), chosen_id="a"))
    await users.update(UpdateItem("a", UserFields(bio="one"), etag=created.etag))
    with pytest.raises(EtagMismatch):
        await users.update(UpdateItem("a", UserFields(bio="two"), etag=created.etag))
    assert (await users.get("a")).bio == "one"


async def test_a_stale_etag_is_named_stale_with_the_current_one(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields(), chosen_id="a"))
    updated = await users.update(UpdateItem("a", UserFields(bio="one")))
    with pytest.raises(EtagMismatch) as info:
        await users.delete(DeleteItem("a", etag=created.etag))
    expected = f'etag "{created.etag}" is stale: user a was changed since (current etag "{updated.etag}")'
    assert info.value.message == f"{expected}; read it again"
    assert info.value.violations[0].description.startswith(f'etag "{created.etag}" is stale')

    async def items() -> AsyncIterator[ImportItem[UserFields]]:
        yield ImportItem(0, "a", fields(), etag=created.etag)
        yield ImportItem(1, "ghost", fields(2), etag=created.etag)

    result = await users.import_items(items())
    messages = [f.error.message for f in result.failures]
    assert messages == [
        f"{expected}; read it again",
        f'etag "{created.etag}" is stale: user ghost does not exist; read it again',
    ]


async def test_create_takes_the_id_in_the_resource_unless_user_id_differs(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields(), id_in_body="in-body"))
    assert created.id == "in-body" and await users.get("in-body") == created
    assert (await users.create(CreateItem(fields(2), chosen_id="both", id_in_body="both"))).id == "both"
    with pytest.raises(InvalidInput) as info:
        await users.create(CreateItem(fields(3), chosen_id="one", id_in_body="two"))
    assert [v.field for v in info.value.violations] == ["user_id", "user.id"]


async def test_noop_update_keeps_version(users: UserHandlers) -> None:
    created = await users.create(CreateItem(fields(), chosen_id="a"))
    assert await users.update(UpdateItem("a", UserFields(display_name="User 1"))) == created


async def test_noop_update_leaves_the_tombstone_of_the_version_it_acknowledges(
    users: UserHandlers, db: FakeDatabase
) -> None:
    """Issue 18: the version a no-op acknowledges was committed by another writer whose tombstone may
    not have reached the cache (still on its way, or lost with its process)."""
    await users.create(CreateItem(fields(), chosen_id="a"))
    await users.get_encoded("a")  # cached
    other = make_users(db)
    newer = await other.update(UpdateItem("a", UserFields(bio="newer")))  # committed, not invalidated
    assert await users.update(UpdateItem("a", UserFields(bio="newer"))) == newer  # nothing to change
    assert await users.get_encoded("a") == encode(newer)


async def test_a_replayed_create_leaves_the_tombstone_of_what_it_acknowledges(
    users: UserHandlers, db: FakeDatabase
) -> None:
    """Issue 18: a Create retried with its request_id (the SDK does so after UNAVAILABLE from a replica
    that was stopping) replays a result whose first attempt may have died before its tombstone."""
    with pytest.raises(NotFound):
        await users.get_encoded("a")  # NOT_FOUND, cached
    other = make_users(db)
    first = await other.create(CreateItem(fields(), chosen_id="a", request_id="r1"))  # not invalidated
    assert await users.create(CreateItem(fields(), chosen_id="a", request_id="r1")) == first  # replayed
    assert await users.get_encoded("a") == encode(first)


async def test_import_of_an_unchanged_item_leaves_its_tombstone(
    users: UserHandlers, db: FakeDatabase
) -> None:
    await users.create(CreateItem(fields(), chosen_id="a"))
    await users.get_encoded("a")  # cached
    other = make_users(db)
    newer = await other.update(UpdateItem("a", UserFields(bio="newer")))  # committed, not invalidated

    async def items() -> AsyncIterator[ImportItem[UserFields]]:
        yield ImportItem(0, "a", UserFields(newer.email, newer.display_name, newer.bio))

    result = await users.import_items(items())
    assert (result.created, result.updated, result.failures) == (0, 1, [])
    assert await users.get_encoded("a") == encode(newer)


async def test_update_missing_and_allow_missing(users: UserHandlers) -> None:
    with pytest.raises(NotFound):
        await users.update(UpdateItem("ghost", fields()))
    created = await users.update(UpdateItem("ghost", fields(), allow_missing=True))
    assert created.id == "ghost" and (await users.get("ghost")) == created


async def test_delete_with_posts_needs_force(users: UserHandlers, db: FakeDatabase) -> None:
    await users.create(CreateItem(fields(), chosen_id="a"))
    db.state.items["posts"]["p"] = Post("p", "a", "t", "", (), 1, 1, 1)
    with pytest.raises(FailedPrecondition):
        await users.delete(DeleteItem("a"))
    await users.delete(DeleteItem("a", force=True))
    assert db.state.items["posts"] == {} and db.state.items["users"] == {}


async def test_delete_etag_and_allow_missing(users: UserHandlers) -> None:
    await users.create(CreateItem(fields(), chosen_id="a"))
    with pytest.raises(EtagMismatch):
        await users.delete(DeleteItem("a", etag="stale"))
    await users.delete(DeleteItem("a"))
    with pytest.raises(NotFound):
        await users.delete(DeleteItem("a"))
    await users.delete(DeleteItem("a", allow_missing=True))


async def test_batch_get_keeps_order_and_names_missing(users: UserHandlers) -> None:
    for n in (1, 2, 3):
        await users.create(CreateItem(fields(n), chosen_id=f"u{n}"))
    got = await users.batch_get(["u3", "u1", "u3"])
    assert [u.id for u in got] == ["u3", "u1", "u3"]
    with pytest.raises(NotFound) as info:
        await users.batch_get(["u1", "x", "y", "x"])
    assert info.value.ids == ("x", "y")


@pytest.mark.parametrize("ids", [[], ["a"] * 1001, ["BAD"]])
async def test_batch_get_limits(users: UserHandlers, ids: list[str]) -> None:
    with pytest.raises(InvalidInput):
        await users.batch_get(ids)


async def test_list_pages_through_everything_once(users: UserHandlers) -> None:
    for n in range(7):
        await users.create(CreateItem(fields(n), chosen_id=f"u{n}"))
    seen, token = [], ""
    while True:
        page, token = await users.list_items(
            ListItems(page_size=3, page_token=token, order_by="display_name desc")
        )
        seen += [u.id for u in page]
        if not token:
            break
    assert seen == [f"u{n}" for n in reversed(range(7))]


async def test_list_token_is_bound_to_the_query(users: UserHandlers) -> None:
    for n in range(3):
        await users.create(CreateItem(fields(n), chosen_id=f"u{n}"))
    _, token = await users.list_items(ListItems(page_size=1))
    with pytest.raises(InvalidInput) as info:
        await users.list_items(ListItems(page_size=1, page_token=token, filters=(("query", "u"),)))
    assert info.value.reason == "INVALID_PAGE_TOKEN"
    # page_size may change between pages (AIP-158)
    page, _ = await users.list_items(ListItems(page_size=2, page_token=token))
    assert [u.id for u in page] == ["u1", "u2"]


@pytest.mark.parametrize(
    "order_by", ["email", "create_time sideways", "create_time, display_name", "id desc"]
)
async def test_list_rejects_unlisted_ordering(users: UserHandlers, order_by: str) -> None:
    with pytest.raises(InvalidInput) as info:
        await users.list_items(ListItems(order_by=order_by))
    assert info.value.violations[0].field == "order_by"


async def test_list_page_size_rules(users: UserHandlers) -> None:
    with pytest.raises(InvalidInput):
        await users.list_items(ListItems(page_size=-1))
    for n in range(3):
        await users.create(CreateItem(fields(n)))
    page, token = await users.list_items(ListItems(page_size=5000))
    assert len(page) == 3 and token == ""


async def test_list_query_prefix(users: UserHandlers) -> None:
    await users.create(CreateItem(UserFields("zed@x.io", "Alpha"), chosen_id="a"))
    await users.create(CreateItem(UserFields("alpha@x.io", "Zed"), chosen_id="b"))
    await users.create(CreateItem(UserFields("q@x.io", "Quinn"), chosen_id="c"))
    page, _ = await users.list_items(ListItems(filters=(("query", "AL"),)))
    assert sorted(u.id for u in page) == ["a", "b"]


async def test_expired_request_ids_are_purged(users: UserHandlers, db: FakeDatabase) -> None:
    from service.handlers.maintenance import Maintenance

    clock = FakeClock()
    await users.create(CreateItem(fields(), request_id="old"))
    maintenance = Maintenance(db, dataclasses.replace(DEFAULTS, idempotency_retention_s=60), clock=clock)
    assert await maintenance.purge_idempotency_keys() == 0
    clock.now += 61 * 1_000_000
    assert await maintenance.purge_idempotency_keys() == 1


async def test_cached_list_pages_never_outlive_a_write(users: UserHandlers) -> None:
    await users.create(CreateItem(fields(1), chosen_id="a"))
    first, _ = await users.list_encoded(ListItems(), 1 << 20)
    again, _ = await users.list_encoded(ListItems(), 1 << 20)
    assert again == first and users.reads._cache.counters["list_hits"] == 1  # type: ignore[union-attr]
    await users.update(UpdateItem("a", UserFields(bio="changed")))
    after, _ = await users.list_encoded(ListItems(), 1 << 20)
    assert after != first and b"changed" in after[0]
    await users.create(CreateItem(fields(2), chosen_id="b"))
    assert len((await users.list_encoded(ListItems(), 1 << 20))[0]) == 2


class LosesOneRace(FakeDatabase):
    """A concurrent write changes the row between the read and the conditional update, once."""

    def __init__(self) -> None:
        super().__init__()
        self.races = 0

    @asynccontextmanager
    async def writing(self, *, bulk: bool = False) -> AsyncIterator[Any]:
        async with super().writing(bulk=bulk) as uow:
            if self.races:
                self.races -= 1

                async def lose(user: Any, expected_version: int) -> bool:
                    return False

                uow.repo("users").update = lose
            yield uow


async def test_an_update_without_an_etag_that_loses_a_race_is_retried_not_called_stale() -> None:
    db = LosesOneRace()
    users = make_users(db)
    created = await users.create(CreateItem(fields(), chosen_id="a"))
    db.races = 1
    updated = await users.update(UpdateItem("a", fields(bio="raced"), ("bio",)))
    assert updated.bio == "raced" and db.races == 0
    db.races = 1
    with pytest.raises(EtagMismatch, match="is stale"):  # with an etag, the race made it stale
        await users.update(UpdateItem("a", fields(bio="again"), ("bio",), etag=updated.etag))
    assert created.etag != updated.etag
