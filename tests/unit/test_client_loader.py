"""DataLoader-style coalescing (wellspring_client/_loader.py) as callers see it: the gets of one tick
become one BatchGet, on a FakeTransport."""

from __future__ import annotations

import asyncio

from tests.client_fakes import ClientEnv
from wellspring_client import NotFound, Unavailable


def batch_ids(env: ClientEnv) -> list[list[str]]:
    return [list(c.request.ids) for c in env.fake.calls_of("BatchGetUsers")]


async def test_a_hundred_gets_in_one_tick_are_one_batch_get(env: ClientEnv) -> None:
    users = [env.fake.put_user(f"u{i:03d}") for i in range(100)]
    client = env.client()

    assert await asyncio.gather(*(client.get_user(u.id) for u in users)) == users

    assert batch_ids(env) == [[u.id for u in users]]
    assert env.fake.count("GetUser") == 0
    assert (client.stats.batches, client.stats.batched_ids) == (1, 100)


async def test_a_single_get_is_a_plain_get(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()
    assert await client.get_user("ada") == ada
    assert [c.method for c in env.fake.calls] == ["GetUser"]
    assert env.fake.calls[0].request.id == "ada"
    assert client.stats.batches == 0


async def test_gets_of_different_ticks_are_not_coalesced(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.put_user("bob")
    client = env.client()
    await client.get_user("ada")
    await client.get_user("bob")
    assert [c.method for c in env.fake.calls] == ["GetUser", "GetUser"]


async def test_missing_ids_fail_alone_and_only_the_present_ids_are_asked_again(env: ClientEnv) -> None:
    ada, cy = env.fake.put_user("ada"), env.fake.put_user("cy")
    client = env.client()

    results = await asyncio.gather(
        *(client.get_user(i) for i in ("ada", "bob", "cy", "dan")), return_exceptions=True
    )

    assert results[0] == ada and results[2] == cy
    for missing, result in (("bob", results[1]), ("dan", results[3])):
        assert isinstance(result, NotFound)
        assert missing in result.resource_names
    assert batch_ids(env) == [["ada", "bob", "cy", "dan"], ["ada", "cy"]]
    assert env.fake.count("GetUser") == 0


async def test_one_present_id_left_is_asked_with_a_plain_get(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()

    results = await asyncio.gather(
        *(client.get_user(i) for i in ("ada", "bob", "cy")), return_exceptions=True
    )

    assert results[0] == ada
    assert all(isinstance(r, NotFound) for r in results[1:])
    assert batch_ids(env) == [["ada", "bob", "cy"]]
    assert [c.request.id for c in env.fake.calls_of("GetUser")] == ["ada"]


async def test_a_coalesced_not_found_names_only_the_callers_id(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()

    results = await asyncio.gather(
        *(client.get_user(i) for i in ("ada", "bob", "cy")), return_exceptions=True
    )

    # get_user("bob") alone would name only "bob": coalescing must not change what a caller sees
    assert [r.resource_names for r in results[1:]] == [["bob"], ["cy"]]  # type: ignore[union-attr]


async def test_more_than_1000_ids_go_out_in_chunks_of_1000(env: ClientEnv) -> None:
    ids = [f"u{i:04d}" for i in range(2500)]
    for i in ids:
        env.fake.put_user(i)
    client = env.client()

    users = await asyncio.gather(*(client.get_user(i) for i in ids))

    assert [u.id for u in users] == ids
    assert [len(chunk) for chunk in batch_ids(env)] == [1000, 1000, 500]
    assert [i for chunk in batch_ids(env) for i in chunk] == ids


async def test_a_failed_batch_fails_every_waiter(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.put_user("bob")
    client = env.client()
    env.fake.fail("BatchGetUsers", Unavailable("down"), times=5)

    results = await asyncio.gather(client.get_user("ada"), client.get_user("bob"), return_exceptions=True)

    assert all(isinstance(r, Unavailable) for r in results)
    assert env.fake.count("BatchGetUsers") == 5  # retried as a read


async def test_parallel_queries_coalesce_and_dependent_queries_chain(env: ClientEnv) -> None:
    ada, bob = env.fake.put_user("ada"), env.fake.put_user("bob")
    env.fake.put_post("p1", "bob")
    client = env.client()

    assert await client.parallel(client.get_user("ada"), client.get_user("bob")) == [ada, bob]
    assert batch_ids(env) == [["ada", "bob"]]

    author = await client.dependent(client.get_post("p1"), lambda post: client.get_user(post.author_id))
    assert author == bob
    assert env.fake.count("GetUser") == 0  # bob was cached by the batch


async def test_prefetch_loads_in_the_background(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()
    client.prefetch_user("ada")
    query = client.cache.get(client.user_key("ada"))
    assert query is not None and query.fetch is not None
    await query.fetch
    assert client.cached_user("ada") == ada
