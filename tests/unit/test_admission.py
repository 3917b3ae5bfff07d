"""Admission's shutdown bookkeeping without a server: a call grpc handed over while the server still
admitted runs even when its handler starts after ``close()`` (grpc reads its request first), the drain waits
for it, and a call handed over after ``close()`` is refused."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from service.api import admission as admission_module
from service.api.admission import Admission

METHOD = "/wellspring.v1.UserService/GetUser"


class Details(grpc.HandlerCallDetails):
    method = METHOD
    invocation_metadata = ()


class Aborted(Exception):
    pass


class Context:
    """Only what a refusal touches."""

    def __init__(self) -> None:
        self.aborted: grpc.StatusCode | None = None

    def invocation_metadata(self) -> tuple[()]:
        return ()

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def abort(self, code: grpc.StatusCode, details: str, trailing: Any = None) -> None:
        self.aborted = code
        raise Aborted(code)


async def handed_over(admission: Admission, behavior: Callable[..., Awaitable[Any]]) -> Any:
    """What grpc does in a call's own task up to the handler: the interceptor picks the handler. Returns
    the handler's behaviour, to be run in the same context (as grpc does, after reading the request)."""

    async def continuation(_: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(behavior)

    handler = await admission.intercept_service(continuation, Details())
    assert handler is not None
    return handler.unary_unary


async def in_own_task(
    admission: Admission, behavior: Callable[..., Awaitable[Any]], gate: asyncio.Event
) -> Any:
    """One call: handed over now, its handler started once ``gate`` is set."""
    context = contextvars.copy_context()

    async def call() -> Any:
        wrapped = await handed_over(admission, behavior)
        await gate.wait()  # grpc reading the request message
        return await wrapped("request", Context())

    return asyncio.create_task(call(), context=context)


async def test_a_call_handed_over_before_close_runs_and_the_drain_waits_for_it() -> None:
    admission = Admission(max_concurrent_rpcs=10, log_calls=False)
    gate, finish = asyncio.Event(), asyncio.Event()

    async def behavior(request: str, context: Any) -> str:
        await finish.wait()
        return "answer"

    task = await in_own_task(admission, behavior, gate)
    await asyncio.sleep(0)  # the task runs up to its gate: handed over, handler not started
    admission.close()
    drain = asyncio.create_task(admission.drained(5.0))
    gate.set()
    await asyncio.sleep(0)
    assert not drain.done(), "the drain ended with a handed-over call still to run"
    finish.set()
    assert await task == "answer"
    assert await drain is True
    assert not admission.refused


async def test_a_call_handed_over_after_close_is_refused() -> None:
    admission = Admission(max_concurrent_rpcs=10, log_calls=False)
    admission.close()
    gate = asyncio.Event()
    gate.set()

    async def behavior(request: str, context: Any) -> str:
        return "answer"

    task = await in_own_task(admission, behavior, gate)
    with pytest.raises(Aborted):
        await task
    assert admission.refused == {"SERVER_SHUTTING_DOWN": 1}
    assert await admission.drained(1.0) is True


async def test_a_handed_over_call_that_never_starts_holds_the_drain_only_briefly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admission_module, "SETTLE_STALL_S", 0.05)
    admission = Admission(max_concurrent_rpcs=10, log_calls=False)

    async def behavior(request: str, context: Any) -> str:
        return "answer"

    never = asyncio.Event()
    task = await in_own_task(admission, behavior, never)  # its request never decodes, say
    await asyncio.sleep(0)
    admission.close()
    assert await admission.drained(5.0) is True
    task.cancel()
