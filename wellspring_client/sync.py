"""``SyncWellspringClient``: the same client for code that is not async. It runs a ``WellspringClient`` on
an event loop of its own, in a daemon thread; a fresh cached get is answered in the caller's thread.

Its methods are made from ``WellspringClient``'s public methods when the class is created (same names,
parameters and docstrings), so ``dir()``, ``help()`` and IDEs see them; ``test_sync_client`` checks that
the two sets stay equal.

Two promises about threads and exits: a call interrupted in the caller's thread (Ctrl-C) is cancelled
on the loop and waited for before ``KeyboardInterrupt`` goes on, so an interrupted ``for ev in
client.watch()`` ends like any interrupted loop; and closing (``close()``, the ``with`` block's end, the
client being garbage-collected, or the interpreter exiting) closes the client and its channel first,
then finishes every task and async generator left on the loop, then closes the loop — nothing is left
to complain at exit."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import inspect
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Generic, TypeVar

from wellspring_client.client import Export, WellspringClient
from wellspring_client.errors import Cancelled
from wellspring_client.types import Post, User

T = TypeVar("T")

_ITERATORS = ("list_users", "list_posts", "watch")
_EXPORTS = ("export_users", "export_posts")
# Methods whose arguments are awaitables: in the sync client, the first ``n`` positional arguments (None:
# all) are functions with no arguments that make them, called on the client's loop.
_MAKERS: dict[str, int | None] = {"parallel": None, "prefetch": None, "dependent": 1}


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
    callbacks run on that loop's thread; ``stats`` are counted from both threads (approximate).

    ``parallel``, ``prefetch`` and ``dependent``'s first argument take functions that make the reads,
    called on the loop: ``client.parallel(lambda: client.client.get_user("a"), lambda: …)``."""

    def __init__(self, target: str | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=_serve, args=(self._loop,), name="wellspring-client", daemon=True
        )
        self._thread.start()
        try:
            self._client = self._run(_build(target, options))
        except BaseException:
            _stop(self._loop, self._thread)
            raise
        # One way out for close(), garbage collection and interpreter exit (weakref.finalize runs at exit).
        self._closer = weakref.finalize(self, _shutdown, self._loop, self._thread, self._client)

    def __enter__(self) -> SyncWellspringClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client and its channel, finish what is left on its loop, stop its thread."""
        self._closer()

    @property
    def client(self) -> WellspringClient:
        """The async client underneath (its methods must run on its loop)."""
        return self._client

    @property
    def stats(self) -> Any:
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

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        async def call() -> Any:
            result = getattr(self._client, name)(*_made(name, args), **kwargs)
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
            self._close_stream(stream)

    def _close_stream(self, stream: AsyncIterator[Any]) -> None:
        """End a stream left early (a ``break``, an error, Ctrl-C, or its iterator collected)."""
        if self._loop.is_closed():
            return  # closing finished it (``_drain`` closes the async generators left open)
        closing = stream.aclose()  # type: ignore[attr-defined]
        if threading.current_thread() is self._thread:  # collected on the loop's thread: cannot wait there
            self._loop.create_task(closing)
            return
        with contextlib.suppress(Cancelled):  # the loop closed meanwhile: so is the stream
            self._run(closing)

    def _run(self, coroutine: Awaitable[T]) -> T:
        return _run_on(self._loop, coroutine)


def _made(name: str, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args``, where ``_MAKERS`` says the caller passed functions that make awaitables, with them made."""
    if name not in _MAKERS:
        return args
    count = _MAKERS[name]
    count = len(args) if count is None else count
    return tuple(make() for make in args[:count]) + args[count:]


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
        task = loop.create_task(coroutine)  # type: ignore[arg-type]
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
        outcome.set_exception(task.exception())  # type: ignore[arg-type]
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


def _blocking(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """The sync form of ``WellspringClient.<name>``, with its name, parameters and docstring."""
    if name in _ITERATORS:

        def call(self: SyncWellspringClient, *args: Any, **kwargs: Any) -> Any:
            return self._iterate(lambda: getattr(self._client, name)(*args, **kwargs))
    elif name in _EXPORTS:

        def call(self: SyncWellspringClient, *args: Any, **kwargs: Any) -> Any:
            return self._export(name, args, kwargs)
    else:

        def call(self: SyncWellspringClient, *args: Any, **kwargs: Any) -> Any:
            return self._call(name, args, kwargs)

    call.__name__ = name
    call.__qualname__ = f"SyncWellspringClient.{name}"
    makers = " Awaitables are passed as functions (no arguments) that make them." if name in _MAKERS else ""
    call.__doc__ = f"Blocking ``WellspringClient.{name}``.{makers}\n\n{inspect.getdoc(method) or ''}".rstrip()
    call.__signature__ = _sync_signature(method)  # type: ignore[attr-defined]
    return call


_RETURNS = (("Awaitable[", "", "]"), ("AsyncIterator[", "Iterator[", "]"), ("Export[", "SyncExport[", "]"))


def _sync_signature(method: Callable[..., Any]) -> inspect.Signature:
    """``method``'s signature with a bound ``self`` first and what the sync form returns: ``User`` for an
    ``Awaitable[User]``, ``Iterator[User]`` for an ``AsyncIterator[User]``, ``SyncExport`` for ``Export``."""
    signature = inspect.signature(method)
    params = list(signature.parameters.values())
    if not params or params[0].name != "self":  # a staticmethod (parallel, dependent)
        params.insert(0, inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD))
    returns = signature.return_annotation
    if isinstance(returns, str):
        for prefix, sync_prefix, suffix in _RETURNS:
            if returns.startswith(prefix) and returns.endswith(suffix):
                inner = returns[len(prefix) : -len(suffix)]
                returns = f"{sync_prefix}{inner}{suffix}" if sync_prefix else inner
                break
    return signature.replace(parameters=params, return_annotation=returns)


def public_methods(cls: type) -> set[str]:
    """The public method names of ``cls`` (functions, static methods included; not properties)."""
    return {
        name
        for name, value in vars(cls).items()
        if not name.startswith("_")
        and (inspect.isfunction(value) or isinstance(value, (staticmethod, classmethod)))
    }


def _add_blocking_methods(cls: type) -> None:
    """Give ``cls`` a blocking form of every public method of ``WellspringClient`` it does not define."""
    for name in sorted(public_methods(WellspringClient) - set(vars(cls))):
        setattr(cls, name, _blocking(name, getattr(WellspringClient, name)))


_add_blocking_methods(SyncWellspringClient)
