"""The cost of OpenTelemetry tracing on the read path (``python -m bench --only tracing``): two embedded
servers of their own (``bench.overhead``), one with ``OTEL_TRACES_EXPORTER=otlp`` (the default sampler,
parentbased_always_on: every call is sampled and exported, in batches, to an OTLP collector of the bench's
own, ``bench/otlp_sink.py``), one without; health checks are never traced. Figures: ``tracing_overhead``
(target ≤ 1.10), ``tracing_get_vs_noop``, ``untraced_get_vs_noop``, ``tracing_get_vs_untraced_get``,
``tracing_noop_vs_untraced_noop``, ``tracing_control_noop_vs_noop``.

Afterwards the collector must have received at least one span per timed GetUser (else tracing was not on,
or the export was lost).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.overhead import Feature, OverheadOutcome, measure_overhead, overhead_lines, servers
from bench.server import BenchError
from harness import free_port

TARGET = 1.10


@dataclass
class TracingOutcome:
    overhead: OverheadOutcome
    spans_exported: int = 0


@contextmanager
def collector() -> Iterator[tuple[int, dict[str, int]]]:
    """The counting OTLP sink on a free port; on the way out, what it printed: ``spans`` (all of them) and
    the count of each span name."""
    port = free_port()
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.otlp_sink", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert sink.stdout is not None
    if sink.stdout.readline().strip() != "listening":
        sink.kill()
        raise BenchError("the OTLP sink did not start")
    counted: dict[str, int] = {}
    try:
        yield port, counted
    finally:
        sink.terminate()
        out, _ = sink.communicate(timeout=30)
        for line in out.splitlines():
            name, _, count = line.rpartition("=")
            counted[name] = int(count)


def measure_tracing(workdir: Path) -> TracingOutcome:
    with collector() as (port, counted):
        feature = Feature(
            "tracing",
            "tracing",
            "untraced",
            TARGET,
            (
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}"),
                ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
                ("OTEL_SERVICE_NAME", "wellspring-bench"),
            ),
        )
        with servers(workdir, feature) as (traced, plain):
            outcome = TracingOutcome(measure_overhead(feature, traced, plain))
    outcome.spans_exported = counted.get("spans", 0)
    if outcome.spans_exported < outcome.overhead.timed_gets:
        raise BenchError(
            f"the collector received {outcome.spans_exported} spans for {outcome.overhead.timed_gets} traced "
            "GetUser calls: tracing was not on, or spans were lost"
        )
    return outcome


def tracing_lines(outcome: TracingOutcome) -> list[str]:
    return [
        "servers: two embedded (SQLite, in-process cache, access log on); one with OTEL_TRACES_EXPORTER=otlp",
        f"        (default sampler), exporting to a counting OTLP collector: {outcome.spans_exported} spans"
        f" received for {outcome.overhead.timed_gets} timed GetUser calls;",
        *overhead_lines(outcome.overhead),
    ]
