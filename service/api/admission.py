"""Admission, the first interceptor: whether a call runs at all, decided before anything is decoded, and
how many are running — which is what a graceful shutdown waits for.

* A server-wide cap on concurrent calls (streams count: a Watch or an Import holds its slot while open),
  answered RESOURCE_EXHAUSTED with RetryInfo and ErrorInfo ``TOO_MANY_CONCURRENT_RPCS``. grpc.aio's own
  ``maximum_concurrent_rpcs`` answers a bare "Concurrent RPC limit exceeded!" (nothing tells a client how
  long to back off, nothing machine-readable) and counts health checks, which a load balancer must get
  answered on a busy replica too; and it cannot share its count with the shutdown below.
* On shutdown (``close()``) new calls are answered UNAVAILABLE ``SERVER_SHUTTING_DOWN`` with RetryInfo at
  once; ``drained()`` waits for the admitted ones; ``finish()`` ends the health Watch streams.
* ``settled()`` waits until gRPC's core has handed over every call it had accepted. grpc.aio asks core
  for one call per method at a time, so a burst waits inside core, accepted by HTTP/2 but not dispatched;
  core's shutdown cancels whatever still waits there (the client sees CANCELLED). So the server keeps
  dispatching until channelz's count of calls core started equals the count handed to this interceptor,
  and only then stops. (Waiting for a quiet spell instead was measured to end too early: under load core
  hands calls over in bursts, one per method per pass of grpc's loop, with pauses of ~0.1 s between.)

Health checks are neither capped, refused nor counted.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import aclosing, suppress
from typing import Any

import grpc
from grpc._cython import cygrpc

from service.api.errors import to_status
from service.api.grpc_types import Context, Handler, InterceptorBase
from service.domain.errors import DomainError, ShuttingDown, TooManyCalls
from service.observability.metrics import GrpcMetrics

log = logging.getLogger("wellspring")
access_log = logging.getLogger("wellspring.access")

HEALTH_PREFIX = "/grpc.health.v1.Health/"

# settled() looks every tick; it trusts that core's queue is empty when no call has been handed over for
# SETTLE_STALL_S although channelz still counts some as queued (a call cancelled while queued is counted by
# core and never handed over), or when channelz cannot be read. Stalls of the event loop under load have
# been seen to last ~0.1 s here, and more on a loaded 2-core machine (0.3 s was seen to end a settle early).
SETTLE_TICK_S = 0.005
SETTLE_STALL_S = 0.6
# Overload warnings: at most one line per this many seconds, with the count refused meanwhile.
_WARN_EVERY_S = 10.0

Behavior = Callable[[Any, Context], Awaitable[Any]]


class Admission(InterceptorBase):
    """Place first in the server's interceptors so that refusals cost nothing downstream."""

    def __init__(
        self,
        *,
        max_concurrent_rpcs: int,
        log_calls: bool = True,
        clock: Callable[[], float] = time.monotonic,
        metrics: GrpcMetrics | None = None,
    ) -> None:
        self.max_concurrent_rpcs = max_concurrent_rpcs
        self._log_calls = log_calls
        self._metrics = metrics  # refusals bypass the server interceptor, which counts the other calls
        self._clock = clock
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._closing = False
        self._finished = asyncio.Event()
        self._arrivals = 0  # every call grpc hands over, known method or not
        self._servers_before = _channelz_server_ids()
        self._channelz_id: int | None = None
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}
        self._overloaded = to_status(TooManyCalls(max_concurrent_rpcs))
        self._shutting_down = to_status(ShuttingDown())
        self._warned_at = -_WARN_EVERY_S
        self._unwarned = 0
        # reason -> refused calls; read by tests, logged at shutdown.
        self.refused: Counter[str] = Counter()

    @property
    def running(self) -> int:
        """Admitted calls (health checks aside) that have not finished."""
        return self._running

    async def intercept_service(  # type: ignore[override]  # grpc answers UNIMPLEMENTED for None
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        self._arrivals += 1
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED; nothing is remembered
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = (handler, self._wrap(method, handler))
            self._wrapped[method] = cached
        return cached[1]

    def close(self) -> None:
        """Shutting down: from now on every new call (health checks aside) is refused UNAVAILABLE."""
        self._closing = True

    def finish(self) -> None:
        """The drain is over: health Watch streams end UNAVAILABLE instead of holding the server's stop."""
        self._closing = True
        self._finished.set()

    def attach(self) -> None:
        """Call right after creating the server: finds its channelz entry (the one server created since
        this interceptor was), whose count of started calls ``settled()`` compares with what it was handed."""
        created = _channelz_server_ids() - self._servers_before
        self._channelz_id = created.pop() if len(created) == 1 else None

    def queued_in_core(self) -> int | None:
        """Calls core has accepted but not handed over yet (None when channelz cannot tell)."""
        if self._channelz_id is None:
            return None
        started = _channelz_calls_started(self._channelz_id)
        return None if started is None else started - self._arrivals

    async def settled(self, max_s: float, *, tick_s: float = SETTLE_TICK_S) -> bool:
        """Once core has handed over every call it had accepted (True), or after ``max_s`` (False)."""
        deadline = self._clock() + max_s
        seen, moved = self._arrivals, self._clock()
        while True:
            queued = self.queued_in_core()
            now = self._clock()
            if (queued is not None and queued <= 0) or now - moved >= SETTLE_STALL_S:
                return True
            if now >= deadline:
                return False
            await asyncio.sleep(tick_s)
            if self._arrivals != seen:
                seen, moved = self._arrivals, self._clock()

    async def drained(self, timeout_s: float) -> bool:
        """Once every admitted call has finished (True), or after ``timeout_s`` (False)."""
        if self._idle.is_set():
            return True
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def _wrap(self, method: str, handler: Handler) -> Handler:
        exempt = method.startswith(HEALTH_PREFIX)
        for kind, make in (
            ("unary_unary", grpc.unary_unary_rpc_method_handler),
            ("unary_stream", grpc.unary_stream_rpc_method_handler),
            ("stream_unary", grpc.stream_unary_rpc_method_handler),
            ("stream_stream", grpc.stream_stream_rpc_method_handler),
        ):
            behavior = getattr(handler, kind)
            if behavior is None:
                continue
            coroutine = _as_coroutine(behavior)
            if exempt:
                guarded = self._until_finished(coroutine) if handler.response_streaming else coroutine
            else:
                guarded = self._guarded(
                    method, coroutine, (handler.request_streaming, handler.response_streaming)
                )
            return make(
                guarded,
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        raise TypeError(f"no behavior in the handler of {method}")

    def _guarded(self, method: str, behavior: Behavior, streams: tuple[bool, bool]) -> Behavior:
        async def call(request: Any, context: Context) -> Any:
            refusal = self._refusal()
            if refusal is not None:
                await self._refuse(method, refusal, context, streams)
            self._running += 1
            self._idle.clear()
            released = False

            def release() -> None:
                nonlocal released
                if not released:
                    released = True
                    self._running -= 1
                    if self._running == 0:
                        self._idle.set()

            token = _release_slot.set(release)
            try:
                return await behavior(request, context)
            finally:
                _release_slot.reset(token)
                release()

        return call

    def _refusal(self) -> DomainError | None:
        if self._closing:
            return ShuttingDown()
        if self._running >= self.max_concurrent_rpcs:
            return TooManyCalls(self.max_concurrent_rpcs)
        return None

    async def _refuse(
        self, method: str, error: DomainError, context: Context, streams: tuple[bool, bool]
    ) -> None:
        self.refused[error.reason] += 1
        status = self._shutting_down if isinstance(error, ShuttingDown) else self._overloaded
        if self._metrics is not None:
            self._metrics.refused(method, *streams, status.code.name)
        if isinstance(error, TooManyCalls):
            self._warn_overloaded()
        if self._log_calls:
            log_when_over(context, method, status.code.name, reason=error.reason)
        await context.abort(status.code, status.details, status.trailing_metadata)

    def _warn_overloaded(self) -> None:
        self._unwarned += 1
        now = self._clock()
        if now - self._warned_at >= _WARN_EVERY_S:
            log.warning(
                "at the limit of %d concurrent calls: refused %d with RESOURCE_EXHAUSTED",
                self.max_concurrent_rpcs,
                self._unwarned,
            )
            self._warned_at, self._unwarned = now, 0

    def _until_finished(self, behavior: Behavior) -> Behavior:
        """A health Watch runs until ``finish()``, then ends UNAVAILABLE: an open one would otherwise hold
        the server's stop until the grace ran out."""

        async def stream(request: Any, context: Context) -> Any:
            inner = asyncio.ensure_future(behavior(request, context))
            finished = asyncio.ensure_future(self._finished.wait())
            try:
                await asyncio.wait((inner, finished), return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when the client goes away: grpc cancels this task, not ``inner``
                finished.cancel()
                if not inner.done():
                    inner.cancel()
                    with suppress(asyncio.CancelledError):
                        await inner
            if not inner.cancelled():
                return inner.result()
            await context.abort(
                self._shutting_down.code, self._shutting_down.details, self._shutting_down.trailing_metadata
            )

        return stream


def received(answer: str, context: Context) -> str:
    """The status the client received, as far as the server can know, for a call that is over: ``answer``
    (what the service answered), unless the call's deadline had passed by then (the client's own timer
    fired: DEADLINE_EXCEEDED) or no status was ever sent (the client left first: CANCELLED)."""
    if context.time_remaining() == 0:  # None when the call has no deadline
        return "DEADLINE_EXCEEDED"
    if not context.done():
        return "CANCELLED"
    return answer


def log_call(method: str, status: str, peer: str = "", started: float | None = None, **extra: object) -> None:
    """One access-log line (WELLSPRING_ACCESS_LOG). The peer is read when the call starts: once a client
    has gone, grpc no longer knows it."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    fields: dict[str, object] = {"method": method, "status": status}
    if started is not None:
        fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 3)
    access_log.info("rpc", extra={"fields": {**fields, "peer": peer, **extra}})


def log_when_over(context: Context, method: str, answer: str, **extra: object) -> None:
    """Log the call once it is over, with the status its client received (see ``received``)."""
    started, peer = time.perf_counter(), context.peer()
    done = lambda ctx: log_call(method, received(answer, ctx), peer, started, **extra)  # noqa: E731
    context.add_done_callback(done)  # type: ignore[arg-type]  # grpc-stubs: a class, not a Callable


# The running call's way to give its slot back early (see ``release_slot``); set per call, in its task.
_release_slot: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "wellspring_release_slot", default=None
)


def release_slot() -> None:
    """The current call has been ended but cannot finish yet: a stalled stream's answer must wait behind
    the message its client does not read (see ``ServerInterceptor._send``). Its slot is given back now, so
    it neither counts against the cap nor holds a shutdown's drain; ``server.stop`` cancels it."""
    release = _release_slot.get()
    if release is not None:
        release()


def _as_coroutine(behavior: Any) -> Behavior:
    """Async generators become coroutines writing each response: grpc cancels a handler at its pending
    write, and a generator suspended at a yield would only be closed (its ``finally`` run, the slot given
    back) when the garbage collector found it."""
    if inspect.isasyncgenfunction(behavior):

        async def stream(request: Any, context: Context) -> None:
            async with aclosing(behavior(request, context)) as responses:
                async for response in responses:
                    await context.write(response)

        return stream
    if not inspect.iscoroutinefunction(behavior):
        raise TypeError("admission needs async handlers (grpc.aio servicers)")
    return behavior  # type: ignore[no-any-return]


def _channelz_server_ids() -> set[int]:
    """The ids of this process's gRPC servers in channelz (grpc's own accounting, what the grpcio-channelz
    service serves; read through grpc's Cython layer, which that package uses too). Empty if unreadable."""
    ids: set[int] = set()
    try:
        start = 0
        while True:
            page = json.loads(cygrpc.channelz_get_servers(start))
            ids.update(int(server["ref"]["serverId"]) for server in page.get("server", []))
            if page.get("end", True) or not ids:
                return ids
            start = max(ids) + 1
    except Exception:  # channelz disabled, or grpc's internals changed: settled() then relies on time
        return set()


def _channelz_calls_started(server_id: int) -> int | None:
    try:
        server = json.loads(cygrpc.channelz_get_server(server_id))["server"]
        return int(server["data"].get("callsStarted", 0))
    except Exception:  # as above
        return None
