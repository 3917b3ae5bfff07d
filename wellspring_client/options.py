"""What a ``WellspringClient`` is made of, grouped: how it reaches the server (``ChannelOptions``), how its
query cache keeps results (``CacheOptions``), and time and randomness (``Timing``, injected by tests).
The retry policy is ``RetryPolicy``. Each is a frozen value, so one can be shared by many clients."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

import grpc

from wellspring_client._query_client import Timing
from wellspring_client.tokens import TokenSource
from wellspring_client.transport import Metadata

__all__ = ["CacheOptions", "ChannelOptions", "Shorthands", "Timing"]


@dataclass(frozen=True, slots=True)
class ChannelOptions:
    """The channel to the target: TLS ``credentials`` (None: plaintext), per-call ``call_credentials``,
    static ``metadata`` sent with every call, grpc channel ``options``, and the client's one identity,
    ``token``: a bearer token, a ``Token``, or a provider renewed before expiry
    (``wellspring_client.tokens``). ``tracing``: each call a CLIENT span of OpenTelemetry's, its
    ``traceparent`` sent to the server (``opentelemetry-instrumentation-grpc``'s interceptors: install
    ``wellspring-client[tracing]``), with ``tracer_provider`` or the global one."""

    credentials: grpc.ChannelCredentials | None = None
    call_credentials: grpc.CallCredentials | None = None
    metadata: Metadata = ()
    options: Sequence[tuple[str, Any]] = ()
    token: TokenSource | None = None
    tracing: bool = False
    tracer_provider: Any = None


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """``stale_after_s``: how long a result is served without asking again (then a stale hit answers at
    once and refreshes in the background); ``evict_after_s``: the oldest data kept at all;
    ``max_entries``: the LRU bound; ``serve_stale_on_unavailable``: answer from the cache when the server
    cannot be reached (never with data a write or an event outdated); ``persist_path``: a local SQLite
    file the cache is saved to on close and restored from (as stale) on start."""

    stale_after_s: float = 5.0
    evict_after_s: float = 300.0
    max_entries: int = 10_000
    serve_stale_on_unavailable: bool = False
    persist_path: str | None = None


DEFAULT_CHANNEL = ChannelOptions()
DEFAULT_CACHING = CacheOptions()
DEFAULT_TIMING = Timing()


class Shorthands(TypedDict, total=False):
    """The options' fields as keyword arguments of the client itself (``stale_after_s=5``,
    ``credentials=…``, ``clock=…``): each overrides that field of the option object passed (or of its
    default). ``channel_options`` is ``ChannelOptions.options``."""

    credentials: grpc.ChannelCredentials | None
    call_credentials: grpc.CallCredentials | None
    metadata: Metadata
    channel_options: Sequence[tuple[str, Any]]
    token: TokenSource | None
    tracing: bool
    tracer_provider: Any
    stale_after_s: float
    evict_after_s: float
    max_entries: int
    serve_stale_on_unavailable: bool
    persist_path: str | None
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    rng: Callable[[], float]


def split(
    channel: ChannelOptions, caching: CacheOptions, timing: Timing, shorthands: Shorthands
) -> tuple[ChannelOptions, CacheOptions, Timing]:
    """The three option objects with the ``shorthands`` applied to the one each names a field of."""
    given: dict[str, Any] = dict(shorthands)
    if "channel_options" in given:
        given["options"] = given.pop("channel_options")
    result: list[Any] = []
    for options in (channel, caching, timing):
        own = {f.name for f in dataclasses.fields(options)} & given.keys()
        result.append(dataclasses.replace(options, **{name: given.pop(name) for name in own}))
    if given:  # a TypedDict does not stop an untyped caller
        raise TypeError(f"unexpected keyword arguments: {', '.join(sorted(given))}")
    return result[0], result[1], result[2]
