"""What every collection's use cases share: reads through the cache, List pages, versions."""

from __future__ import annotations

import dataclasses
from typing import Any, Generic, TypeVar

from service.cache.tier import CacheTier
from service.domain.models import Page
from service.handlers.coherence import Coherence
from service.handlers.common import Clock, wall_clock_us
from service.handlers.page_tokens import PageTokens
from service.handlers.reads import CachedReads, Encoder
from service.repository.base import Database, UnitOfWork

T = TypeVar("T")
ListCommand = TypeVar("ListCommand")


class ResourceHandlers(Generic[T, ListCommand]):
    """Subclasses name their ``collection`` and ``resource``, the repository, and how a List request
    becomes a page (``_page``); they add the writes."""

    collection = ""
    resource = ""

    def __init__(
        self,
        db: Database,
        tokens: PageTokens,
        *,
        encode: Encoder[T],
        cache: CacheTier | None = None,
        clock: Clock = wall_clock_us,
        coherence: Coherence | None = None,
    ) -> None:
        self._db = db
        self._tokens = tokens
        self._clock = clock
        self.reads: CachedReads[T] = CachedReads(
            db,
            cache,
            collection=self.collection,
            resource=self.resource,
            repository=self._repository,
            encode=encode,
            coherence=coherence,
        )

    def _repository(self, uow: UnitOfWork) -> Any:
        raise NotImplementedError

    async def _page(self, cmd: ListCommand) -> tuple[Page[T], dict[str, Any]]:
        raise NotImplementedError

    def _next_version(self, current: int = 0) -> int:
        """Hybrid versions: above every earlier version of the id, even across delete and re-create."""
        return max(current + 1, self._clock())

    async def get(self, resource_id: str) -> T:
        """The domain value from the database (internal callers; the API reads through the cache)."""
        return await self.reads.load_one(resource_id)

    async def batch_get(self, ids: list[str]) -> list[T]:
        return await self.reads.load_many(ids)

    async def get_encoded(self, resource_id: str, deadline: float | None = None) -> bytes:
        """The serialized resource, straight from the cache when it is there."""
        return await self.reads.one(resource_id, deadline)

    async def batch_get_encoded(self, ids: list[str], deadline: float | None = None) -> list[bytes]:
        return await self.reads.many(ids, deadline)

    async def list(self, cmd: ListCommand) -> tuple[list[T], str]:
        page, binding = await self._page(cmd)
        return page.items, self._tokens.encode(binding, page.next_cursor) if page.next_cursor else ""

    async def list_encoded(
        self, cmd: ListCommand, max_bytes: int, deadline: float | None = None
    ) -> tuple[list[bytes], str]:
        """The page as serialized resources, cut short (with a token for the rest) before it would
        exceed ``max_bytes``: a page of large items never becomes a response too big to send. Pages
        are cached; replicas with different token secrets never share them."""

        async def compute() -> tuple[list[bytes], str]:
            page, binding = await self._page(cmd)
            payloads, cursor = self.reads.encode_within(page, max_bytes)
            return payloads, self._tokens.encode(binding, cursor) if cursor else ""

        fields = dataclasses.asdict(cmd)  # type: ignore[call-overload]
        request = {**fields, "max_bytes": max_bytes, "secret": self._tokens.fingerprint}
        return await self.reads.cached_list(request, compute, deadline)
