"""The client's query cache (wellspring_client/_cache.py, through WellspringClient): freshness, retention,
the LRU bound, one shared fetch per key, write invalidation, the revision guard, observers, optimistic
updates and the counters. All on a FakeTransport and a fake clock."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.client_fakes import ClientEnv, done_with, fetched, refreshed
from wellspring_client import (
    Cancelled,
    Conflict,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    Unavailable,
    User,
    WellspringClient,
)

# --- freshness and retention ------------------------------------------------------------------------------


async def test_fresh_hit_is_answered_without_rpc_and_without_yielding(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client(stale_after_s=5)
    assert await client.get_user("ada") == ada
    env.clock.advance(4.9)

    assert done_with(client.get_user("ada")) == ada
    assert client.cached_user("ada") == ada
    assert env.fake.count("GetUser") == 1
    assert client.stats.hits == 1


async def test_stale_hit_answers_at_once_and_one_background_refresh_replaces_the_value(
    env: ClientEnv,
) -> None:
    old = env.fake.put_user("ada", display_name="Ada")
    client = env.client(stale_after_s=5, evict_after_s=60)
    await client.get_user("ada")
    new = env.fake.put_user("ada", display_name="Ada L.")  # changed by someone else
    env.clock.advance(5)
    gate = env.fake.hold("GetUser")

    assert done_with(client.get_user("ada")) == old
    await gate.arrived()  # the refresh is on the wire
    assert [done_with(client.get_user("ada")) for _ in range(2)] == [old, old]  # no second refresh
    assert client.cached_user("ada") is None  # stale is not fresh
    gate.release()
    assert await refreshed(client, client.user_key("ada")) == new

    assert env.fake.count("GetUser") == 2
    assert client.stats.stale_hits == 3
    assert done_with(client.get_user("ada")) == new


async def test_stale_list_page_is_served_and_refreshed(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client(stale_after_s=5)
    first = await client.list_users_page()
    env.fake.put_user("bob")
    env.clock.advance(5)

    assert done_with(client.list_users_page()) == first
    key = next(k for k in client.cache.keys(("users", "ListUsers")))
    page = await refreshed(client, key)
    assert [u.id for u in page.items] == ["ada", "bob"]
    assert done_with(client.list_users_page()) == page


async def test_data_older_than_evict_after_is_not_served(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = env.client(stale_after_s=5, evict_after_s=60)
    await client.get_user("ada")
    new = env.fake.put_user("ada", display_name="Ada L.")
    env.clock.advance(60)

    assert await fetched(client.get_user("ada")) == new
    assert env.fake.count("GetUser") == 2
    assert client.stats.stale_hits == 0


async def test_a_refresh_that_finds_the_item_deleted_stops_serving_it(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client(stale_after_s=5, evict_after_s=300)
    await client.get_user("ada")
    env.fake.remove("users", "ada")  # deleted by someone else
    env.clock.advance(5)

    done_with(client.get_user("ada"))  # a stale hit: served while the refresh runs
    with pytest.raises(NotFound):
        await refreshed(client, client.user_key("ada"))

    with pytest.raises(NotFound):  # the server said it is gone: it is not served for evict_after_s more
        await client.get_user("ada")


async def _full_of_abc(env: ClientEnv) -> WellspringClient:
    """A client whose cache (3 entries at most) holds a, b, c, used in that order; d exists too."""
    for name in "abcd":
        env.fake.put_user(name)
    client = env.client(max_entries=3, stale_after_s=100, evict_after_s=1000)
    for name in "abc":
        await client.get_user(name)
        env.clock.advance(1)
    return client


async def test_lru_bound_evicts_the_least_recently_used_entry(env: ClientEnv) -> None:
    client = await _full_of_abc(env)
    done_with(client.get_user("a"))  # a hit makes "a" the most recently used; "b" is now the oldest
    env.clock.advance(1)

    await client.get_user("d")

    assert client.stats.evictions == 1
    assert len(client.cache) == 3
    assert client.cached_user("b") is None
    assert all(client.cached_user(n) is not None for n in "acd")
    await client.get_user("b")
    assert env.fake.count("GetUser") == 5


async def test_batch_get_hit_counts_as_a_use_for_the_lru(env: ClientEnv) -> None:
    client = await _full_of_abc(env)
    assert [u.id for u in done_with(client.batch_get_users(["a"]))] == ["a"]  # a use of "a"
    env.clock.advance(1)

    await client.get_user("d")

    assert client.cached_user("a") is not None, "the entry just read by batch_get_users was evicted"
    assert client.cached_user("b") is None


async def test_an_entry_being_fetched_is_not_the_least_recently_used(env: ClientEnv) -> None:
    for name in "abc":
        env.fake.put_user(name)
    client = env.client(max_entries=2, stale_after_s=100, evict_after_s=1000)
    await client.get_user("a")
    env.clock.advance(1)
    gate = env.fake.hold("GetUser")
    b = asyncio.ensure_future(client.get_user("b"))  # asked for after "a"
    await gate.arrived()
    env.clock.advance(1)

    await client.get_user("c")  # over the bound: "a" is the least recently used
    gate.release()
    await b

    assert client.cached_user("b") is not None, "the entry in flight was evicted, so its result was dropped"
    assert client.cached_user("a") is None


# --- one fetch per key ------------------------------------------------------------------------------------


async def test_a_thousand_concurrent_identical_reads_share_one_rpc(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()

    results = await asyncio.gather(*(client.get_user("ada") for _ in range(1000)))

    assert results == [ada] * 1000
    assert [c.method for c in env.fake.calls] == ["GetUser"]
    assert client.stats.misses == 1
    assert client.stats.dedup == 999


async def test_concurrent_identical_list_pages_share_one_rpc(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    pages = await asyncio.gather(*(client.list_users_page(page_size=10) for _ in range(10)))
    assert len({id(p) for p in pages}) == 1
    assert env.fake.count("ListUsers") == 1


async def test_cancelling_the_waiter_that_started_the_fetch_does_not_cancel_it(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()
    gate = env.fake.hold("GetUser")
    first, second, third = (asyncio.ensure_future(client.get_user("ada")) for _ in range(3))
    await gate.arrived()

    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    gate.release()

    assert first.cancelled()
    assert [await second, await third] == [ada, ada]
    assert env.fake.count("GetUser") == 1
    assert client.cached_user("ada") == ada


async def test_a_waiters_timeout_does_not_cancel_the_shared_call(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()
    gate = env.fake.hold("GetUser")
    impatient = asyncio.ensure_future(client.get_user("ada", timeout=0))  # starts the fetch
    patient = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()
    joiner = asyncio.ensure_future(client.get_user("ada", timeout=0))  # a joiner's deadline, too
    gate.release()

    with pytest.raises(DeadlineExceeded):
        await impatient
    with pytest.raises(DeadlineExceeded):
        await joiner
    assert await patient == ada
    assert env.fake.count("GetUser") == 1
    assert client.cached_user("ada") == ada


# --- writes: WRITE_EFFECTS --------------------------------------------------------------------------------


async def test_create_stores_its_result(env: ClientEnv) -> None:
    client = env.client()
    named = await client.create_user(User(email="ada@example.com", display_name="Ada"), user_id="ada")
    generated = await client.create_user(User(email="bob@example.com", display_name="Bob"))

    assert named == env.fake.user("ada")
    assert done_with(client.get_user("ada")) == named
    assert done_with(client.get_user(generated.id)) == generated
    assert env.fake.count("GetUser") == 0


async def test_update_stores_its_result(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = env.client()
    await client.get_user("ada")

    updated = await client.update_user(User(id="ada", display_name="Ada L."))

    assert updated.display_name == "Ada L." and updated == env.fake.user("ada")
    assert done_with(client.get_user("ada")) == updated
    assert env.fake.count("GetUser") == 1


async def test_delete_removes_the_entry(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    await client.get_user("ada")

    await client.delete_user("ada")

    assert client.cache.get(client.user_key("ada")) is None
    with pytest.raises(NotFound):
        await client.get_user("ada")
    assert env.fake.count("GetUser") == 2


WRITES = {
    "create": lambda c: c.create_user(User(email="cy@example.com", display_name="Cy"), user_id="cy"),
    "update": lambda c: c.update_user(User(id="ada", display_name="Ada L.")),
    "delete": lambda c: c.delete_user("bob"),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
async def test_every_write_invalidates_the_collections_list_pages(env: ClientEnv, write: Any) -> None:
    env.fake.put_user("ada")
    env.fake.put_user("bob")
    client = env.client()
    await client.list_users_page()
    done_with(client.list_users_page())

    await write(client)

    page = await fetched(client.list_users_page())
    assert [u.id for u in page.items] == sorted(env.fake.tables["users"])
    assert env.fake.count("ListUsers") == 2


async def test_a_write_to_users_keeps_posts_queries(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.put_post("p1", "ada")
    client = env.client()
    await client.list_posts_page()
    await client.update_user(User(id="ada", display_name="Ada L."))
    done_with(client.list_posts_page())


async def test_import_invalidates_the_whole_collection(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    await client.get_user("ada")

    await client.import_users([User(id="ada", email="ada@example.com", display_name="Ada I.")])

    assert (await fetched(client.get_user("ada"))).display_name == "Ada I."
    assert env.fake.count("GetUser") == 2


async def test_forced_user_delete_invalidates_posts_queries(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.put_post("p1", "ada")
    client = env.client()
    await client.get_post("p1")
    await client.list_posts_page(author_id="ada")

    await client.delete_user("ada", force=True)

    with pytest.raises(NotFound):
        await client.get_post("p1")
    assert (await client.list_posts_page(author_id="ada")).items == ()
    assert env.fake.count("GetPost") == 2
    assert env.fake.count("ListPosts") == 2


@pytest.mark.parametrize("error", [Unavailable("connection reset"), DeadlineExceeded("deadline")])
async def test_an_ambiguous_write_failure_invalidates(env: ClientEnv, error: Exception) -> None:
    env.fake.put_user("ada")
    client = env.client()
    await client.get_user("ada")
    await client.list_users_page()
    env.fake.fail("UpdateUser", error)  # type: ignore[arg-type]

    with pytest.raises(type(error)):
        await client.update_user(User(id="ada", display_name="Ada L."))

    await fetched(client.get_user("ada"))
    await fetched(client.list_users_page())


async def test_a_definite_write_failure_keeps_the_cache(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client()
    await client.get_user("ada")
    await client.list_users_page()
    env.fake.fail("UpdateUser", InvalidArgument("display_name: too long"))

    with pytest.raises(InvalidArgument):
        await client.update_user(User(id="ada", display_name="x" * 101))

    assert done_with(client.get_user("ada")) == ada
    done_with(client.list_users_page())
    assert client.stats.invalidations == 0


async def _warm(env: ClientEnv) -> WellspringClient:
    env.fake.put_user("ada")
    env.fake.put_user("p-author")
    env.fake.put_post("p1", "p-author")
    client = env.client()
    await client.get_user("ada")
    await client.list_users_page()
    await client.get_post("p1")
    return client


async def test_invalidate_a_collection(env: ClientEnv) -> None:
    client = await _warm(env)
    assert client.invalidate(("users",)) == 3  # Get ada, Get p-author (primed by the list), ListUsers
    await fetched(client.get_user("ada"))
    await fetched(client.list_users_page())
    done_with(client.get_post("p1"))
    assert (env.fake.count("GetUser"), env.fake.count("ListUsers"), env.fake.count("GetPost")) == (2, 2, 1)


async def test_invalidate_one_method_of_a_collection(env: ClientEnv) -> None:
    client = await _warm(env)
    assert client.invalidate(("users", "ListUsers")) == 1
    done_with(client.get_user("ada"))
    await fetched(client.list_users_page())
    assert (env.fake.count("GetUser"), env.fake.count("ListUsers")) == (1, 2)


async def test_invalidate_one_key(env: ClientEnv) -> None:
    client = await _warm(env)
    assert client.invalidate(client.user_key("ada")) == 1
    assert client.invalidate(client.user_key("nobody")) == 0
    await fetched(client.get_user("ada"))
    done_with(client.list_users_page())
    assert (env.fake.count("GetUser"), env.fake.count("ListUsers")) == (2, 1)


async def test_invalidating_a_key_keeps_its_read_in_flight_out_of_the_cache(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()
    client.invalidate(client.user_key("ada"))
    gate.release()
    await reader
    assert client.cached_user("ada") is None and client.stats.guard_drops == 1


async def test_invalidate_everything(env: ClientEnv) -> None:
    client = await _warm(env)
    assert client.invalidate(()) == 4
    await fetched(client.get_user("ada"))
    await fetched(client.list_users_page())
    await fetched(client.get_post("p1"))
    assert (env.fake.count("GetUser"), env.fake.count("ListUsers"), env.fake.count("GetPost")) == (2, 2, 2)


# --- the revision guard -----------------------------------------------------------------------------------


async def test_a_get_in_flight_during_a_write_answers_but_is_not_stored(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = env.client()
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()  # the server has read the old row

    updated = await client.update_user(User(id="ada", display_name="Ada L."))
    assert done_with(client.get_user("ada")) == updated  # a later caller does not join the old read
    gate.release()

    assert (await reader).display_name == "Ada"
    assert client.stats.guard_drops == 1
    assert client.cached_user("ada") == updated
    assert env.fake.count("GetUser") == 1


async def test_a_caller_after_an_invalidation_does_not_join_the_older_fetch(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = env.client()
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()
    new = env.fake.put_user("ada", display_name="Ada L.")

    client.invalidate(("users",))
    late = asyncio.ensure_future(client.get_user("ada"))
    gate.release()

    assert await late == new  # its own RPC, not the older read
    assert (await reader).display_name == "Ada"
    assert env.fake.count("GetUser") == 2
    assert client.stats.guard_drops == 1
    assert done_with(client.get_user("ada")) == new


async def test_a_list_in_flight_during_a_write_is_not_stored(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    gate = env.fake.hold("ListUsers")
    reader = asyncio.ensure_future(client.list_users_page())
    await gate.arrived()

    await client.create_user(User(email="bob@example.com", display_name="Bob"), user_id="bob")
    gate.release()

    assert [u.id for u in (await reader).items] == ["ada"]
    assert client.stats.guard_drops == 1
    assert [u.id for u in (await client.list_users_page()).items] == ["ada", "bob"]


# --- priming ----------------------------------------------------------------------------------------------


async def test_list_pages_prime_item_entries(env: ClientEnv) -> None:
    users = [env.fake.put_user(n) for n in ("ada", "bob", "cy")]
    client = env.client()
    assert [u async for u in client.list_users(page_size=2)] == users
    assert env.fake.count("ListUsers") == 2
    assert [done_with(client.get_user(u.id)) for u in users] == users
    assert env.fake.count("GetUser") == 0


async def test_batch_get_primes_item_entries_and_is_served_from_them(env: ClientEnv) -> None:
    users = [env.fake.put_user(n) for n in ("ada", "bob")]
    client = env.client()
    assert await client.batch_get_users(["bob", "ada"]) == users[::-1]

    assert [done_with(client.get_user(u.id)) for u in users] == users
    assert done_with(client.batch_get_users(["ada", "bob"])) == users
    assert [c.method for c in env.fake.calls] == ["BatchGetUsers"]


async def test_export_primes_item_entries(env: ClientEnv) -> None:
    users = [env.fake.put_user(n) for n in ("ada", "bob", "cy")]
    client = env.client()
    export = client.export_users()
    assert [u async for u in export] == users
    assert export.revision == env.fake.revision
    assert [done_with(client.get_user(u.id)) for u in users] == users
    assert env.fake.count("GetUser") == 0


# --- observers and optimistic updates ---------------------------------------------------------------------


async def test_observers_hear_set_update_and_remove_until_unsubscribed(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    seen: list[Any] = []
    unsubscribe = client.subscribe(client.user_key("ada"), seen.append)

    ada = await client.get_user("ada")
    updated = await client.update_user(User(id="ada", display_name="Ada L."))
    await client.delete_user("ada")
    assert seen == [ada, updated, None]

    unsubscribe()
    await client.create_user(User(email="ada@example.com", display_name="Ada"), user_id="ada")
    assert seen == [ada, updated, None]


async def test_optimistic_update_shows_the_guess_then_keeps_the_servers_value(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada", display_name="Ada", bio="hi")
    client = env.client()
    await client.get_user("ada")
    seen: list[Any] = []
    client.subscribe(client.user_key("ada"), seen.append)
    gate = env.fake.hold("UpdateUser")

    update = asyncio.ensure_future(client.update_user(User(id="ada", display_name="Ada L."), optimistic=True))
    await gate.arrived()
    guess = client.cached_user("ada")
    assert guess is not None
    assert (guess.display_name, guess.bio, guess.etag) == ("Ada L.", "hi", ada.etag)
    assert seen == [guess]
    gate.release()

    result = await update
    assert result == env.fake.user("ada") and result.etag != ada.etag
    assert client.cached_user("ada") == result
    assert seen == [guess, result]


async def test_optimistic_update_rolls_back_on_a_definite_failure(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada", display_name="Ada")
    client = env.client()
    await client.get_user("ada")
    seen: list[Any] = []
    client.subscribe(client.user_key("ada"), seen.append)
    env.fake.fail("UpdateUser", InvalidArgument("no"))
    gate = env.fake.hold("UpdateUser")

    update = asyncio.ensure_future(client.update_user(User(id="ada", display_name="Ada L."), optimistic=True))
    await gate.arrived()
    assert [u.display_name for u in seen] == ["Ada L."]
    gate.release()
    with pytest.raises(InvalidArgument):
        await update

    assert seen[-1] == ada  # rolled back
    assert client.cached_user("ada") is None  # and invalidated: it is read again
    assert await client.get_user("ada") == ada
    assert env.fake.count("GetUser") == 2


async def test_optimistic_update_is_dropped_on_an_ambiguous_failure(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = env.client()
    await client.get_user("ada")
    seen: list[Any] = []
    client.subscribe(client.user_key("ada"), seen.append)
    env.fake.fail("UpdateUser", Unavailable("connection reset"))

    with pytest.raises(Unavailable):
        await client.update_user(User(id="ada", display_name="Ada L."), optimistic=True)

    assert seen[0].display_name == "Ada L."
    ada = env.fake.user("ada")
    assert seen[-1] in (None, ada)  # removed (the write may have happened) or rolled back, not the guess
    assert client.cached_user("ada") is None
    assert (await client.get_user("ada")).display_name == "Ada"
    assert env.fake.count("GetUser") == 2


# --- counters ---------------------------------------------------------------------------------------------


async def test_stats_snapshot_counts_each_path(env: ClientEnv) -> None:
    for name in ("ada", "bob"):
        env.fake.put_user(name)
    client = env.client(stale_after_s=5)
    await asyncio.gather(client.get_user("ada"), client.get_user("ada"), client.get_user("bob"))
    done_with(client.get_user("ada"))
    env.clock.advance(5)
    done_with(client.get_user("ada"))
    await refreshed(client, client.user_key("ada"))
    client.invalidate(("users", "GetUser"))

    snapshot = client.stats.snapshot()
    expected = dict.fromkeys(snapshot, 0) | {
        "misses": 2,
        "dedup": 1,
        "batches": 1,
        "batched_ids": 2,
        "hits": 1,
        "stale_hits": 1,
        "rpcs": 2,
        "invalidations": 2,
    }
    assert snapshot == expected
    snapshot["hits"] = 99
    assert client.stats.hits == 1  # a copy


# --- found in review ----------------------------------------------------------------------------------------


async def test_a_plain_user_delete_leaves_posts_cached(env: ClientEnv) -> None:
    env.fake.put_user("bob")
    env.fake.put_user("ada")
    env.fake.put_post("p1", "ada")
    client = env.client()
    await client.get_post("p1")
    await client.delete_user("bob")
    assert done_with(client.get_post("p1")).id == "p1"


async def test_an_observer_that_raises_breaks_neither_writes_nor_reads(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.put_post("p1", "ada")
    client = env.client()
    await client.get_user("ada")
    await client.get_post("p1")

    def broken(_: Any) -> None:
        raise RuntimeError("observer bug")

    client.subscribe(client.user_key("ada"), broken)
    updated = await client.update_user(User(id="ada", bio="new"))
    assert done_with(client.get_user("ada")) == updated
    await client.delete_user("ada", force=True)  # its posts' invalidation still happens
    with pytest.raises(NotFound):
        await client.get_post("p1")


async def test_offline_serving_never_returns_what_this_clients_write_outdated(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client(serve_stale_on_unavailable=True)
    page = await client.list_users_page()
    await client.create_user(User(email="bob@example.com", display_name="Bob"), user_id="bob")
    env.fake.fail("ListUsers", Unavailable("down"), times=100)
    with pytest.raises(Unavailable):  # the old page, without bob, must not come back
        await client.list_users_page()
    assert [u.id for u in page.items] == ["ada"]


async def test_a_conflicting_update_drops_the_outdated_copy(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    await client.get_user("ada")
    env.fake.fail("UpdateUser", Conflict("etag mismatch"))
    with pytest.raises(Conflict):
        await client.update_user(User(id="ada", bio="x", etag="old"))
    await fetched(client.get_user("ada"))  # read again, with the current etag


async def test_a_cancelled_optimistic_update_leaves_no_guess_behind(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = env.client()
    await client.get_user("ada")
    gate = env.fake.hold("UpdateUser")
    update = asyncio.ensure_future(client.update_user(User(id="ada", display_name="Guess"), optimistic=True))
    await gate.arrived()
    assert client.cached_user("ada").display_name == "Guess"  # type: ignore[union-attr]
    update.cancel()
    with pytest.raises(asyncio.CancelledError):
        await update
    assert client.cached_user("ada") is None  # it may or may not have happened: read again


async def test_a_fetch_never_replaces_a_newer_version_primed_meanwhile(env: ClientEnv) -> None:
    env.fake.put_user("ada", bio="v1")
    client = env.client()
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()  # the server has answered v1 ...
    env.fake.put_user("ada", bio="v2")
    await client.list_users_page()  # ... and a List primes v2 before that answer lands
    gate.release()
    await reader
    assert client.cached_user("ada").bio == "v2"  # type: ignore[union-attr]


async def test_a_waiter_with_the_default_deadline_is_bounded_by_it(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client(timeout_s=0.05)
    gate = env.fake.hold("GetUser")
    patient = asyncio.ensure_future(client.get_user("ada", timeout=60))  # the shared RPC may take 60 s
    await gate.arrived()
    with pytest.raises(DeadlineExceeded):
        await client.get_user("ada")  # but this caller asked for nothing more than the default
    gate.release()
    assert (await patient).id == "ada"


async def test_closing_fails_waiters_with_cancelled_and_refuses_new_calls(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    env.fake.hold("GetUser")
    waiter = asyncio.ensure_future(client.get_user("ada"))
    await env.fake.wait_calls("GetUser", 1)
    await client.close()
    with pytest.raises(Cancelled):
        await waiter
    with pytest.raises(Cancelled):
        await client.get_user("bob")
    with pytest.raises(Cancelled):
        await client.create_user(User(email="bob@example.com", display_name="Bob"))
