"""WatchService: the request becomes a Watch command; each batch of the feed becomes one message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import grpc
from wellspring.v1 import watch_service_pb2 as api
from wellspring.v1 import watch_service_pb2_grpc as rpc

from service.api.convert import int_field_2, repeated_field_1
from service.domain import commands
from service.handlers.feed import ChangeFeed


class WatchServicer(rpc.WatchServiceServicer):
    def __init__(self, feed: ChangeFeed) -> None:
        self._feed = feed

    async def Watch(
        self, request: api.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[api.WatchResponse | bytes]:
        cmd = commands.Watch(tuple(request.collections), tuple(request.ids), request.start_revision)
        # The peer address names the TCP connection: the per-connection watcher cap counts by it.
        batches = self._feed.watch(cmd, connection=context.peer())
        async with aclosing(batches):  # unsubscribes at once when the call ends
            async for batch in batches:
                yield repeated_field_1(batch.events) + int_field_2(batch.revision)
