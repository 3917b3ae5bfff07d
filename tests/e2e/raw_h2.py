"""A raw HTTP/2 gRPC client (the ``h2`` package over a plain socket) for tests that need what no gRPC
library will do: a 1-byte flow-control window that is never re-opened, a compressed flag with no
``grpc-encoding``, an unknown encoding, two messages on a unary call.

It answers SETTINGS and PING (h2 does that by itself) but acknowledges received DATA only when told to
(``read_window=True``): a client that never does is the slow reader of issue 9.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import struct

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings


def grpc_frame(message: bytes, *, compressed: bool = False) -> bytes:
    """The gRPC length-prefixed message: a flag byte, a 4-byte big-endian length, the bytes."""
    return struct.pack(">BI", 1 if compressed else 0, len(message)) + message


def grpc_headers(path: str, metadata: list[tuple[str, str]] | None = None) -> list[tuple[str, str]]:
    """The request headers of a gRPC call to ``path`` (plaintext), then ``metadata``."""
    return [
        (":method", "POST"),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        *(metadata or []),
    ]


def grpc_messages(data: bytes) -> list[bytes]:
    """The complete length-prefixed messages in ``data`` (a trailing partial one is left out)."""
    messages, at = [], 0
    while at + 5 <= len(data):
        (length,) = struct.unpack(">I", data[at + 1 : at + 5])
        if at + 5 + length > len(data):
            break
        messages.append(data[at + 5 : at + 5 + length])
        at += 5 + length
    return messages


@dataclasses.dataclass
class Stream:
    """What arrived on one stream."""

    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    data: bytearray = dataclasses.field(default_factory=bytearray)
    trailers: dict[str, str] = dataclasses.field(default_factory=dict)
    reset: int | None = None  # the RST_STREAM error code, if the server reset the stream
    ended: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)

    @property
    def grpc_status(self) -> int | None:
        """From the trailers (or from the headers of a trailers-only answer)."""
        raw = self.trailers.get("grpc-status", self.headers.get("grpc-status"))
        return None if raw is None else int(raw)

    @property
    def grpc_message(self) -> str:
        return self.trailers.get("grpc-message", self.headers.get("grpc-message", ""))


class RawGrpcConnection:
    """One HTTP/2 connection; ``async with RawGrpcConnection.open(address, window=1) as conn``."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, read_window: bool
    ) -> None:
        config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self._h2 = h2.connection.H2Connection(config)
        self._reader, self._writer = reader, writer
        self._read_window = read_window
        self.streams: dict[int, Stream] = {}
        self.closed = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    @classmethod
    @contextlib.asynccontextmanager
    async def open(  # type: ignore[no-untyped-def]
        cls, address: str, *, window: int = 65_535, connection_window: int = 65_535, read_window: bool = True
    ):
        """``window`` is SETTINGS_INITIAL_WINDOW_SIZE (each stream's receive window); the connection's
        window starts at ``connection_window`` (HTTP/2 starts it at 65,535, and only a WINDOW_UPDATE
        raises it)."""
        host, port = address.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))
        conn = cls(reader, writer, read_window=read_window)
        conn._h2.local_settings = h2.settings.Settings(
            client=True, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window}
        )
        conn._h2.initiate_connection()
        if connection_window > 65_535:
            conn._h2.increment_flow_control_window(connection_window - 65_535)
        conn._flush()
        conn._pump = asyncio.create_task(conn._receive())
        try:
            yield conn
        finally:
            conn._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await conn._pump
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def call(
        self,
        path: str,
        *messages: bytes,
        metadata: dict[str, str] | None = None,
        end: bool = True,
    ) -> int:
        """Start a call and send ``messages`` (already framed with ``grpc_frame``); ``end`` half-closes."""
        stream_id = self._h2.get_next_available_stream_id()
        self.streams[stream_id] = Stream()
        headers = grpc_headers(path, list((metadata or {}).items()))
        self._h2.send_headers(stream_id, headers, end_stream=not messages and end)
        for n, message in enumerate(messages):
            self._h2.send_data(stream_id, message, end_stream=end and n == len(messages) - 1)
        self._flush()
        return stream_id

    def read_on(self) -> None:
        """From now on read like a normal client: open every window wide and acknowledge what arrives."""
        self._read_window = True
        self._h2.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 2**31 - 1})
        self._h2.increment_flow_control_window(2**31 - 1 - self._h2.inbound_flow_control_window)
        self._flush()

    def reset(self, stream_id: int) -> None:
        """RST_STREAM(CANCEL): how a gRPC client cancels a call (nothing if the stream has ended)."""
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self._h2.reset_stream(stream_id, error_code=8)
        self._flush()

    async def finished(self, stream_id: int, timeout_s: float = 10) -> Stream:
        stream = self.streams[stream_id]
        async with asyncio.timeout(timeout_s):
            await stream.ended.wait()
        return stream

    def _flush(self) -> None:
        data = self._h2.data_to_send()
        if data:
            self._writer.write(data)

    async def _receive(self) -> None:
        try:
            while data := await self._reader.read(65_536):
                for event in self._h2.receive_data(data):
                    self._on(event)
                self._flush()
        except (ConnectionError, OSError):
            pass
        except h2.exceptions.ProtocolError:
            # h2 refuses frames after a GOAWAY (gRPC's core may still send a PING): the server has
            # closed the connection, which is all the tests need to know; anything else is an error.
            if self._h2.state_machine.state is not h2.connection.ConnectionState.CLOSED:
                raise
        finally:
            self.closed.set()
            for stream in self.streams.values():
                stream.ended.set()

    def _on(self, event: h2.events.Event) -> None:
        stream = self.streams.get(getattr(event, "stream_id", 0) or 0)
        if isinstance(event, h2.events.ResponseReceived) and stream:
            stream.headers = dict(event.headers)  # type: ignore[arg-type]
        elif isinstance(event, h2.events.DataReceived) and stream:
            stream.data += event.data
            if self._read_window and event.flow_controlled_length:
                self._h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived) and stream:
            stream.trailers = dict(event.headers)  # type: ignore[arg-type]
        elif isinstance(event, h2.events.StreamReset) and stream:
            stream.reset = event.error_code
            stream.ended.set()
        elif isinstance(event, h2.events.StreamEnded) and stream:
            stream.ended.set()
