"""WellspringClient as a whole, on a FakeTransport: the cache's background Watch, the public watch(),
import/export, persistence to SQLite, and the sync facade."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import timestamp_pb2

from tests.client_fakes import (
    ClientEnv,
    FakeClock,
    FakeSleep,
    FakeTransport,
    bounded,
    done_with,
    fetched,
    refreshed,
)
from wellspring_client import (
    NotFound,
    OutOfRange,
    Post,
    ResourceExhausted,
    SyncWellspringClient,
    Unavailable,
    User,
    WellspringClient,
)
from wellspring_client._resources import BY_COLLECTION
from wellspring_client.client import _FIRST_WATCH_WAIT_S


async def live_client(env: ClientEnv, **options: Any) -> WellspringClient:
    """A client whose Watch has connected and received its first (progress) message."""
    client = env.client(watch=True, **options)
    await client.start()
    env.fake.push_watch(env.fake.progress())
    await bounded(client.watch_live.wait(), "the Watch to go live")
    await env.fake.watch_processed()
    return client


def start_revisions(env: ClientEnv) -> list[int]:
    return [c.request.start_revision for c in env.fake.calls_of("Watch")]


# --- the cache's Watch ------------------------------------------------------------------------------------


async def test_watch_is_live_after_its_first_message(env: ClientEnv) -> None:
    client = env.client(watch=True)
    await client.start()
    await env.fake.wait_calls("Watch", 1)
    assert not client.watch_live.is_set()

    env.fake.push_watch(env.fake.progress())
    await env.fake.watch_processed()

    assert client.watch_live.is_set()
    [call] = env.fake.calls_of("Watch")
    assert (sorted(call.request.collections), call.request.start_revision) == (sorted(BY_COLLECTION), 0)


async def test_watch_events_update_and_remove_entries(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    env.fake.put_user("bob")
    client = await live_client(env)
    await asyncio.gather(client.get_user("ada"), client.get_user("bob"))
    await client.list_users_page()

    new = env.fake.put_user("ada", display_name="Ada L.")
    env.fake.remove("users", "bob")
    env.fake.push_watch(
        env.fake.change("updated", "users", "ada"), env.fake.change("deleted", "users", "bob")
    )
    await env.fake.watch_processed()

    assert client.cached_user("ada") == new
    assert client.cache.get(client.user_key("bob")) is None
    assert (client.stats.watch_events, client.watch_revision) == (2, env.fake.revision)
    assert [u.id for u in (await client.list_users_page()).items] == ["ada"]  # the page was invalidated
    assert env.fake.count("ListUsers") == 2


async def test_an_older_watch_event_evicts_instead_of_overwriting(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    older = env.fake.user_pb("ada")
    env.fake.put_user("ada", display_name="Ada L.")
    client = await live_client(env)
    await client.get_user("ada")

    older.update_time.CopyFrom(timestamp_pb2.Timestamp(seconds=older.update_time.seconds - 60))
    env.fake.push_watch(env.fake.change("updated", "users", "ada", older))
    await env.fake.watch_processed()

    assert client.cache.get(client.user_key("ada")) is None
    assert (await client.get_user("ada")).display_name == "Ada L."
    assert env.fake.count("GetUser") == 2


async def test_a_watch_event_during_a_get_outdates_that_get(env: ClientEnv) -> None:
    env.fake.put_user("ada", display_name="Ada")
    client = await live_client(env)
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()

    new = env.fake.put_user("ada", display_name="Ada L.")
    env.fake.push_watch(env.fake.change("updated", "users", "ada"))
    await env.fake.watch_processed()
    assert done_with(client.get_user("ada")) == new  # does not join the older read
    gate.release()

    assert (await reader).display_name == "Ada"  # answered, but not stored
    assert client.stats.guard_drops == 1
    assert client.cached_user("ada") == new


async def test_a_delete_event_during_a_get_sends_later_callers_to_the_server(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = await live_client(env)
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()

    env.fake.remove("users", "ada")
    env.fake.push_watch(env.fake.change("deleted", "users", "ada"))
    await env.fake.watch_processed()
    late = asyncio.ensure_future(client.get_user("ada"))
    gate.release()

    assert (await reader).id == "ada"
    with pytest.raises(NotFound):
        await late
    assert env.fake.count("GetUser") == 2
    assert client.stats.guard_drops == 1
    assert client.cached_user("ada") is None


async def test_data_cached_before_the_watch_connects_is_marked_stale(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client(watch=True, stale_after_s=60)
    await client.get_user("ada")
    await client.start()
    assert client.cached_user("ada") == ada

    env.fake.push_watch(env.fake.progress())
    await env.fake.watch_processed()

    assert client.cached_user("ada") is None
    assert done_with(client.get_user("ada")) == ada  # served stale, and refreshed
    assert await refreshed(client, client.user_key("ada")) == ada
    assert env.fake.count("GetUser") == 2


async def test_after_unavailable_the_watch_resumes_after_the_last_revision(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = await live_client(env, stale_after_s=60)
    await client.get_user("ada")
    last = env.fake.change("updated", "users", "ada")

    env.fake.push_watch(last, Unavailable("server restarting"))
    await env.fake.wait_calls("Watch", 2)

    assert start_revisions(env) == [0, last.revision + 1]
    assert env.sleep.delays == pytest.approx([0.025])
    assert client.stats.watch_reconnects == 1
    assert not client.watch_live.is_set()
    assert client.cached_user("ada") is None  # while the stream was down nothing is vouched for
    assert done_with(client.get_user("ada")) == ada


async def test_after_out_of_range_everything_is_dropped_and_the_watch_starts_over(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = await live_client(env)
    await client.get_user("ada")
    env.fake.push_watch(env.fake.change("updated", "users", "ada"))  # the stream has moved past 0

    env.fake.push_watch(OutOfRange("compacted"))
    await env.fake.wait_calls("Watch", 2)

    assert start_revisions(env) == [0, 0]  # not the last revision + 1
    assert len(client.cache) == 0
    assert client.cached_user("ada") is None


async def test_the_watch_reconnects_when_the_stream_ends(env: ClientEnv) -> None:
    client = await live_client(env)
    env.fake.end_watch()
    await env.fake.wait_calls("Watch", 2)
    assert start_revisions(env) == [0, env.fake.revision + 1]
    assert client.stats.watch_reconnects == 1


# --- the public watch() -----------------------------------------------------------------------------------


async def test_watch_resumes_after_the_last_event_without_gaps_or_repeats(env: ClientEnv) -> None:
    for name in ("ada", "bob", "cy"):
        env.fake.put_user(name)
    client = env.client()
    env.fake.revision = 4  # the next events are revisions 5, 6 and 7
    env.fake.push_watch(
        env.fake.change("updated", "users", "ada"),
        env.fake.change("updated", "users", "bob"),
        Unavailable("restarting"),
        ResourceExhausted("too slow"),
        env.fake.change("deleted", "users", "cy"),
    )

    stream = client.watch(collections=["users"], start_revision=5)
    events = [await anext(stream) for _ in range(3)]
    await stream.aclose()

    assert [(e.revision, e.kind, e.id) for e in events] == [
        (5, "updated", "ada"),
        (6, "updated", "bob"),
        (7, "deleted", "cy"),
    ]
    assert events[0].resource == env.fake.user("ada") and events[2].resource is None
    assert start_revisions(env) == [5, 7, 7]
    assert [list(c.request.collections) for c in env.fake.calls_of("Watch")] == [["users"]] * 3


async def test_watch_raises_out_of_range(env: ClientEnv) -> None:
    client = env.client()
    env.fake.push_watch(OutOfRange("compacted"))
    with pytest.raises(OutOfRange):
        await anext(client.watch(start_revision=1))


# --- import and export ------------------------------------------------------------------------------------


async def test_import_streams_chunks_and_reports_counts(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    client = env.client()
    users = [User(id=n, email=f"{n}@example.com", display_name=n.title()) for n in ("ada", "bob", "cy")]

    result = await client.import_users(users, chunk_size=2)

    assert (result.created, result.updated, result.failed) == (2, 1, 0)
    [call] = env.fake.calls_of("ImportUsers")
    assert [[u.id for u in r.users] for r in call.request] == [["ada", "bob"], ["cy"]]


async def test_export_streams_every_item_with_the_snapshot_revision(env: ClientEnv) -> None:
    users = [env.fake.put_user(f"u{i}") for i in range(5)]
    client = env.client()
    export = client.export_users()
    assert export.revision is None
    assert [u async for u in export] == users
    assert export.revision == env.fake.revision


# --- persistence ------------------------------------------------------------------------------------------


async def test_a_persisted_cache_is_loaded_stale_and_refreshed(env: ClientEnv, tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    ada = env.fake.put_user("ada")
    first = env.client(persist_path=path)
    await first.start()
    await first.get_user("ada")
    await env.close_client(first)
    new = env.fake.put_user("ada", display_name="Ada L.")

    second = env.client(persist_path=path, clock=FakeClock())
    await second.start()

    assert done_with(second.get_user("ada")) == ada  # at once, from the file
    assert second.cached_user("ada") is None  # but stale
    assert await refreshed(second, second.user_key("ada")) == new
    assert env.fake.count("GetUser") == 2


async def test_persist_writes_only_servable_entries(env: ClientEnv, tmp_path: Path) -> None:
    env.fake.put_user("ada")
    env.fake.put_user("bob")
    client = env.client(persist_path=str(tmp_path / "c.sqlite3"))
    await asyncio.gather(client.get_user("ada"), client.get_user("bob"))
    assert await client.persist() == 2
    client.invalidate(("users",))
    assert await client.persist() == 0


async def test_persisted_data_keeps_its_age(env: ClientEnv, tmp_path: Path) -> None:
    path = str(tmp_path / "c.sqlite3")
    env.fake.put_user("ada", display_name="Ada")
    first = env.client(persist_path=path, evict_after_s=300)
    await first.get_user("ada")
    env.clock.advance(250)  # 250 s old when written
    await env.close_client(first)
    new = env.fake.put_user("ada", display_name="Ada L.")

    clock = FakeClock()
    second = env.client(persist_path=path, evict_after_s=300, clock=clock)
    await second.start()
    clock.advance(100)  # now 350 s old: past evict_after, it must not be served

    assert await fetched(second.get_user("ada")) == new  # data older than evict_after_s is not served


async def test_persist_needs_a_path(env: ClientEnv) -> None:
    with pytest.raises(ValueError):
        await env.client().persist()


# --- the sync facade --------------------------------------------------------------------------------------


def test_sync_facade_reads_writes_and_iterates_on_its_own_loop() -> None:
    fake = FakeTransport()
    ada = fake.put_user("ada")
    for name in ("bob", "cy"):
        fake.put_user(name)
    clock = FakeClock()

    with SyncWellspringClient(transport=fake, clock=clock, sleep=FakeSleep(clock), rng=lambda: 0.5) as client:
        assert client.get_user("ada") == ada
        assert client.get_user("ada") == ada  # fresh: no RPC
        assert fake.count("GetUser") == 1 and client.stats.hits == 1

        assert [u.id for u in client.list_users(page_size=2)] == ["ada", "bob", "cy"]
        assert fake.count("ListUsers") == 2

        created = client.create_user(User(email="dan@example.com", display_name="Dan"), user_id="dan")
        assert client.get_user("dan") == created
        assert [u.id for u in client.export_users()] == ["ada", "bob", "cy", "dan"]
        assert fake.count("GetUser") == 1

    assert fake.closed


async def test_a_read_made_while_the_watch_connects_goes_out_after_it_and_is_kept(env: ClientEnv) -> None:
    """Issue 10: such a read went out at once, was in flight when the Watch went live, and its answer was
    dropped by the guard, so the next identical get cost a second RPC."""
    ada = env.fake.put_user("ada")
    client = env.client(watch=True, stale_after_s=60)
    await client.start()
    await env.fake.wait_calls("Watch", 1)
    reader = asyncio.ensure_future(client.get_user("ada"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert env.fake.count("GetUser") + env.fake.count("BatchGetUsers") == 0  # waits for the Watch

    env.fake.push_watch(env.fake.progress())
    assert await reader == ada
    assert done_with(client.get_user("ada")) == ada  # kept: a fresh hit
    assert (env.fake.count("GetUser"), client.stats.guard_drops) == (1, 0)


async def test_a_read_made_while_the_first_watch_fails_does_not_wait_for_it(env: ClientEnv) -> None:
    ada = env.fake.put_user("ada")
    client = env.client(watch=True)
    await client.start()
    env.fake.push_watch(Unavailable("not yet"))
    await env.fake.wait_calls("Watch", 2)
    async with asyncio.timeout(_FIRST_WATCH_WAIT_S / 2):  # not held for the first connection's wait
        assert await client.get_user("ada") == ada


async def test_a_read_in_flight_when_the_watch_goes_live_is_not_kept(env: ClientEnv) -> None:
    # Its snapshot may predate the Watch's "from now": no event would ever correct it. (A read made while
    # the first connection is made waits for it; this one goes out while the Watch reconnects.)
    env.fake.put_user("ada")
    client = env.client(watch=True)
    await client.start()
    env.fake.push_watch(Unavailable("not yet"))
    await env.fake.wait_calls("Watch", 2)
    gate = env.fake.hold("GetUser")
    reader = asyncio.ensure_future(client.get_user("ada"))
    await gate.arrived()
    env.fake.push_watch(env.fake.progress())
    await env.fake.watch_processed()
    gate.release()
    assert (await reader).id == "ada"
    assert client.cached_user("ada") is None and client.stats.guard_drops == 1


async def test_the_post_methods_go_through_the_same_cache(env: ClientEnv) -> None:
    env.fake.put_user("ada")
    for n in (1, 2):
        env.fake.put_post(f"p{n}", "ada")
    client = env.client()
    seen: list[Any] = []
    client.subscribe(client.post_key("p1"), seen.append)

    assert [p.id for p in await client.batch_get_posts(["p1", "p2"])] == ["p1", "p2"]
    assert [p.id for p in seen] == ["p1"]  # primed by the BatchGet
    client.prefetch_post("p3")  # a missing id: the error is dropped
    await env.fake.wait_calls("GetPost", 1)
    result = await client.import_posts([Post(id="p1", author_id="ada", title="new")])
    assert (result.created, result.updated, result.failed) == (0, 1, 0)
    assert client.cached_post("p1") is None  # the import invalidated the collection
    assert (await client.get_post("p1")).title == "new"
