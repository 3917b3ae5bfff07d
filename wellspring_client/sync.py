"""``SyncWellspringClient``: the same client for code that is not async. It runs a ``WellspringClient`` on
an event loop of its own, in a daemon thread; a fresh cached get is answered in the caller's thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

from wellspring_client.client import Export, WellspringClient
from wellspring_client.types import Post, User

T = TypeVar("T")

_ITERATORS = ("list_users", "list_posts", "watch")
_EXPORTS = ("export_users", "export_posts")


class SyncExport(Generic[T]):
    """An Export, blocking: iterate it for the resources; ``revision`` is set once the first arrived."""

    def __init__(self, export: Export[T], items: Iterator[T]) -> None:
        self._export = export
        self._items = items

    @property
    def revision(self) -> int | None:
        """The snapshot's change-log revision (None until the first message arrived)."""
        return self._export.revision

    def __iter__(self) -> Iterator[T]:
        return self._items


class SyncWellspringClient:
    """Every method of ``WellspringClient``, blocking; ``list_*``, ``export_*`` and ``watch`` return plain
    iterators. Use it as a context manager, or call ``close()``. Arguments are the same as the async
    client's (``clock``/``sleep`` excepted: they belong to the client's own loop). ``subscribe``
    callbacks run on that loop's thread; ``stats`` are counted from both threads (approximate)."""

    def __init__(self, target: str | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="wellspring-client", daemon=True)
        self._thread.start()

        async def build() -> WellspringClient:
            client = WellspringClient(target, **options)
            await client.start()
            return client

        try:
            self._client = self._run(build())
        except BaseException:
            self._stop()
            raise

    def __enter__(self) -> SyncWellspringClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and stop its thread."""
        if self._loop.is_closed():
            return
        try:
            self._run(self._client.close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    @property
    def client(self) -> WellspringClient:
        """The async client underneath (its methods must run on its loop)."""
        return self._client

    def get_user(self, id: str, **options: Any) -> User:
        """``WellspringClient.get_user``; a fresh cached copy is returned without leaving this thread."""
        if not options:
            cached = self._client.cached_user(id)
            if cached is not None:
                self._client.stats.hits += 1
                return cached
        return self._call("get_user", (id,), options)  # type: ignore[no-any-return]

    def get_post(self, id: str, **options: Any) -> Post:
        """``WellspringClient.get_post``; a fresh cached copy is returned without leaving this thread."""
        if not options:
            cached = self._client.cached_post(id)
            if cached is not None:
                self._client.stats.hits += 1
                return cached
        return self._call("get_post", (id,), options)  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)
        if not callable(method) or name.startswith("_"):
            return method  # type: ignore[no-any-return]
        if name in _ITERATORS:
            return lambda *args, **kwargs: self._iterate(lambda: getattr(self._client, name)(*args, **kwargs))
        if name in _EXPORTS:
            return lambda *args, **kwargs: self._export(name, args, kwargs)
        return lambda *args, **kwargs: self._call(name, args, kwargs)

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async def call() -> Any:
            result = getattr(self._client, name)(*args, **kwargs)
            return await result if isinstance(result, Awaitable) else result

        return self._run(call())

    def _export(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> SyncExport[Any]:
        async def open_export() -> Export[Any]:
            return getattr(self._client, name)(*args, **kwargs)  # type: ignore[no-any-return]

        export = self._run(open_export())
        return SyncExport(export, self._iterate(export.__aiter__))

    def _iterate(self, open_stream: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        async def start() -> AsyncIterator[T]:
            return open_stream()

        stream = self._run(start())
        try:
            while True:
                try:
                    yield self._run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            if not self._loop.is_closed():
                self._run(stream.aclose())  # type: ignore[attr-defined]

    def _run(self, coroutine: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()  # type: ignore[arg-type]
