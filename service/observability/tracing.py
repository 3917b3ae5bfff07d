"""OpenTelemetry traces: off unless ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp`` or ``console``);
everything else is the SDK's own ``OTEL_*`` variables, read by the SDK (``OTEL_SERVICE_NAME``,
default ``wellspring``; ``OTEL_TRACES_SAMPLER`` / ``_ARG``, default ``parentbased_always_on``;
``OTEL_EXPORTER_OTLP_ENDPOINT`` and the other exporter settings; ``OTEL_BSP_*`` for the batch).

What makes the spans, by library where one can see the call:

* every call: a SERVER span from ``opentelemetry-instrumentation-grpc``'s aio interceptor, the child of
  the caller's W3C ``traceparent`` when one came in the metadata. Health checks are left out (probes
  would be most of the traces); ``OTEL_PYTHON_GRPC_EXCLUDED_SERVICES`` leaves out more.
* SQL statements: ``opentelemetry-instrumentation-sqlalchemy`` on the engine. The inline SQLite path runs
  its cursor events on the event loop inside the call's context; the worker threads (List scans, bulk
  writes) are handed the call's context with each statement (``service.repository.database``).
* Redis commands: ``opentelemetry-instrumentation-redis`` on the cache tier's client (command names only:
  the instrumentation replaces every argument with ``?``).
* by hand, where no instrumentation sees it: the cache tier's hit/miss and single-flight attributes on the
  call's span (``service.cache.tier``), and a span per Watch delivery linked to the write that caused it
  (``service.changes.feed``, from the trace context the change-log row recorded).

Statements and commands are only traced inside a call's trace: the change feed's tailer, the coherence
loop and the metrics loop run them every few milliseconds, and as root spans they would be most of what is
exported. Their tracer's sampler is ``ParentBased(ALWAYS_OFF)`` over the same span processor.

Bounded: the batch processor holds at most ``OTEL_BSP_MAX_QUEUE_SIZE`` spans (2048; when the exporter
cannot keep up, new spans are dropped, never queued without end), and each span at most
``_SPAN_LIMITS``: 32 attributes of at most 2 KiB each (a BatchGet's statement text is the longest), 16
events, 16 links — so the queue is a few MiB at worst.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

from service.observability.metrics import build_info

if TYPE_CHECKING:
    from service.observability.server_spans import ServerSpans

log = logging.getLogger("wellspring.tracing")

# Explicit limits where the SDK's default is "unlimited"; the OTEL_* variables still win when set.
_LIMIT_DEFAULTS = {
    "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": ("max_span_attributes", 32),
    "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": ("max_attribute_length", 2048),
    "OTEL_SPAN_EVENT_COUNT_LIMIT": ("max_events", 16),
    "OTEL_SPAN_LINK_COUNT_LIMIT": ("max_links", 16),
}


def _exporter(name: str) -> SpanExporter:
    """``name`` as ``Settings.traces_exporter`` checked it."""
    if name == "console":
        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def span_limits(env: Mapping[str, str] = os.environ) -> SpanLimits:
    given = {arg: value for name, (arg, value) in _LIMIT_DEFAULTS.items() if name not in env}
    return SpanLimits(**given)


class Tracing:
    """The service's tracer provider and what it instruments. ``processor`` receives every span (the
    environment's batch exporter, or a test's in-memory one)."""

    def __init__(self, processor: SpanProcessor, *, service_name: str | None = None) -> None:
        version, commit = build_info()
        created = Resource.create(
            {
                "service.name": service_name or os.environ.get("OTEL_SERVICE_NAME") or "wellspring",
                "service.version": version,
                "vcs.ref.head.revision": commit,
            }
        )
        resource = _Resource(created.attributes, created.schema_url)
        limits = span_limits()
        self.provider = TracerProvider(resource=resource, span_limits=limits)
        self.provider.add_span_processor(processor)
        # Statements and commands: only inside a call's trace (module docstring).
        self._children = TracerProvider(
            resource=resource, span_limits=limits, sampler=ParentBased(ALWAYS_OFF), shutdown_on_exit=False
        )
        self._children.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("wellspring")
        self._engines: list[Any] = []

    @classmethod
    def from_environment(cls, exporter: str) -> Tracing:
        return cls(BatchSpanProcessor(_exporter(exporter)))

    def server_interceptor(self) -> ServerSpans:
        from opentelemetry.instrumentation.grpc import filters

        from service.observability.server_spans import ServerSpans

        excluded = [filters.health_check()]
        for service in (os.environ.get("OTEL_PYTHON_GRPC_EXCLUDED_SERVICES") or "").split(","):
            if service.strip():
                excluded.append(filters.service_name(service.strip()))
        tracer = self.provider.get_tracer("opentelemetry.instrumentation.grpc")
        return ServerSpans(tracer, filter_=filters.negate(filters.any_of(*excluded)))

    def instrument_engine(self, engine: Any) -> None:
        """A sync ``sa.Engine`` (an AsyncEngine's ``sync_engine``)."""
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

        tracer = self._children.get_tracer("opentelemetry.instrumentation.sqlalchemy")
        tracer_ = EngineTracer(tracer, engine, connections_usage=_NoMeter())  # type: ignore[no-untyped-call]
        self._engines.append(tracer_)

    def instrument_redis(self, store: Any) -> None:
        """A ``RedisStore``: its asyncio client by the instrumentation, its inline reads by hand."""
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        RedisInstrumentor.instrument_client(store.client, tracer_provider=self._children)
        store.trace_with(self._children.get_tracer("opentelemetry.instrumentation.redis"))

    def shutdown(self) -> None:
        """Export what is queued (within the processor's timeout), then stop."""
        try:
            self.provider.shutdown()
        except Exception as error:  # an exporter that cannot reach its collector must not fail the stop
            log.warning("tracing: shutdown failed (%s)", type(error).__name__)


class _Resource(Resource):
    """The SDK's resource with its hash computed once. The OTLP encoder groups every exported span by its
    resource, and the SDK's ``__hash__`` serialises the attributes to JSON each time: ~4 µs a span on the
    exporter's thread, which shares the interpreter with the calls. The attributes never change."""

    _hash: int | None = None

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = super().__hash__()
        return self._hash


class _NoMeter:
    """The SQLAlchemy instrumentation's connection-usage counter, unused: the pool is in the Prometheus
    metrics already."""

    def add(self, *_: Any, **__: Any) -> None:
        return None
