"""How long an Export may hold its snapshot, and where its client stands when it is ended.

An Export holds a database snapshot (a PostgreSQL transaction pinning ``backend_xmin``, a SQLite read
transaction pinning the WAL) for as long as it runs, and its pace is its client's: a client that stops
reading would hold the snapshot forever. ``exporting`` ends it after a maximum duration, and turns the
transport's verdict that the client stopped reading (``StreamStalled``, thrown in at the pending message
by the API layer) into an answer that says what was delivered: the snapshot's revision and the last id
handed to the transport (chunks come in id order).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager

from service.domain.errors import ExportInterrupted, StreamStalled


@dataclasses.dataclass(frozen=True, slots=True)
class ExportChunk:
    """Serialized resources in id order, the snapshot's change-log revision, the chunk's last id."""

    payloads: list[bytes]
    revision: int
    last_id: str


class ExportProgress:
    """Iterates the chunks; asking for the next one means the previous one was handed to the transport
    (each chunk is one message, written before the next is asked for)."""

    def __init__(self, chunks: AsyncIterator[ExportChunk], max_s: float, clock: Callable[[], float]) -> None:
        self._chunks = chunks
        self._clock = clock
        self._max_s = max_s
        self._deadline = clock() + max_s
        self._pending: ExportChunk | None = None
        self.revision = 0
        self.sent_id = ""

    def __aiter__(self) -> ExportProgress:
        return self

    async def __anext__(self) -> ExportChunk:
        if self._pending is not None:
            self.sent_id = self._pending.last_id or self.sent_id
            self._pending = None
            if self._clock() >= self._deadline:
                raise ExportInterrupted.too_long(self._max_s, self.revision, self.sent_id)
        chunk = await self._chunks.__anext__()
        self.revision, self._pending = chunk.revision, chunk
        return chunk


@asynccontextmanager
async def exporting(
    chunks: AsyncGenerator[ExportChunk, None], *, max_s: float, clock: Callable[[], float] = time.monotonic
) -> AsyncIterator[ExportProgress]:
    """``async with exporting(chunks, max_s=…) as progress: async for chunk in progress: yield …``.
    The chunks' iterator (and so the snapshot) is closed when the block ends, however it ends."""
    progress = ExportProgress(chunks, max_s, clock)
    async with aclosing(chunks):
        try:
            yield progress
        except StreamStalled as stalled:
            raise ExportInterrupted.stalled(stalled.stall_s, progress.revision, progress.sent_id) from None
