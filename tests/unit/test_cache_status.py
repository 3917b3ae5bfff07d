"""The Redis probe's bookkeeping (service/cache/status.py): one line per change, never one per probe."""

from __future__ import annotations

import asyncio
import logging

import pytest

from service.cache.status import Reachability, probe


class FlakyRedis:
    def __init__(self) -> None:
        self.down = False

    async def ping(self) -> None:
        if self.down:
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")


async def test_an_outage_is_logged_and_published_once_each_way(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wellspring.cache")
    now = [100.0]
    reach = Reachability("Redis at 127.0.0.1:6390/0", clock=lambda: now[0])
    redis, published = FlakyRedis(), []

    async def publish(up: bool) -> None:
        published.append(up)

    for down in (False, False, True, True, True, False, False):
        redis.down = down
        await probe(redis, reach, publish, timeout_s=0.5)
        now[0] += 5.0
    assert published == [True, False, True]
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages == [
        (
            "WARNING",
            "Redis at 127.0.0.1:6390/0 is not answering (ConnectionError: Error 111 connecting to "
            "127.0.0.1:6390. Connection refused.); serving without it meanwhile",
        ),
        ("INFO", "Redis at 127.0.0.1:6390/0 is answering again after 15.0s down"),
    ]


async def test_a_redis_down_at_start_is_a_warning_at_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wellspring.cache")
    redis, published = FlakyRedis(), []
    redis.down = True

    async def publish(up: bool) -> None:
        published.append(up)

    await probe(redis, Reachability("Redis at x:1/0"), publish, timeout_s=0.5)
    assert published == [False]
    assert [r.levelname for r in caplog.records] == ["WARNING"]


async def test_one_failed_probe_between_answers_is_no_outage(caplog: pytest.LogCaptureFixture) -> None:
    """A probe that times out once may be this process's loop stalled, not Redis: nothing is said."""
    caplog.set_level(logging.INFO, logger="wellspring.cache")
    now = [100.0]
    reach = Reachability("Redis at x:1/0", clock=lambda: now[0])
    redis, published = FlakyRedis(), []

    async def publish(up: bool) -> None:
        published.append(up)

    for down in (False, True, False, True, False, True, True, False):
        redis.down = down
        await probe(redis, reach, publish, timeout_s=0.5)
        now[0] += 5.0
    assert published == [True, False, True]  # only the two failures in a row were an outage
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2 and "not answering" in messages[0], messages
    assert messages[1] == "Redis at x:1/0 is answering again after 10.0s down"


async def test_a_probe_slower_than_its_timeout_once_is_no_outage(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="wellspring.cache")
    reach, published = Reachability("Redis at x:1/0"), []

    class SlowOnce:
        def __init__(self) -> None:
            self.delays = [0.0, 0.2, 0.0]

        async def ping(self) -> None:
            await asyncio.sleep(self.delays.pop(0))

    async def publish(up: bool) -> None:
        published.append(up)

    redis = SlowOnce()
    for _ in range(3):
        await probe(redis, reach, publish, timeout_s=0.05)
    assert published == [True] and caplog.records == []
