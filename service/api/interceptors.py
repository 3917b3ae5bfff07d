"""One server interceptor: decodes requests (bad bytes -> INVALID_ARGUMENT), maps domain errors through the
error table, hides internals of unexpected ones, counts calls and writes one access-log line per call.

Server streams are written here, and two things that are the client's doing, not the server's, are told
apart from errors: a client that went away (CANCELLED, logged at INFO) and a client that stopped reading
(its stream is ended after ``stall_s``; see ``_send``)."""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import grpc
from grpc._cython.cygrpc import ExecuteBatchError  # what grpc.aio itself catches for a failed batch
from grpc.aio import AbortError, UsageError
from opentelemetry.trace import Span

from service.api.admission import log_call, received, release_slot
from service.api.auth import current_principal
from service.api.errors import internal_status, malformed_request_status, to_status
from service.api.grpc_types import Context, Handler, InterceptorBase
from service.api.ratelimit import RateLimit
from service.api.wire import Encoded
from service.domain.errors import DomainError, RequestStreamIdle, StreamStalled
from service.observability.metrics import GrpcMetrics, MethodMetrics, grpc_type
from service.observability.spans import current_span, ids_of

error_log = logging.getLogger("wellspring.errors")
stream_log = logging.getLogger("wellspring.streams")

_LOGGED_PATH_CHARS = 200


def _cut(path: str) -> str:
    """An unknown method's path is whatever the client sent (up to the metadata limit, 16 KiB): logged
    cut, so a client cannot write long lines to the access log at will."""
    if len(path) <= _LOGGED_PATH_CHARS:
        return path
    return f"{path[:_LOGGED_PATH_CHARS]}...[{len(path)} chars]"


class _Malformed(Exception):
    pass


class _CallLog:
    """One call's outcome for its access-log line and counters: the status it answered, the bytes of its
    request and response messages, and its principal (authentication's, if any)."""

    __slots__ = ("answer", "principal", "received", "sent", "span")

    def __init__(self) -> None:
        self.answer = "OK"
        self.received = 0
        self.sent = 0
        self.principal: str | None = None
        self.span: Span | None = None  # with tracing on: its ids are formatted once the call is over


def _size(response: Any) -> int:
    """A response's bytes on the wire (pre-encoded ones as they are)."""
    if response is None:
        return 0
    return len(response.data) if type(response) is Encoded else int(response.ByteSize())


def _decoder(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any]:
    if deserialize is None:
        return lambda raw: raw

    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except Exception:
            raise _Malformed from None

    return decode


def _passthrough(serialize: Callable[[Any], bytes] | None) -> Callable[[Any], bytes] | None:
    """Servicers may answer with already-serialized bytes (cached payloads, ``wire.Encoded``): sent as
    they are."""
    if serialize is None:
        return None

    def encode(response: Any) -> bytes:
        return response.data if type(response) is Encoded else serialize(response)

    return encode


async def _decoded(
    raw_requests: AsyncIterator[bytes],
    decode: Callable[[bytes], Any],
    idle_s: float,
    pace: Callable[[], Awaitable[None]] | None = None,
    counted: Any = None,
    call: _CallLog | None = None,
) -> AsyncIterator[Any]:
    """The decoded request stream; one that sends nothing for ``idle_s`` ends the call
    (``RequestStreamIdle``) instead of holding it open forever. With ``pace``, each message after the
    first waits for it (the rate limit's per-message cost) before it is read; ``counted`` (a metric) is
    incremented per message, and ``call``'s received bytes grow by each."""
    requests = aiter(raw_requests)
    first = True
    while True:
        if pace is not None and not first:
            await pace()
        first = False
        try:
            async with asyncio.timeout(idle_s):
                raw = await anext(requests)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestStreamIdle(idle_s) from None
        if counted is not None:
            counted.inc()
        if call is not None:
            call.received += len(raw)
        yield decode(raw)


class ServerInterceptor(InterceptorBase):
    """Applied to every service, health and reflection included, so every call pays the same overhead."""

    def __init__(
        self,
        *,
        log_calls: bool = True,
        stall_s: float = 30.0,
        rate_limit: RateLimit | None = None,
        metrics: GrpcMetrics | None = None,
        trace_ids: bool = False,
    ) -> None:
        self._log_calls = log_calls
        self._trace_ids = trace_ids and log_calls  # the call's span's ids in its access-log line
        self.metrics = metrics  # WELLSPRING_METRICS_ADDR: the per-call Prometheus metrics
        self._stall_s = stall_s
        self.rate_limit = rate_limit  # checked before each call's work (service/api/ratelimit.py)
        self._wrapped: dict[str, Handler] = {}
        # (method, status name) -> completed calls; read by tests and benchmarks.
        self.calls: Counter[tuple[str, str]] = Counter()

    async def intercept_service(  # type: ignore[override]  # grpc answers UNIMPLEMENTED for None
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                # Unknown method: grpc answers UNIMPLEMENTED (no context exists yet, so no peer to log).
                # Neither remembered nor counted, so random paths cannot grow memory.
                if self._log_calls:
                    log_call(_cut(method), "UNIMPLEMENTED")
                return None
            wrapped = self._wrap(method, handler)
            self._wrapped[method] = wrapped
        return wrapped

    def _finish(
        self,
        method: str,
        call: _CallLog,
        started: float,
        peer: str,
        context: Context,
        m: MethodMetrics | None,
    ) -> None:
        """Once the call is over: the access-log line with the status the client received, and the count
        moved to it when that differs from what the handler answered."""
        answer = call.answer
        code = received(answer, context)
        if code != answer:
            self.calls[method, answer] -= 1
            self.calls[method, code] += 1
        if m is not None:
            m.handled(code).inc()
            m.seconds.observe(time.perf_counter() - started)
        if self._log_calls:
            fields: dict[str, Any] = {"request_bytes": call.received, "response_bytes": call.sent}
            if call.principal is not None:
                fields["principal"] = call.principal
            ids = ids_of(call.span) if call.span is not None else None
            if ids is not None:
                fields["trace_id"], fields["span_id"] = ids
            log_call(method, code, peer, started, **fields)

    def _status_for(self, method: str, error: BaseException) -> grpc.Status:
        if isinstance(error, DomainError):
            return to_status(error)
        if isinstance(error, _Malformed):
            return malformed_request_status()
        error_log.error("unhandled error in %s", method, exc_info=error)
        return internal_status()

    def _wrap(self, method: str, handler: Handler) -> Handler:
        decode = _decoder(handler.request_deserializer)
        serializer = _passthrough(handler.response_serializer)

        rate_limit = self.rate_limit
        m = None
        if self.metrics is not None:
            m = self.metrics.method(method, grpc_type(handler.request_streaming, handler.response_streaming))
        received_one = m.received if m is not None else None

        def stream_of(raws: AsyncIterator[bytes], context: Context, call: _CallLog) -> AsyncIterator[Any]:
            cost = rate_limit.per_message(method, context) if rate_limit is not None else 0
            pace = None
            if rate_limit is not None and cost:
                pace = lambda: rate_limit.pace(method, context, cost)  # noqa: E731
            return _decoded(raws, decode, self._stall_s, pace, received_one, call)

        def one(raw: bytes, _: Context, call: _CallLog) -> Any:
            if received_one is not None:
                received_one.inc()
            call.received += len(raw)
            return decode(raw)

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, handler.unary_unary, one, m=m), response_serializer=serializer
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream, one, m=m),
                response_serializer=serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._unary(method, handler.stream_unary, stream_of, request_stream=True, m=m),
                response_serializer=serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(method, handler.stream_stream, stream_of, m=m),
            response_serializer=serializer,
        )

    def _unary(
        self,
        method: str,
        behavior: Any,
        decode: Callable[[Any, Context, _CallLog], Any],
        *,
        request_stream: bool = False,
        m: MethodMetrics | None = None,
        one_response: bool = True,
    ) -> Any:
        sent = m.sent if m is not None and one_response else None
        sizes = self._log_calls and one_response

        async def unary(raw: Any, context: Context) -> Any:
            call = _CallLog()
            result = await self._run(
                method,
                context,
                lambda: behavior(decode(raw, context, call), context),
                request_stream,
                m,
                call,
            )
            if sent is not None:
                sent.inc()
            if sizes:
                call.sent += _size(result)
            return result

        return unary

    def _streaming(
        self,
        method: str,
        behavior: Any,
        decode: Callable[[Any, Context, _CallLog], Any],
        *,
        request_stream: bool = False,
        m: MethodMetrics | None = None,
    ) -> Any:
        if not inspect.isasyncgenfunction(behavior):  # writes its own messages: not counted one by one
            return self._unary(
                method, behavior, decode, request_stream=request_stream, m=m, one_response=False
            )
        sent = m.sent if m is not None else None
        sizes = self._log_calls

        # A coroutine writing each response, not a generator yielding them: grpc cancels the handler at
        # its pending write, and a generator suspended at a yield would only be closed (ending the
        # servicer's transaction) when the garbage collector found it.
        async def write_all(raw: Any, context: Context, call: _CallLog) -> None:
            async with aclosing(behavior(decode(raw, context, call), context)) as responses:
                async for response in responses:
                    await self._send(context, responses, response)
                    if sent is not None:
                        sent.inc()
                    if sizes:
                        call.sent += _size(response)

        async def stream(raw: Any, context: Context) -> None:
            call = _CallLog()
            await self._run(method, context, lambda: write_all(raw, context, call), request_stream, m, call)

        return stream

    async def _run(
        self,
        method: str,
        context: Context,
        work: Callable[[], Awaitable[Any]],
        request_stream: bool,
        m: MethodMetrics | None,
        call: _CallLog,
    ) -> Any:
        """The call's work, its errors answered through the table. What it answered is counted now; the
        access-log line waits for the call to be over (``_finish``), for the status the client received."""
        started, peer = time.perf_counter(), context.peer() if self._log_calls else ""
        if m is not None:
            m.started.inc()
        if self._log_calls:
            principal = current_principal()
            call.principal = principal.subject if principal is not None else None
            if self._trace_ids:
                call.span = current_span()
        done = lambda ctx: self._finish(method, call, started, peer, ctx, m)  # noqa: E731
        context.add_done_callback(done)  # type: ignore[arg-type]  # grpc-stubs: a class, not a Callable
        try:
            if self.rate_limit is not None:
                await self.rate_limit.admit(method, context)
            result = await work()
            if request_stream:
                await _still_wanted(context)
            return result
        except AbortError:
            call.answer = _code_name(context)
            raise
        except (asyncio.CancelledError, GeneratorExit):
            call.answer = "CANCELLED"
            raise
        except Exception as error:
            status = self._status_for(method, error)
            call.answer = status.code.name
            try:
                await context.abort(status.code, status.details, status.trailing_metadata)
            except ExecuteBatchError:  # the client had gone: the error never reached it
                call.answer = "CANCELLED"
                raise
        finally:
            self.calls[method, call.answer] += 1

    async def _send(self, context: Context, responses: Any, response: Any) -> None:
        """Write one message; a timer (cheap: no task per message) notices one that the client's flow
        control holds back for ``stall_s`` (see ``_stalled``)."""
        stall: list[asyncio.Task[Exception]] = []

        def stalled() -> None:
            stall.append(asyncio.ensure_future(self._stalled(context, responses)))

        timer = asyncio.get_running_loop().call_later(self._stall_s, stalled)
        try:
            await context.write(response)
        except ExecuteBatchError:
            # The client ended the call (RST_STREAM, or its connection closed) before this write reached
            # the transport: the C core fails the batch instead of cancelling the task, as it does when
            # the client leaves during a write. The same fact, so the same outcome: CANCELLED, not an
            # error (grpc has nothing left to send either way).
            raise asyncio.CancelledError from None
        finally:
            timer.cancel()
            # The stream is being told; nothing else may touch it until it has answered.
            verdict = await stall[0] if stall else None
        if verdict is not None:
            raise verdict

    async def _stalled(self, context: Context, responses: Any) -> Exception:
        """The client read nothing for ``stall_s``. ``StreamStalled`` is thrown into the stream at the
        message it yielded, so that it releases what it holds now (an Export its snapshot) and says where
        the client stands (the snapshot's revision, the last id sent); what it raises is the call's
        answer. That answer can only follow the pending message (the C core takes no status while a
        message is in flight, and a server cannot reset a stream from Python), so the write goes on: a
        slow client gets the answer once it reads on; one that never does holds one message in the
        transport, not the database, until it leaves (CANCELLED) or its connection is closed."""
        stall = StreamStalled(self._stall_s)
        fields = {"stall_s": self._stall_s, "peer": context.peer()}
        stream_log.info("stream stalled; ending it", extra={"fields": fields})
        release_slot()
        try:
            await responses.athrow(stall)
        except Exception as verdict:
            return verdict
        return stall  # the stream yielded again instead: ended all the same


async def _still_wanted(context: Context) -> None:
    """Raises CancelledError if the client has cancelled the call. A cancellation ends the request stream
    just as a half-close does, and grpc tells the handler only a moment later (mostly within a turn of
    the loop, sometimes not): an Import whose client had cancelled it answered OK into the void, and was
    logged OK. Core fails every new batch on a cancelled call, so sending the response headers now (they
    would go out with the answer anyway) tells the two apart."""
    try:
        await context.send_initial_metadata(())
    except ExecuteBatchError:
        raise asyncio.CancelledError from None
    except UsageError:  # the handler sent them itself: it is past the point where this could tell
        pass


def _code_name(context: Context) -> str:
    code = context.code()
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
