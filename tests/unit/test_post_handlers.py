"""Post use cases against the in-memory fakes."""

from __future__ import annotations

import pytest

from service.cache.stores import MemoryStore
from service.cache.tier import CacheTier
from service.domain.commands import CreateItem, DeleteItem, ListItems, UpdateItem
from service.domain.errors import EtagMismatch, InvalidInput, NotFound
from service.domain.models import Post, PostFields, User
from service.domain.specs import REGISTRY
from service.handlers.page_tokens import PageTokens
from service.handlers.resource import ResourceHandlers
from tests.fakes import FakeDatabase, encode
from tests.unit.test_user_handlers import FakeClock

PostHandlers = ResourceHandlers[Post, PostFields]


@pytest.fixture
def db() -> FakeDatabase:
    database = FakeDatabase()
    database.state.items["users"]["ann"] = User("ann", "ann@x.io", "Ann", "", 1, 1, 1)
    database.state.items["users"]["bob"] = User("bob", "bob@x.io", "Bob", "", 1, 1, 1)
    return database


@pytest.fixture
def posts(db: FakeDatabase) -> PostHandlers:
    return ResourceHandlers(
        REGISTRY["posts"],
        db,
        PageTokens(b"k" * 32),
        encode=encode,
        cache=CacheTier(MemoryStore()),
        clock=FakeClock(),
    )


async def test_create_dedupes_tags_and_checks_author(posts: PostHandlers) -> None:
    post = await posts.create(CreateItem(PostFields("ann", "Hello", tags=("a", "b", "a"))))
    assert post.tags == ("a", "b")
    with pytest.raises(InvalidInput) as info:
        await posts.create(CreateItem(PostFields("nobody", "Hello")))
    assert info.value.violations[0].field == "post.author_id"


@pytest.mark.parametrize(
    "given",
    [
        PostFields("ann", ""),
        PostFields("ann", "t" * 201),
        PostFields("ann", "t", "b" * 100_001),
        PostFields("ann", "t", tags=tuple(str(i) for i in range(21))),
        PostFields("ann", "t", tags=("x" * 51,)),
        PostFields("ann", "t", tags=("",)),
        PostFields("", "t"),
    ],
)
async def test_create_rejects_invalid(posts: PostHandlers, given: PostFields) -> None:
    with pytest.raises(InvalidInput):
        await posts.create(CreateItem(given))


async def test_update_and_etag(posts: PostHandlers) -> None:
    post = await posts.create(CreateItem(PostFields("ann", "One"), chosen_id="p1"))
    updated = await posts.update(UpdateItem("p1", PostFields(title="Two"), etag=post.etag))
    assert (updated.title, updated.author_id) == ("Two", "ann") and updated.version > post.version
    with pytest.raises(EtagMismatch):
        await posts.update(UpdateItem("p1", PostFields(title="Three"), etag=post.etag))
    with pytest.raises(InvalidInput):
        await posts.update(UpdateItem("p1", PostFields(), update_mask=("update_time",)))


async def test_delete(posts: PostHandlers) -> None:
    await posts.create(CreateItem(PostFields("ann", "One"), chosen_id="p1"))
    await posts.delete(DeleteItem("p1"))
    with pytest.raises(NotFound):
        await posts.get("p1")


async def test_list_filters(posts: PostHandlers, db: FakeDatabase) -> None:
    await posts.create(CreateItem(PostFields("ann", "A", tags=("x",)), chosen_id="p1"))
    mid = db.state.items["posts"]["p1"].create_time_us
    await posts.create(CreateItem(PostFields("bob", "B", tags=("x", "y")), chosen_id="p2"))
    await posts.create(CreateItem(PostFields("ann", "C", tags=("y",)), chosen_id="p3"))
    assert [p.id for p in (await posts.list_items(ListItems(filters=(("author_id", "ann"),))))[0]] == [
        "p1",
        "p3",
    ]
    assert [p.id for p in (await posts.list_items(ListItems(filters=(("tag", "y"),))))[0]] == ["p2", "p3"]
    assert [p.id for p in (await posts.list_items(ListItems(filters=(("create_time_after", mid),))))[0]] == [
        "p2",
        "p3",
    ]
    assert [p.id for p in (await posts.list_items(ListItems(order_by="title desc")))[0]] == ["p3", "p2", "p1"]


async def test_list_rejects_bad_time_range(posts: PostHandlers) -> None:
    with pytest.raises(InvalidInput):
        await posts.list_items(ListItems(filters=(("create_time_after", 10), ("create_time_before", 5))))
    with pytest.raises(InvalidInput):
        await posts.list_items(ListItems(filters=(("create_time_after", 10**20),)))
