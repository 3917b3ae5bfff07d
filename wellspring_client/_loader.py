"""DataLoader-style coalescing: the ``load(id)`` calls of one event-loop tick go out as one BatchGet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from google.rpc import error_details_pb2

from wellspring_client.errors import NotFound, WellspringError

MAX_BATCH = 1000  # the server's BatchGet limit
log = logging.getLogger("wellspring_client")


class BatchLoader:
    """``load(id)`` returns a future; one callback per tick sends the ids gathered so far — one id as a
    plain Get, more as BatchGets of up to 1000. BatchGet fails whole when an id is missing: the ids its
    NOT_FOUND names fail alone and the rest are asked again."""

    def __init__(
        self,
        get_one: Callable[[str, float | None], Awaitable[Any]],
        get_many: Callable[[Sequence[str], float | None], Awaitable[Sequence[Any]]],
        *,
        on_batch: Callable[[int], None] = lambda n: None,
    ) -> None:
        self._get_one = get_one
        self._get_many = get_many
        self._on_batch = on_batch
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._timeout: float | None = None  # the longest deadline asked for in this tick (None: default)
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self, item_id: str, timeout: float | None = None) -> asyncio.Future[Any]:
        """The future of ``item_id``; ``timeout`` bounds the RPC (the batch takes the longest asked for,
        so no caller is cut short by another's shorter deadline)."""
        loop = asyncio.get_running_loop()
        if not self._pending:
            loop.call_soon(self._flush)
            self._timeout = timeout
        elif timeout is not None and self._timeout is not None:
            self._timeout = max(self._timeout, timeout)
        else:
            self._timeout = None
        future = self._pending.get(item_id)
        if future is None:
            future = self._pending[item_id] = loop.create_future()
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        ids = list(pending)
        for start in range(0, len(ids), MAX_BATCH):
            chunk = {i: pending[i] for i in ids[start : start + MAX_BATCH]}
            task = asyncio.get_running_loop().create_task(self._send(chunk, self._timeout))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    async def _send(self, futures: dict[str, asyncio.Future[Any]], timeout: float | None) -> None:
        try:
            if len(futures) == 1:
                [(item_id, future)] = futures.items()
                _settle(future, value=await self._get_one(item_id, timeout))
            else:
                await self._send_many(futures, timeout)
        except WellspringError as error:
            for future in futures.values():
                _settle(future, error=error)
        except BaseException as error:  # cancelled (client closing) or a bug: never leave a waiter hanging
            for future in futures.values():
                _settle(future, error=error)
            raise

    async def _send_many(self, futures: dict[str, asyncio.Future[Any]], timeout: float | None) -> None:
        remaining = list(futures)
        while len(remaining) > 1:
            self._on_batch(len(remaining))
            try:
                found = await self._get_many(remaining, timeout)
            except NotFound as error:
                missing = set(error.resource_names).intersection(remaining)
                if not missing:  # the error names none of ours: ask one by one
                    break
                for item_id in missing:
                    _settle(futures[item_id], error=_alone(error, item_id))
                remaining = [i for i in remaining if i not in missing]
                continue
            for item_id, value in zip(remaining, found, strict=True):
                _settle(futures[item_id], value=value)
            return
        results = await asyncio.gather(
            *(self._get_one(i, timeout) for i in remaining), return_exceptions=True
        )
        for item_id, result in zip(remaining, results, strict=True):
            if isinstance(result, WellspringError):
                _settle(futures[item_id], error=result)
            elif isinstance(result, BaseException):
                raise result
            else:
                _settle(futures[item_id], value=result)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:  # its waiters have it already
            log.error("a batch of gets failed", exc_info=task.exception())

    async def close(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _alone(error: NotFound, item_id: str) -> NotFound:
    """The batch's NOT_FOUND as it concerns one id: its own ResourceInfo, the other details as they were."""
    details = tuple(
        d
        for d in error.details
        if not isinstance(d, error_details_pb2.ResourceInfo) or d.resource_name == item_id
    )
    return NotFound(f"{item_id} not found", details=details)


def _settle(future: asyncio.Future[Any], *, value: Any = None, error: BaseException | None = None) -> None:
    if future.done():
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is None:
        future.set_result(value)
    else:
        future.set_exception(error)
