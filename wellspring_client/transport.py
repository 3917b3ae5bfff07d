"""How calls reach the server. ``GrpcTransport`` holds the one channel; tests use a fake with the same
three methods. Every transport raises ``WellspringError`` subclasses, never ``grpc.RpcError``."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import Any, Protocol

import grpc
from wellspring.v1 import watch_service_pb2_grpc

from wellspring_client._resources import RESOURCES
from wellspring_client.errors import from_rpc_error

Metadata = Sequence[tuple[str, str]]


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
    ) -> None:
        if call_credentials is not None:
            if credentials is None:
                raise ValueError("call credentials need a secure channel: pass credentials as well")
            credentials = grpc.composite_channel_credentials(credentials, call_credentials)
        channel_options = [("grpc.max_receive_message_length", 8 * 1024 * 1024), *options]
        if credentials is None:
            self.channel = grpc.aio.insecure_channel(target, options=channel_options)
        else:
            self.channel = grpc.aio.secure_channel(target, credentials, options=channel_options)
        self._metadata = tuple(metadata) or None
        stubs = (
            *(resource.stub(self.channel) for resource in RESOURCES),
            watch_service_pb2_grpc.WatchServiceStub(self.channel),
        )
        self._methods: dict[str, Any] = {
            name: getattr(stub, name) for stub in stubs for name in dir(stub) if name[0].isupper()
        }

    async def unary(self, method: str, request: Any, timeout: float | None) -> Any:
        try:
            return await self._methods[method](request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    async def server_stream(self, method: str, request: Any, timeout: float | None) -> AsyncIterator[Any]:
        call = self._methods[method](request, timeout=timeout, metadata=self._metadata)
        try:
            async for message in call:
                yield message
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        finally:
            call.cancel()  # a caller that stops early ends the stream on the server too

    async def client_stream(self, method: str, requests: AsyncIterable[Any], timeout: float | None) -> Any:
        try:
            return await self._methods[method](requests, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    async def close(self) -> None:
        await self.channel.close(None)
