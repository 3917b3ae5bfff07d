"""What the call path reads of the running span, with the OpenTelemetry API alone (no SDK): with tracing
off the current span is the API's invalid one, and each function costs a context lookup."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.trace import Span


def current_span() -> Span:
    """The running call's span (the API's invalid one outside a trace): a lookup, nothing formatted."""
    return trace.get_current_span()


def ids_of(span: Span) -> tuple[str, str] | None:
    """A span's trace and span ids (hex), for an access-log line; None for the invalid span."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def links_to(traceparents: Sequence[str], limit: int = 16) -> list[trace.Link]:
    """Span links to the W3C ``traceparents`` (at most ``limit``; a malformed one is left out)."""
    links = []
    for value in traceparents[:limit]:
        parts = value.split("-")
        if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
            continue
        try:
            context = trace.SpanContext(
                int(parts[1], 16),
                int(parts[2], 16),
                is_remote=True,
                trace_flags=trace.TraceFlags(int(parts[3], 16)),
            )
        except ValueError:
            continue
        if context.is_valid:
            links.append(trace.Link(context))
    return links
