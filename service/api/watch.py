"""WatchService: the request becomes a Watch command; each batch of the feed becomes one message."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

from opentelemetry import trace
from wellspring.v1 import watch_service_pb2 as api
from wellspring.v1 import watch_service_pb2_grpc as rpc

from service.api.auth import current_principal
from service.api.grpc_types import Context
from service.api.wire import Encoded, Shape
from service.changes.feed import ChangeFeed, WatchBatch
from service.domain import commands
from service.domain.errors import StreamStalled, WatcherTooSlow
from service.observability.spans import links_to


class WatchServicer(rpc.WatchServiceServicer):
    def __init__(self, feed: ChangeFeed, tracer: trace.Tracer | None = None) -> None:
        self._feed = feed
        self._tracer = tracer  # with tracing on: a span per delivery of traced writes, linked to them
        self._shape = Shape(api.WatchResponse, "events", "revision")

    async def Watch(  # type: ignore[override]  # answers wire.Encoded (interceptors._passthrough)
        self, request: api.WatchRequest, context: Context
    ) -> AsyncIterator[api.WatchResponse | Encoded[api.WatchResponse]]:
        cmd = commands.Watch(
            tuple(request.collections), tuple(request.ids), request.start_revision, current_principal()
        )
        # The peer address names the TCP connection: the per-connection watcher cap counts by it.
        batches = self._feed.watch(cmd, connection=context.peer())
        delivered = cmd.start_revision - 1 if cmd.start_revision > 0 else None
        async with aclosing(batches):  # unsubscribes at once when the call ends
            async for batch in batches:
                delivery = self._delivery(batch) if batch.traces and self._tracer is not None else None
                try:
                    yield self._shape.encode(batch.events, batch.revision)
                except StreamStalled:
                    # The client stopped reading at this batch: it is told, like a watcher whose queue
                    # overflowed, where to resume. Everything up to the batch before was handed over; a
                    # progress message held back loses nothing, so its revision counts as delivered.
                    resume = batch.revision if not batch.events else delivered
                    if resume is None:
                        raise
                    raise WatcherTooSlow(resume) from None
                finally:
                    if delivery is not None:  # ended once the batch is written (or the stream ends)
                        delivery.end()
                delivered = batch.revision

    def _delivery(self, batch: WatchBatch) -> trace.Span:
        """A child of the Watch call's span, linked to the spans of the writes the batch carries: one
        trace shows the write, another the stream, and the link joins them (a stream lives far longer
        than any one write's trace)."""
        assert self._tracer is not None
        return self._tracer.start_span(
            "wellspring.v1.WatchService/Watch deliver",
            kind=trace.SpanKind.PRODUCER,
            links=links_to(batch.traces),
            attributes={
                "wellspring.watch.events": len(batch.events),
                "wellspring.watch.revision": batch.revision,
            },
        )
