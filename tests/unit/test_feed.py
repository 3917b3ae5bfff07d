"""The change feed on the fake database: catch-up then live without gaps, filters, bounded queues, the
compaction watermark, shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from service.changes.feed import ChangeFeed, FeedLimits, WatchBatch
from service.domain.commands import Watch
from service.domain.errors import InvalidInput, RevisionCompacted, ServerClosing, WatcherTooSlow
from service.repository.base import CREATED, DELETED, ChangeEntry
from tests.fakes import FakeDatabase


def encode(revision: int, kind: int, collection: str, resource_id: str, payload: bytes | None) -> bytes:
    return f"{revision}:{kind}:{collection}:{resource_id}".encode()


async def write(db: FakeDatabase, *changes: tuple[str, str]) -> None:
    async with db.writing() as uow:
        entries = [ChangeEntry(c, i, CREATED, b"v") for c, i in changes]
        await uow.changes.append(entries, 0)
        await uow.commit()


@asynccontextmanager
async def running(db: FakeDatabase, **limits: object) -> AsyncIterator[ChangeFeed]:
    feed = ChangeFeed(db, encode, FeedLimits(**limits))  # type: ignore[arg-type]
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()


def revisions(batch: WatchBatch) -> list[int]:
    return [int(e.split(b":")[0]) for e in batch.events]


async def next_events(stream: AsyncIterator[WatchBatch]) -> WatchBatch:
    """The next batch that carries events (progress messages are skipped), within 5 s."""
    async with asyncio.timeout(5):
        while True:
            batch = await anext(stream)
            if batch.events:
                return batch


async def test_catch_up_then_live_without_gap_or_duplicate() -> None:
    db = FakeDatabase()
    for n in range(5):
        await write(db, ("users", f"u{n}"))
    async with running(db, page_rows=2) as feed:
        stream = feed.watch(Watch(start_revision=3))
        seen = revisions(await next_events(stream)) + revisions(await next_events(stream))
        assert seen == [3, 4, 5]
        caught_up = await anext(stream)
        assert caught_up.events == [] and caught_up.revision == 5
        await write(db, ("users", "a"), ("users", "b"))
        assert revisions(await next_events(stream)) == [6, 7]
        await stream.aclose()
        assert feed.watchers == 0


async def test_start_zero_means_from_now() -> None:
    db = FakeDatabase()
    await write(db, ("users", "old"))
    async with running(db) as feed:
        stream = feed.watch(Watch())
        first = await anext(stream)
        assert first.events == [] and first.revision == 1
        await write(db, ("users", "new"))
        assert revisions(await next_events(stream)) == [2]
        await stream.aclose()


async def test_collections_and_ids_filter_events_but_progress_covers_all() -> None:
    db = FakeDatabase()
    async with running(db) as feed:
        stream = feed.watch(Watch(collections=("posts",), ids=("p1",)))
        await anext(stream)
        await write(db, ("users", "p1"), ("posts", "p2"), ("posts", "p1"))
        batch = await next_events(stream)
        assert batch.events == [b"3:1:posts:p1"] and batch.revision == 3
        await stream.aclose()


async def test_a_watcher_past_its_queue_bound_is_told_where_to_resume() -> None:
    db = FakeDatabase()
    async with running(db, queue_events=3) as feed:
        stream = feed.watch(Watch(start_revision=1))
        await anext(stream)  # caught up at 0; now it stops reading
        await write(db, *[("users", f"u{n}") for n in range(10)])
        async with asyncio.timeout(5):
            while feed.head < 10:  # noqa: ASYNC110 -- a poll with a deadline: the tailer offers as it reads
                await asyncio.sleep(0.001)
        with pytest.raises(WatcherTooSlow) as raised:
            await anext(stream)
        assert raised.value.metadata["resume_revision"] == "1"


async def test_revisions_at_or_below_the_watermark_are_out_of_range() -> None:
    db = FakeDatabase()
    for n in range(4):
        await write(db, ("users", f"u{n}"))
    db.state.compacted = 2
    db.state.log = db.state.log[2:]
    async with running(db) as feed:
        with pytest.raises(RevisionCompacted) as raised:
            await anext(feed.watch(Watch(start_revision=2)))
        assert raised.value.oldest_revision == 3
        stream = feed.watch(Watch(start_revision=3))
        assert revisions(await next_events(stream)) == [3, 4]
        await stream.aclose()


async def test_closing_ends_watchers_with_their_resume_revision() -> None:
    db = FakeDatabase()
    await write(db, ("users", "u"))
    async with running(db) as feed:
        stream = feed.watch(Watch(start_revision=1))
        await next_events(stream)
        feed.close()
        with pytest.raises(ServerClosing) as raised:
            async with asyncio.timeout(5):
                while True:
                    await anext(stream)
        assert raised.value.metadata["resume_revision"] == "2"
        with pytest.raises(ServerClosing):
            await anext(feed.watch(Watch()))


async def test_idle_watchers_get_progress_messages() -> None:
    db = FakeDatabase()
    async with running(db, progress_s=0.01) as feed:
        stream = feed.watch(Watch(collections=("posts",)))
        await anext(stream)
        await write(db, ("users", "elsewhere"))
        async with asyncio.timeout(5):
            while (batch := await anext(stream)).revision < 1:
                pass
        assert batch.events == [] and batch.revision == 1
        await stream.aclose()


@pytest.mark.parametrize(
    "cmd",
    [Watch(collections=("reactions",)), Watch(ids=("BAD ID",)), Watch(start_revision=-1)],
)
async def test_bad_watch_requests_are_invalid(cmd: Watch) -> None:
    async with running(FakeDatabase()) as feed:
        with pytest.raises(InvalidInput):
            await anext(feed.watch(cmd))


async def test_deletes_are_delivered_like_any_change() -> None:
    db = FakeDatabase()
    async with running(db) as feed:
        stream = feed.watch(Watch())
        await anext(stream)
        async with db.writing() as uow:
            await uow.changes.append([ChangeEntry("users", "gone", DELETED, None)], 0)
            await uow.commit()
        assert (await next_events(stream)).events == [b"1:3:users:gone"]
        await stream.aclose()


async def test_a_tailer_overtaken_by_compaction_ends_its_watchers_out_of_range() -> None:
    db = FakeDatabase()
    await write(db, ("users", "a"))
    async with running(db) as feed:
        stream = feed.watch(Watch())
        await anext(stream)  # live at revision 1
        later = feed.watch(Watch(start_revision=5))  # wants nothing that will be lost
        await anext(later)
        db.state.next_revision = 5  # revisions 2-4 were written and compacted before the tailer saw them
        db.state.compacted = 4
        await write(db, ("users", "b"))
        assert revisions(await next_events(later)) == [5]
        with pytest.raises(RevisionCompacted) as raised:
            async with asyncio.timeout(5):
                while True:
                    await anext(stream)
        assert raised.value.oldest_revision == 5
        assert feed.head == 5
