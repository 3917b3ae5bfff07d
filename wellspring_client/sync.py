"""``SyncWellspringClient``: the same client for code that is not async. It runs a ``WellspringClient`` on
an event loop of its own, in a daemon thread; a fresh cached get is answered in the caller's thread.

Every method is written out and typed (``SyncResourceClient`` is the blocking ``ResourceClient`` of one
collection: ``client.users``, ``client.posts``, ``client.comments``); ``test_client_sync`` checks that
it offers every public name of the async client.

Two promises about threads and exits: a call interrupted in the caller's thread (Ctrl-C) is cancelled
on the loop and waited for before ``KeyboardInterrupt`` goes on, so an interrupted ``for ev in
client.watch()`` ends like any interrupted loop; and closing (``close()``, the ``with`` block's end, the
client being garbage-collected, or the interpreter exiting) closes the client and its channel first,
then finishes every task and async generator left on the loop, then closes the loop — nothing is left
to complain at exit."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import functools
import inspect
import threading
import weakref
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, Unpack

from wellspring_client._cache import CacheStats, Key
from wellspring_client._collection import Export, ResourceClient, alias
from wellspring_client.client import WellspringClient
from wellspring_client.errors import Cancelled
from wellspring_client.types import (
    ChangeEvent,
    CreateOptions,
    DeleteOptions,
    GetOptions,
    ImportOptions,
    ImportResult,
    ListOptions,
    Page,
    PageOptions,
    Post,
    PostFilter,
    ReadOptions,
    UpdateOptions,
    User,
    UserFilter,
)

T = TypeVar("T")
R = TypeVar("R")
A = TypeVar("A")
B = TypeVar("B")
P = ParamSpec("P")
F = TypeVar("F", bound=Mapping[str, Any])


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


class _Loop:
    """The event loop thread the sync client's calls run on, and the ways to run them there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=_serve, args=(self.loop,), name="wellspring-client", daemon=True
        )
        self.thread.start()

    def run(self, coroutine: Awaitable[R]) -> R:
        return _run_on(self.loop, coroutine)

    def call(self, make: Callable[[], Awaitable[R]]) -> R:
        """``await make()`` on the loop: what ``make`` calls needs the running loop."""

        async def call() -> R:
            return await make()

        return self.run(call())

    def iterate(self, open_stream: Callable[[], AsyncIterator[T]]) -> Iterator[T]:
        """The items of the stream ``open_stream`` makes on the loop, one blocking ``next`` each."""

        async def start() -> AsyncIterator[T]:
            return open_stream()

        stream = self.run(start())
        try:
            while True:
                try:
                    yield self.run(stream.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._close_stream(stream)

    def export(self, open_export: Callable[[], Export[T]]) -> SyncExport[T]:
        async def start() -> Export[T]:
            return open_export()

        export = self.run(start())
        return SyncExport(export, self.iterate(export.__aiter__))

    def _close_stream(self, stream: AsyncIterator[Any]) -> None:
        """End a stream left early (a ``break``, an error, Ctrl-C, or its iterator collected)."""
        if self.loop.is_closed():
            return  # closing finished it (``_drain`` closes the async generators left open)
        closing = stream.aclose()  # type: ignore[attr-defined]
        if threading.current_thread() is self.thread:  # collected on the loop's thread: cannot wait there
            self.loop.create_task(closing)
            return
        with contextlib.suppress(Cancelled):  # the loop closed meanwhile: so is the stream
            self.run(closing)


class SyncResourceClient(Generic[T, F]):
    """``ResourceClient`` of one collection, blocking: the same methods and arguments (see its
    docstrings), ``list`` and ``export`` as plain iterators, and a fresh cached ``get`` answered
    without leaving the caller's thread."""

    def __init__(self, loop: _Loop, resource: ResourceClient[T, F], stats: CacheStats) -> None:
        self.collection = resource.collection
        self._loop = loop
        self._async = resource
        self._stats = stats

    def __repr__(self) -> str:
        return f"<SyncResourceClient {self.collection}>"

    def get(self, id: str, **options: Unpack[GetOptions]) -> T:
        """``ResourceClient.get``, blocking; a fresh cached copy is returned without leaving this thread."""
        if not options:
            cached = self._async.cached(id)
            if cached is not None:
                self._stats.hits += 1
                return cached
        return self._loop.call(lambda: self._async.get(id, **options))

    def batch_get(self, ids: Sequence[str], **options: Unpack[ReadOptions]) -> builtins.list[T]:
        """``ResourceClient.batch_get``, blocking."""
        return self._loop.call(lambda: self._async.batch_get(ids, **options))

    def list_page(self, where: F | None = None, **options: Unpack[PageOptions]) -> Page[T]:
        """``ResourceClient.list_page``, blocking."""
        return self._loop.call(lambda: self._async.list_page(where, **options))

    def list(self, where: F | None = None, **options: Unpack[ListOptions]) -> Iterator[T]:
        """``ResourceClient.list``: every item, page after page, as a plain iterator."""
        return self._loop.iterate(lambda: self._async.list(where, **options))

    def export(self, where: F | None = None, **options: Unpack[ReadOptions]) -> SyncExport[T]:
        """``ResourceClient.export``: one snapshot's items as a plain iterator, with its ``revision``."""
        return self._loop.export(lambda: self._async.export(where, **options))

    def create(self, item: T, **options: Unpack[CreateOptions]) -> T:
        """``ResourceClient.create``, blocking."""
        return self._loop.call(lambda: self._async.create(item, **options))

    def update(self, item: T, **options: Unpack[UpdateOptions]) -> T:
        """``ResourceClient.update``, blocking."""
        return self._loop.call(lambda: self._async.update(item, **options))

    def delete(self, id: str, **options: Unpack[DeleteOptions]) -> None:
        """``ResourceClient.delete``, blocking."""
        self._loop.call(lambda: self._async.delete(id, **options))

    def import_items(self, items: Iterable[T], **options: Unpack[ImportOptions]) -> ImportResult:
        """``ResourceClient.import_items``, blocking (``items`` is read on the client's loop)."""
        return self._loop.call(lambda: self._async.import_items(items, **options))

    def cached(self, id: str) -> T | None:
        """``ResourceClient.cached``: never calls the server."""
        return self._async.cached(id)

    def key(self, id: str) -> Key:
        """``ResourceClient.key``: the cache key of ``get(id)``."""
        return self._async.key(id)

    def prefetch(self, id: str) -> None:
        """``ResourceClient.prefetch``: load item ``id`` in the background (errors are dropped)."""
        self._loop.call(_returning(lambda: self._async.prefetch(id)))


def _sync_form(method: Callable[..., Any], run: Callable[..., Any]) -> Any:
    """``run`` with ``method``'s name, docstring and parameters, and its return annotation as the sync
    form returns it (``User`` for ``Awaitable[User]``, ``Iterator[User]`` for ``AsyncIterator[User]``…)."""
    functools.update_wrapper(run, method)
    run.__doc__ = (
        f"Blocking ``WellspringClient.{method.__name__}``.\n\n{inspect.getdoc(method) or ''}".rstrip()
    )
    signature = inspect.signature(method)
    returns = signature.return_annotation
    if isinstance(returns, str):
        for prefix, sync_prefix in _RETURNS:
            if returns.startswith(prefix) and returns.endswith("]"):
                inner = returns[len(prefix) : -1]
                returns = f"{sync_prefix}{inner}]" if sync_prefix else inner
                break
    setattr(run, "__signature__", signature.replace(return_annotation=returns))  # noqa: B010 (not declared on Callable)
    return run


_RETURNS = (("Awaitable[", ""), ("AsyncIterator[", "Iterator["), ("Export[", "SyncExport["))


def _sync(
    method: Callable[Concatenate[WellspringClient, P], A], runner: Callable[[_Loop, Callable[[], A]], B]
) -> Callable[Concatenate[SyncWellspringClient, P], B]:
    """The sync form of an async client's method: ``runner`` (``_Loop.call``, ``.iterate`` or
    ``.export``) runs what the method makes on the client's loop."""

    def run(self: SyncWellspringClient, /, *args: P.args, **kwargs: P.kwargs) -> B:
        return runner(self._loop, lambda: method(self._client, *args, **kwargs))

    return _sync_form(method, run)  # type: ignore[no-any-return]


class SyncWellspringClient:
    """``WellspringClient``, blocking: the same names and arguments (the async client's docstrings say
    what each does); ``list*``, ``export*`` and ``watch`` return plain iterators. Use it as a context
    manager, or call ``close()``. Arguments are the same as the async client's (``clock``/``sleep``
    excepted: they belong to the client's own loop). ``subscribe`` callbacks run on that loop's thread;
    ``stats`` are counted from both threads (approximate).

    ``parallel``, ``prefetch`` and ``dependent``'s first argument take functions that make the reads,
    called on the loop: ``client.parallel(lambda: client.client.get_user("a"), lambda: …)``."""

    def __init__(self, target: str | None = None, **options: Any) -> None:
        self._loop = _Loop()
        try:
            self._client = self._loop.run(_build(target, options))
        except BaseException:
            _stop(self._loop.loop, self._loop.thread)
            raise
        # One way out for close(), garbage collection and interpreter exit (weakref.finalize runs at exit).
        self._closer = weakref.finalize(self, _shutdown, self._loop.loop, self._loop.thread, self._client)
        stats = self._client.stats
        self.users = SyncResourceClient(self._loop, self._client.users, stats)
        self.posts = SyncResourceClient(self._loop, self._client.posts, stats)
        self.comments = SyncResourceClient(self._loop, self._client.comments, stats)
        known: dict[str, SyncResourceClient[Any, Any]] = {
            c.collection: c for c in (self.users, self.posts, self.comments)
        }
        self.resources: Mapping[str, SyncResourceClient[Any, Any]] = {
            name: known.get(name) or SyncResourceClient(self._loop, r, stats)
            for name, r in self._client.resources.items()
        }

    def __enter__(self) -> SyncWellspringClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        """``WellspringClient.start``: it was called when the client was made, so this does nothing."""
        self._loop.run(self._client.start())

    def close(self) -> None:
        """Close the client and its channel, finish what is left on its loop, stop its thread."""
        self._closer()

    @property
    def client(self) -> WellspringClient:
        """The async client underneath (its methods must run on its loop)."""
        return self._client

    @property
    def stats(self) -> CacheStats:
        """The async client's ``CacheStats``."""
        return self._client.stats

    @property
    def watch_revision(self) -> int:
        """The last change-log revision the cache has seen (0: none yet)."""
        return self._client.watch_revision

    @property
    def watch_live(self) -> bool:
        """Is the cache's Watch connected? (``WellspringClient.watch_live.is_set()``)"""
        return self._client.watch_live.is_set()

    def watch(
        self, collections: Sequence[str] = (), ids: Sequence[str] = (), start_revision: int = 0
    ) -> Iterator[ChangeEvent]:
        """``WellspringClient.watch`` as a plain iterator: every change, resumed after a disconnect."""
        return self._loop.iterate(lambda: self._client.watch(collections, ids, start_revision))

    def invalidate(self, prefix: tuple[Any, ...] = ()) -> int:
        """``WellspringClient.invalidate``: by key prefix; returns how many queries."""
        return self._loop.call(_returning(lambda: self._client.invalidate(prefix)))

    def subscribe(self, key: Key, callback: Callable[[Any], None]) -> Callable[[], None]:
        """``WellspringClient.subscribe``; ``callback`` runs on the client's loop thread."""
        return self._loop.call(_returning(lambda: self._client.subscribe(key, callback)))

    def prefetch(self, *reads: Callable[[], Awaitable[Any]]) -> None:
        """``WellspringClient.prefetch`` of the reads these functions make (on the client's loop)."""
        self._loop.call(_returning(lambda: self._client.prefetch(*(make() for make in reads))))

    def persist(self) -> int:
        """``WellspringClient.persist``: write the cached resources to ``persist_path``."""
        return self._loop.call(self._client.persist)

    def parallel(self, *awaitables: Callable[[], Awaitable[Any]]) -> builtins.list[Any]:
        """``WellspringClient.parallel`` of the reads these functions make (on the client's loop)."""
        return self._loop.call(lambda: self._client.parallel(*(make() for make in awaitables)))

    def dependent(self, first: Callable[[], Awaitable[Any]], *then: Callable[[Any], Awaitable[Any]]) -> Any:
        """``WellspringClient.dependent``: ``first`` makes the first read; each of ``then`` the next."""
        return self._loop.call(lambda: self._client.dependent(first(), *then))

    # --- the per-collection names of earlier versions: the async client's, blocking ------------------------

    get_user = alias("users", SyncResourceClient[User, UserFilter].get)  # a fresh hit: in this thread
    get_post = alias("posts", SyncResourceClient[Post, PostFilter].get)
    user_key = alias("users", SyncResourceClient[User, UserFilter].key)
    post_key = alias("posts", SyncResourceClient[Post, PostFilter].key)
    prefetch_user = alias("users", SyncResourceClient[User, UserFilter].prefetch)
    prefetch_post = alias("posts", SyncResourceClient[Post, PostFilter].prefetch)
    cached_user = alias("users", SyncResourceClient[User, UserFilter].cached)
    cached_post = alias("posts", SyncResourceClient[Post, PostFilter].cached)
    batch_get_users = _sync(WellspringClient.batch_get_users, _Loop.call)
    batch_get_posts = _sync(WellspringClient.batch_get_posts, _Loop.call)
    list_users_page = _sync(WellspringClient.list_users_page, _Loop.call)
    list_posts_page = _sync(WellspringClient.list_posts_page, _Loop.call)
    list_users = _sync(WellspringClient.list_users, _Loop.iterate)
    list_posts = _sync(WellspringClient.list_posts, _Loop.iterate)
    export_users = _sync(WellspringClient.export_users, _Loop.export)
    export_posts = _sync(WellspringClient.export_posts, _Loop.export)
    create_user = _sync(WellspringClient.create_user, _Loop.call)
    create_post = _sync(WellspringClient.create_post, _Loop.call)
    update_user = _sync(WellspringClient.update_user, _Loop.call)
    update_post = _sync(WellspringClient.update_post, _Loop.call)
    delete_user = _sync(WellspringClient.delete_user, _Loop.call)
    delete_post = _sync(WellspringClient.delete_post, _Loop.call)
    import_users = _sync(WellspringClient.import_users, _Loop.call)
    import_posts = _sync(WellspringClient.import_posts, _Loop.call)


def _returning(call: Callable[[], R]) -> Callable[[], Awaitable[R]]:
    """``call`` as a function making an awaitable, for ``_Loop.call`` (it needs the client's loop)."""

    async def run() -> R:
        return call()

    return run


async def _build(target: str | None, options: dict[str, Any]) -> WellspringClient:
    client = WellspringClient(target, **options)
    await client.start()
    return client


def _run_on(loop: asyncio.AbstractEventLoop, coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` on ``loop`` (another thread's) and wait for its outcome. Interrupted while waiting
    (Ctrl-C raises KeyboardInterrupt in this thread), it is cancelled and waited for before the interrupt
    goes on: a call never outlives its caller, so a stream it was reading can then be closed."""
    outcome: concurrent.futures.Future[T] = concurrent.futures.Future()
    started: list[asyncio.Task[T]] = []

    def start() -> None:
        task: asyncio.Task[T] = loop.create_task(coroutine)  # type: ignore[arg-type]
        started.append(task)
        task.add_done_callback(functools.partial(_settle, outcome))

    try:
        loop.call_soon_threadsafe(start)
    except RuntimeError:  # the loop is closed
        _discard(coroutine)
        raise Cancelled("the client was closed") from None
    try:
        return outcome.result()
    except BaseException:
        if not outcome.done():
            loop.call_soon_threadsafe(lambda: started[0].cancel())  # runs after start(): FIFO
            concurrent.futures.wait([outcome])
        raise


def _settle(outcome: concurrent.futures.Future[Any], task: asyncio.Task[Any]) -> None:
    if task.cancelled():  # only closing (or an interrupted caller) cancels a call
        outcome.set_exception(Cancelled("the client was closed"))
    elif task.exception() is not None:
        outcome.set_exception(task.exception())
    else:
        outcome.set_result(task.result())


def _discard(awaitable: Awaitable[Any]) -> None:
    if isinstance(awaitable, Coroutine):
        awaitable.close()  # never run: no "was never awaited" warning


def _serve(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread: run until stopped, then finish what is left, then close the loop."""
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(_drain())
        finally:
            loop.close()


async def _drain() -> None:
    """After the client (and its channel) closed: close the async generators left open (streams nobody
    finished), then cancel and wait for every task still there (gRPC's own per-call tasks among them),
    then the default executor. A task destroyed pending, or one that runs on a closed loop, is what
    printed "Task was destroyed but it is pending" and "Event loop is closed" at exit."""
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_default_executor()


def _stop(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    if not loop.is_closed():
        loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join()


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread, client: WellspringClient) -> None:
    """Close ``client`` on its loop, then stop the loop (``_serve`` finishes it). Once, from
    ``weakref.finalize``: called by ``close()``, or when the sync client is collected, or at exit."""
    try:
        if thread.is_alive() and thread is not threading.current_thread():
            _run_on(loop, client.close())
    finally:
        _stop(loop, thread)


def public_methods(cls: type) -> set[str]:
    """The public method names of ``cls`` (functions, static methods and aliases; not properties)."""
    return {
        name
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or isinstance(value, (staticmethod, classmethod, alias)))
    }
