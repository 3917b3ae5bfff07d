"""Request metadata bounded by the service itself, not only by HTTP/2.

gRPC's core enforces ``grpc.max_metadata_size`` / ``grpc.absolute_max_metadata_size`` only once the
client has acknowledged the server's SETTINGS (RFC 9113 §6.5.3: a limit is not in force before): headers
sent right after the connection preface, which HTTP/2 allows and most clients do, are held to the
protocol's default of 16 MiB instead, and a client that never acknowledges is never held to the limit.
This interceptor refuses, with RESOURCE_EXHAUSTED ``METADATA_TOO_LARGE``, any call whose metadata is
over ``max_bytes`` however it arrived, so oversized headers are answered and freed at once instead of
being kept for the call's lifetime (a Watch's: hours). Sizes are counted as HPACK does (name + value +
32 per entry), without the pseudo-headers, so a call core accepts is never refused here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from service.api.admission import log_when_over
from service.api.errors import to_status
from service.api.grpc_types import Context, Handler, InterceptorBase
from service.domain.errors import MetadataTooLarge
from service.observability.metrics import GrpcMetrics

_HPACK_ENTRY_OVERHEAD = 32


def metadata_bytes(metadata: Sequence[tuple[str, str | bytes]] | None) -> int:
    """The size HPACK charges for these entries."""
    return sum(len(key) + len(value) + _HPACK_ENTRY_OVERHEAD for key, value in metadata or ())


class MetadataLimit(InterceptorBase):
    """Place after the admission interceptor (which counts every call) and before the others."""

    def __init__(
        self, max_bytes: int, *, log_calls: bool = False, metrics: GrpcMetrics | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self._log_calls = log_calls  # refusals bypass the interceptor that logs the other calls
        self._metrics = metrics  # ... and counts them

    async def intercept_service(  # type: ignore[override]  # grpc answers UNIMPLEMENTED for None
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        size = metadata_bytes(handler_call_details.invocation_metadata)
        handler = await continuation(handler_call_details)
        if handler is None or size <= self.max_bytes:
            return handler
        status = to_status(MetadataTooLarge(size, self.max_bytes))
        method = handler_call_details.method
        return refusal(
            handler, status, method, "METADATA_TOO_LARGE", log=self._log_calls, metrics=self._metrics
        )


def refusal(
    handler: Handler,
    status: grpc.Status,
    method: str,
    reason: str,
    *,
    log: bool,
    metrics: GrpcMetrics | None = None,
) -> Handler:
    """A handler that answers ``status`` at once, built per refusal (they are rare), logged (``log``) and
    counted (``metrics``) as the server interceptor would have. It takes the request as a stream whatever
    the method, so that grpc.aio calls it without waiting for a request message: a unary handler is only
    called once the message has arrived, and a call half-closed without one would keep its oversized
    headers until its connection ends."""
    streams = (handler.request_streaming, handler.response_streaming)

    async def refuse(_requests: Any, context: Context) -> None:
        if metrics is not None:
            metrics.refused(method, *streams, status.code.name)
        if log:
            log_when_over(context, method, status.code.name, reason=reason)
        await context.abort(status.code, status.details, status.trailing_metadata)

    make = (
        grpc.stream_stream_rpc_method_handler
        if handler.response_streaming
        else grpc.stream_unary_rpc_method_handler
    )
    return make(refuse, response_serializer=handler.response_serializer)
