"""How calls reach the server. ``GrpcTransport`` holds the one channel; tests use a fake with the same
three methods. Every transport raises ``WellspringError`` subclasses, never ``grpc.RpcError``."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any, Protocol

import grpc
from wellspring.v1 import watch_service_pb2_grpc

from wellspring_client._resources import RESOURCES
from wellspring_client.errors import Unauthenticated, WellspringError, from_rpc_error
from wellspring_client.tokens import Credentials, TokenSource

Metadata = Sequence[tuple[str, str]]


def tracing_interceptors(tracer_provider: Any = None) -> list[grpc.aio.ClientInterceptor]:
    """OpenTelemetry's client interceptors (a CLIENT span per call; its W3C ``traceparent`` in the
    metadata): the instrumentation's own, so the spans follow its semantic conventions."""
    try:
        from opentelemetry.instrumentation.grpc import aio_client_interceptors
    except ImportError:
        raise ValueError(
            "tracing=True needs OpenTelemetry's gRPC instrumentation: "
            "pip install 'wellspring-client[tracing]'"
        ) from None
    return list(aio_client_interceptors(tracer_provider=tracer_provider))  # type: ignore[no-untyped-call]


class Transport(Protocol):
    """Calls by method name (``"GetUser"``, ``"Watch"``…); ``timeout`` in seconds, None = no deadline."""

    async def unary(self, method: str, request: Any, timeout: float | None) -> Any: ...

    def server_stream(self, method: str, request: Any, timeout: float | None) -> AsyncIterator[Any]: ...

    async def client_stream(
        self, method: str, requests: AsyncIterable[Any], timeout: float | None
    ) -> Any: ...

    async def close(self) -> None: ...


class GrpcTransport:
    """One grpc.aio channel (TLS when ``credentials`` are given) and the stubs of every registered
    collection's service and of the WatchService."""

    def __init__(
        self,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        call_credentials: grpc.CallCredentials | None = None,
        metadata: Metadata = (),
        options: Sequence[tuple[str, Any]] = (),
        token: TokenSource | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> None:
        if call_credentials is not None:
            if credentials is None:
                raise ValueError("call credentials need a secure channel: pass credentials as well")
            credentials = grpc.composite_channel_credentials(credentials, call_credentials)
        channel_options = [("grpc.max_receive_message_length", 8 * 1024 * 1024), *options]
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(
                target, options=channel_options, interceptors=interceptors or None
            )
        else:
            self.channel = grpc.aio.secure_channel(
                target, credentials, options=channel_options, interceptors=interceptors or None
            )
        self._metadata = tuple(metadata) or None
        self.credentials = Credentials(token) if token is not None else None
        stubs = (
            *(resource.stub(self.channel) for resource in RESOURCES),
            watch_service_pb2_grpc.WatchServiceStub(self.channel),
        )
        self._methods: dict[str, Any] = {
            name: getattr(stub, name) for stub in stubs for name in dir(stub) if name[0].isupper()
        }

    async def _with_token(self) -> tuple[tuple[tuple[str, str], ...] | None, tuple[str, str] | None]:
        """The call's metadata and the authorization header in it (None: no token)."""
        credentials = self.credentials
        if credentials is None:
            return self._metadata, None
        header = credentials.current() or await credentials.header()
        return (*(self._metadata or ()), header), header

    async def _renewed(self, error: WellspringError, header: tuple[str, str] | None) -> bool:
        """Whether a call refused UNAUTHENTICATED should be sent again with a renewed token."""
        if header is None or not isinstance(error, Unauthenticated) or self.credentials is None:
            return False
        try:
            return await self.credentials.refused(header)
        except Exception:  # the provider failed: the refusal is the answer
            return False

    async def unary(self, method: str, request: Any, timeout: float | None) -> Any:
        for attempt in (1, 2):
            metadata, header = await self._with_token()
            try:
                return await self._methods[method](request, timeout=timeout, metadata=metadata)
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error)
                if attempt == 2 or not await self._renewed(error, header):
                    raise error from rpc_error

    async def server_stream(self, method: str, request: Any, timeout: float | None) -> AsyncIterator[Any]:
        for attempt in (1, 2):
            metadata, header = await self._with_token()
            call = self._methods[method](request, timeout=timeout, metadata=metadata)
            received = False
            try:
                async for message in call:
                    received = True
                    yield message
                return
            except grpc.RpcError as rpc_error:
                error = from_rpc_error(rpc_error)
                if received or attempt == 2 or not await self._renewed(error, header):
                    raise error from rpc_error
            finally:
                call.cancel()  # a caller that stops early ends the stream on the server too

    async def client_stream(self, method: str, requests: AsyncIterable[Any], timeout: float | None) -> Any:
        metadata, header = await self._with_token()
        try:
            return await self._methods[method](requests, timeout=timeout, metadata=metadata)
        except grpc.RpcError as rpc_error:
            error = from_rpc_error(rpc_error)
            await self._renewed(error, header)  # the next call has a fresh token; this one cannot replay
            raise error from rpc_error

    async def close(self) -> None:
        await self.channel.close(None)
