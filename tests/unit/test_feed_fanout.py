"""The change feed's routing and admission on the fake database: watchers of several collections or of ids
still get commit order, the fan-out lets other tasks run between groups of watchers, and the watcher caps
per replica and per connection."""

from __future__ import annotations

import asyncio

import pytest

from service.domain.commands import Watch
from service.domain.errors import TooManyWatchers
from tests.fakes import FakeDatabase
from tests.unit.test_feed import next_events, revisions, running, write


async def test_watchers_of_several_collections_or_of_ids_get_commit_order() -> None:
    db = FakeDatabase()
    async with running(db) as feed:
        both = feed.watch(Watch(collections=("users", "posts")))
        named = feed.watch(Watch(ids=("a", "b")))
        users_named = feed.watch(Watch(collections=("users",), ids=("a",)))
        for stream in (both, named, users_named):
            await anext(stream)
        await write(db, ("posts", "a"), ("users", "b"), ("posts", "x"), ("users", "a"), ("posts", "b"))
        assert revisions(await next_events(both)) == [1, 2, 3, 4, 5]
        assert revisions(await next_events(named)) == [1, 2, 4, 5]
        assert revisions(await next_events(users_named)) == [4]
        for stream in (both, named, users_named):
            await stream.aclose()
        assert feed.watchers == 0


async def test_the_fan_out_lets_other_tasks_run_between_groups_of_watchers() -> None:
    db = FakeDatabase()
    async with running(db, fan_out_group=2, poll_s=0.01) as feed:
        streams = [feed.watch(Watch()) for _ in range(10)]
        for stream in streams:
            await anext(stream)
        subscriptions = feed._subscribers.snapshot()
        seen: set[int] = set()

        async def look() -> None:  # runs between the tailer's groups: sees some watchers served, not all
            while not all(s.queue for s in subscriptions):
                seen.add(sum(1 for s in subscriptions if s.queue))
                await asyncio.sleep(0)

        looking = asyncio.create_task(look())
        await write(db, ("users", "u"))
        feed.poke()
        await asyncio.wait_for(looking, 5)
        assert seen & {2, 4, 6, 8}, seen
        for stream in streams:
            assert revisions(await next_events(stream)) == [1]
            await stream.aclose()


async def test_watchers_are_capped_per_replica_and_per_connection() -> None:
    db = FakeDatabase()
    async with running(db, max_watchers=4, max_watchers_per_connection=2) as feed:
        held = [feed.watch(Watch(), connection=c) for c in ("one", "one", "two")]
        for stream in held:
            await anext(stream)
        with pytest.raises(TooManyWatchers) as per_connection:
            await anext(feed.watch(Watch(), connection="one"))
        assert per_connection.value.metadata == {"scope": "connection", "max_watchers": "2"}
        held.append(feed.watch(Watch(), connection="two"))
        await anext(held[-1])
        with pytest.raises(TooManyWatchers) as per_replica:
            await anext(feed.watch(Watch(), connection="three"))
        assert per_replica.value.metadata == {"scope": "replica", "max_watchers": "4"}
        await held.pop(0).aclose()
        assert feed.admitted == 3
        held.append(feed.watch(Watch(), connection="one"))
        await anext(held[-1])
        for stream in held:
            await stream.aclose()
        assert feed.admitted == 0 and feed.watchers == 0
