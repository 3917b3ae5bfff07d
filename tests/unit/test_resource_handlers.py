"""The generic use cases (``handlers.resource.ResourceHandlers``) of every registered collection, against the
in-memory fakes and a fake clock. Each collection's fixture data is derived from its spec: valid fields for
each writable field, with the resources its references name created first. Then the delete rules of the
references between users, posts and comments."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from service.cache.stores import MemoryStore
from service.cache.tier import CacheTier
from service.domain.commands import CreateItem, DeleteItem, ImportItem, ListItems, UpdateItem
from service.domain.errors import EtagMismatch, FailedPrecondition, InvalidInput, NotFound
from service.domain.specs import REGISTRY, CollectionSpec
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from service.repository.base import DELETED
from tests.fakes import FakeDatabase, encode
from tests.unit.test_user_handlers import FakeClock

COLLECTIONS = pytest.mark.parametrize("collection", REGISTRY.names)
# Field values the generic rule ("{resource} {field} {n}") would not make valid.
SAMPLES = {"email": lambda n: f"x{n}@example.com"}


def _default(spec: CollectionSpec[Any, Any], name: str) -> Any:
    return next(f.default for f in dataclasses.fields(spec.fields) if f.name == name)


def _reference_fields(spec: CollectionSpec[Any, Any]) -> set[str]:
    return {r.field for r in spec.references}


def text_field(spec: CollectionSpec[Any, Any]) -> str:
    """A writable text field an update may change freely: no reference, no unique value."""
    free = [
        n
        for n in spec.writable
        if isinstance(_default(spec, n), str) and n not in _reference_fields(spec) and n not in spec.unique
    ]
    assert free, f"{spec.collection}: no free text field to update"
    return free[-1]


def sample(spec: CollectionSpec[Any, Any], name: str, n: int) -> Any:
    """A valid value of a field that is no reference (number ``n``: unique fields differ)."""
    if name in SAMPLES:
        return SAMPLES[name](n)
    if isinstance(_default(spec, name), tuple):
        return (f"t{n}",)
    return f"{spec.resource} {name} {n}"


class Maker:
    """Valid resources of any collection, each with its parents created first (fields numbered apart)."""

    def __init__(self, db: FakeDatabase, cache: CacheTier | None = None) -> None:
        self.db = db
        self._n = itertools.count(1)
        clock = FakeClock()
        self.handlers = {
            spec.collection: ResourceHandlers(
                spec, db, PageTokens(b"k" * 32), encode=encode, cache=cache, clock=clock
            )
            for spec in REGISTRY
        }

    async def fields(self, collection: str, **given: Any) -> Any:
        """Valid fields: ``given`` ones as they are, references to new parents, the rest sampled."""
        spec = REGISTRY[collection]
        n = next(self._n)
        values = {}
        for name in spec.writable:
            if name in given:
                values[name] = given[name]
                continue
            ref = next((r for r in spec.references if r.field == name), None)
            values[name] = (await self.create(ref.collection)).id if ref else sample(spec, name, n)
        fields = spec.fields(**values)
        assert spec.check(spec.normalize(fields), spec.resource) == [], f"{collection}: add a SAMPLES entry"
        return fields

    async def create(self, collection: str, item_id: str = "", **given: Any) -> Any:
        fields = await self.fields(collection, **given)
        return await self.handlers[collection].create(CreateItem(fields, chosen_id=item_id))


@pytest.fixture
def db() -> FakeDatabase:
    return FakeDatabase()


@pytest.fixture
def make(db: FakeDatabase) -> Maker:
    return Maker(db)


@COLLECTIONS
async def test_create_get_update_delete_round_trip(make: Maker, db: FakeDatabase, collection: str) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    created = await h.create(CreateItem(await make.fields(collection), chosen_id="one"))
    assert created.id == "one" and await h.get("one") == created
    assert await h.get_encoded("one") == encode(created)
    name = text_field(spec)
    given = dataclasses.replace(spec.fields_of(created), **{name: "changed"})
    updated = await h.update(UpdateItem("one", given, update_mask=(name,), etag=created.etag))
    assert getattr(updated, name) == "changed" and updated.version > created.version
    assert spec.fields_of(updated) == given and updated.create_time_us == created.create_time_us
    assert updated.etag != created.etag and await h.get("one") == updated
    await h.delete(DeleteItem("one", etag=updated.etag))
    with pytest.raises(NotFound):
        await h.get("one")
    assert db.state.items[collection] == {}


@COLLECTIONS
async def test_update_without_a_mask_changes_the_fields_that_are_set(make: Maker, collection: str) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    created = await make.create(collection, "one")
    name = text_field(spec)
    updated = await h.update(UpdateItem("one", spec.fields(**{name: "only this"})))
    expected = dataclasses.replace(spec.fields_of(created), **{name: "only this"})
    assert spec.fields_of(updated) == expected


@COLLECTIONS
async def test_update_star_replaces_every_writable_field(make: Maker, collection: str) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    await make.create(collection, "one")
    replacement = await make.fields(collection)
    updated = await h.update(UpdateItem("one", replacement, update_mask=("*",)))
    assert spec.fields_of(updated) == spec.normalize(replacement)


@COLLECTIONS
@pytest.mark.parametrize("path", ["id", "create_time", "update_time", "etag", "nonsense"])
async def test_update_mask_refuses_output_only_and_unknown_paths(
    make: Maker, collection: str, path: str
) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    created = await make.create(collection, "one")
    with pytest.raises(InvalidInput) as info:
        await h.update(UpdateItem("one", spec.fields_of(created), update_mask=(path,)))
    assert [v.field for v in info.value.violations] == ["update_mask"]
    assert await h.get("one") == created


@COLLECTIONS
async def test_a_stale_etag_is_an_etag_mismatch_and_changes_nothing(make: Maker, collection: str) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    created = await make.create(collection, "one")
    name = text_field(spec)
    updated = await h.update(UpdateItem("one", spec.fields(**{name: "first"}), etag=created.etag))
    with pytest.raises(EtagMismatch) as info:
        await h.update(UpdateItem("one", spec.fields(**{name: "second"}), etag=created.etag))
    assert info.value.reason == "ETAG_MISMATCH"
    with pytest.raises(EtagMismatch):
        await h.delete(DeleteItem("one", etag=created.etag))
    assert await h.get("one") == updated


@COLLECTIONS
async def test_delete_of_a_missing_resource_and_allow_missing(make: Maker, collection: str) -> None:
    h = make.handlers[collection]
    with pytest.raises(NotFound):
        await h.delete(DeleteItem("ghost"))
    await h.delete(DeleteItem("ghost", allow_missing=True))
    with pytest.raises(NotFound):
        await h.update(UpdateItem("ghost", await make.fields(collection)))
    upserted = await h.update(UpdateItem("ghost", await make.fields(collection), allow_missing=True))
    assert await h.get("ghost") == upserted


@COLLECTIONS
async def test_a_create_replayed_with_its_request_id_creates_nothing_more(
    make: Maker, db: FakeDatabase, collection: str
) -> None:
    h = make.handlers[collection]
    fields = await make.fields(collection)
    first = await h.create(CreateItem(fields, request_id="req-1"))
    assert await h.create(CreateItem(fields, request_id="req-1")) == first
    assert list(db.state.items[collection]) == [first.id]
    with pytest.raises(InvalidInput) as info:
        await h.create(CreateItem(await make.fields(collection), request_id="req-1"))
    assert info.value.reason == "REQUEST_ID_REUSED"


@COLLECTIONS
async def test_import_counts_creates_updates_and_failures(
    make: Maker, db: FakeDatabase, collection: str
) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    existing = await make.create(collection, "kept")
    changed = await make.create(collection, "changed")
    fresh = await make.fields(collection)
    items = [
        ImportItem(0, "kept", spec.fields_of(existing)),  # as it is: counted as updated
        ImportItem(1, "changed", dataclasses.replace(spec.fields_of(changed), **{text_field(spec): "new"})),
        ImportItem(2, "fresh", fresh),
        ImportItem(3, "", fresh),  # no id
        ImportItem(4, "Bad_Id", fresh),
        ImportItem(5, "stale", fresh, etag="nope"),  # an etag for what does not exist
    ]

    async def stream() -> AsyncIterator[ImportItem[Any]]:
        for item in items:
            yield item

    result = await h.import_items(stream())

    assert (result.created, result.updated, result.failed) == (1, 2, 3)
    assert [f.index for f in result.failures] == [3, 4, 5]
    assert isinstance(result.failures[2].error, EtagMismatch)
    assert await h.get("kept") == existing
    assert getattr(await h.get("changed"), text_field(spec)) == "new"
    assert spec.fields_of(await h.get("fresh")) == spec.normalize(fresh)
    assert not {"", "Bad_Id", "stale"} & set(db.state.items[collection])


@COLLECTIONS
async def test_list_pages_through_every_ordering_once(make: Maker, collection: str) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    ids = [(await make.create(collection, f"i{n}")).id for n in range(5)]
    for field, direction in itertools.product(spec.orderings, ("", " desc")):
        seen, token = [], ""
        while True:
            page, token = await h.list_items(
                ListItems(page_size=2, page_token=token, order_by=field + direction)
            )
            seen += [i.id for i in page]
            if not token:
                break
        assert sorted(seen) == ids and len(seen) == len(set(seen)), (field, direction)


# The delete rules: what refers to a resource refuses its delete, unless forced; then it goes with it.


def _deleted(db: FakeDatabase) -> set[tuple[str, str]]:
    """(collection, id) of every DELETED change-log entry."""
    return {(c.change.collection, c.change.resource_id) for c in db.state.log if c.change.kind == DELETED}


async def test_a_post_with_comments_is_deleted_only_when_forced(make: Maker, db: FakeDatabase) -> None:
    post = await make.create("posts", "p")
    other = await make.create("posts", "other")
    for n in range(3):
        await make.create("comments", f"c{n}", post_id=post.id)
    await make.create("comments", "elsewhere", post_id=other.id)
    posts = make.handlers["posts"]

    with pytest.raises(FailedPrecondition) as info:
        await posts.delete(DeleteItem("p"))
    assert info.value.reason == "POST_HAS_COMMENTS"
    assert (info.value.violations[0].type, info.value.violations[0].subject) == ("HAS_COMMENTS", "posts/p")
    assert len(db.state.items["comments"]) == 4 and "p" in db.state.items["posts"]

    await posts.delete(DeleteItem("p", force=True))

    assert sorted(db.state.items["comments"]) == ["elsewhere"] and sorted(db.state.items["posts"]) == [
        "other"
    ]
    assert _deleted(db) == {("posts", "p"), ("comments", "c0"), ("comments", "c1"), ("comments", "c2")}


async def test_a_post_without_comments_needs_no_force(make: Maker, db: FakeDatabase) -> None:
    await make.create("posts", "p")
    await make.handlers["posts"].delete(DeleteItem("p"))
    assert db.state.items["posts"] == {} and _deleted(db) == {("posts", "p")}


@pytest.mark.parametrize(
    ("has", "reason", "violation"),
    [("posts", "USER_HAS_POSTS", "HAS_POSTS"), ("comments", "USER_HAS_COMMENTS", "HAS_COMMENTS")],
)
async def test_a_user_referred_to_is_deleted_only_when_forced(
    make: Maker, db: FakeDatabase, has: str, reason: str, violation: str
) -> None:
    await make.create("users", "ann")
    await make.create(has, "x", author_id="ann")
    with pytest.raises(FailedPrecondition) as info:
        await make.handlers["users"].delete(DeleteItem("ann"))
    assert info.value.reason == reason
    assert (info.value.violations[0].type, info.value.violations[0].subject) == (violation, "users/ann")
    assert "ann" in db.state.items["users"] and "x" in db.state.items[has]


async def test_a_forced_user_delete_takes_what_refers_to_the_user_and_to_its_posts(
    make: Maker, db: FakeDatabase
) -> None:
    await make.create("users", "ann")
    await make.create("users", "bob")
    await make.create("posts", "ann-post", author_id="ann")
    await make.create("posts", "bob-post", author_id="bob")
    await make.create("comments", "bob-on-ann", post_id="ann-post", author_id="bob")
    await make.create("comments", "ann-on-ann", post_id="ann-post", author_id="ann")
    await make.create("comments", "ann-on-bob", post_id="bob-post", author_id="ann")
    await make.create("comments", "bob-on-bob", post_id="bob-post", author_id="bob")

    await make.handlers["users"].delete(DeleteItem("ann", force=True))

    assert sorted(db.state.items["users"]) == ["bob"]
    assert sorted(db.state.items["posts"]) == ["bob-post"]
    assert sorted(db.state.items["comments"]) == ["bob-on-bob"]
    gone = {
        ("users", "ann"),
        ("posts", "ann-post"),
        ("comments", "bob-on-ann"),
        ("comments", "ann-on-ann"),
        ("comments", "ann-on-bob"),
    }
    assert _deleted(db) == gone
    entries = [c.change for c in db.state.log if c.change.kind == DELETED]
    assert len(entries) == len(gone)  # one each, even for a comment reached by two paths (ann-on-ann)


async def test_what_a_forced_delete_cascades_to_is_not_served_from_the_cache(db: FakeDatabase) -> None:
    make = Maker(db, CacheTier(MemoryStore()))
    await make.create("posts", "p")
    await make.create("comments", "c", post_id="p")
    comments = make.handlers["comments"]
    assert await comments.get_encoded("c")  # now cached
    await make.handlers["posts"].delete(DeleteItem("p", force=True))
    with pytest.raises(NotFound):
        await comments.get_encoded("c")


@pytest.mark.parametrize(
    ("missing", "reason", "field"),
    [
        ("post_id", "POST_NOT_FOUND", "comment.post_id"),
        ("author_id", "AUTHOR_NOT_FOUND", "comment.author_id"),
    ],
)
async def test_a_comment_naming_nothing_is_invalid(
    make: Maker, db: FakeDatabase, missing: str, reason: str, field: str
) -> None:
    fields = await make.fields("comments", **{missing: "ghost"})
    with pytest.raises(InvalidInput) as info:
        await make.handlers["comments"].create(CreateItem(fields))
    assert info.value.reason == reason
    assert [v.field for v in info.value.violations] == [field]
    assert db.state.items["comments"] == {}


async def test_a_post_naming_no_author_is_invalid(make: Maker) -> None:
    with pytest.raises(InvalidInput) as info:
        await make.handlers["posts"].create(CreateItem(await make.fields("posts", author_id="ghost")))
    assert info.value.reason == "AUTHOR_NOT_FOUND"
    assert [v.field for v in info.value.violations] == ["post.author_id"]


async def test_an_update_moving_a_comment_to_a_missing_post_is_invalid(make: Maker) -> None:
    created = await make.create("comments", "c")
    with pytest.raises(InvalidInput) as info:
        await make.handlers["comments"].update(
            UpdateItem("c", REGISTRY["comments"].fields(post_id="ghost"), update_mask=("post_id",))
        )
    assert info.value.reason == "POST_NOT_FOUND"
    assert await make.handlers["comments"].get("c") == created


@pytest.mark.parametrize("collection", ["posts", "comments"])
async def test_list_filters_by_the_spec_s_equals_filters(make: Maker, collection: str) -> None:
    spec, h = REGISTRY[collection], make.handlers[collection]
    await make.create("users", "ann")
    mine = {(await make.create(collection, f"a{n}", author_id="ann")).id for n in range(3)}
    await make.create(collection, "other")
    page, _ = await h.list_items(ListItems(filters=(("author_id", "ann"),)))
    assert {i.id for i in page} == mine
    assert "author_id" in [f.name for f in spec.filters]


async def test_comments_list_by_post_newest_first(make: Maker) -> None:
    await make.create("posts", "p")
    ids = [(await make.create("comments", f"c{n}", post_id="p")).id for n in range(4)]
    await make.create("comments", "elsewhere")
    page, _ = await make.handlers["comments"].list_items(
        ListItems(filters=(("post_id", "p"),), order_by="create_time desc")
    )
    assert [c.id for c in page] == ids[::-1]
