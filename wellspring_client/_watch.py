"""One resumable Watch: the connection, the revision to resume from, and the backoff between attempts.
Both readers of the change feed use it — ``WellspringClient.watch()`` (which hands events to the caller)
and the cache's own Watch (which applies them) — and differ only in what a break means to them."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from wellspring.v1 import watch_service_pb2 as watch_api

from wellspring_client._retry import RetryPolicy
from wellspring_client.transport import Transport

_WATCH_RETRY = RetryPolicy(attempts=1_000_000_000, initial_backoff_s=0.05, max_backoff_s=2.0)


class ResumableWatch:
    """``connect()`` streams the Watch's messages from ``next_revision`` (0: from now) until the stream
    breaks or ends; every event it delivered moves ``next_revision`` past it, so the next ``connect()``
    resumes exactly after the last one (no gap, no repeat). ``pause()`` waits before reconnecting, with
    backoff that restarts once a connection delivered something."""

    def __init__(
        self,
        transport: Transport,
        *,
        collections: Sequence[str] = (),
        ids: Sequence[str] = (),
        start_revision: int = 0,
        sleep: Callable[[float], Awaitable[None]],
        rng: Callable[[], float],
        policy: RetryPolicy = _WATCH_RETRY,
    ) -> None:
        self.next_revision = start_revision
        self._transport = transport
        self._collections = list(collections)
        self._ids = list(ids)
        self._sleep = sleep
        self._rng = rng
        self._policy = policy
        self._backoffs = policy.backoffs(rng)

    async def connect(self) -> AsyncIterator[Any]:
        """One connection's ``WatchResponse`` messages; raises what broke it (a consumer's ``break`` or
        ``aclose()`` ends the server's stream too)."""
        request = watch_api.WatchRequest(
            collections=self._collections, ids=self._ids, start_revision=self.next_revision
        )
        stream = self._transport.server_stream("Watch", request, None)
        async with contextlib.aclosing(stream):  # type: ignore[type-var]
            async for message in stream:
                self._backoffs = self._policy.backoffs(self._rng)
                for event in message.events:
                    self.next_revision = max(self.next_revision, event.revision + 1)
                self.next_revision = max(self.next_revision, message.revision + 1)
                yield message

    async def pause(self, retry_after_s: float | None = None) -> None:
        """Wait before the next ``connect()``: the next backoff, or the server's RetryInfo delay when
        that is longer (capped by the policy's longest wait)."""
        delay = next(self._backoffs)
        await self._sleep(max(delay, min(retry_after_s or 0.0, self._policy.max_backoff_s)))
