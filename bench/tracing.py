"""The cost of OpenTelemetry tracing on the read path (``python -m bench --only tracing``): two embedded
servers of their own, one with ``OTEL_TRACES_EXPORTER=otlp`` (the default sampler, parentbased_always_on:
every call is sampled and exported, in batches, to an OTLP collector of the bench's own,
``bench/otlp_sink.py``), one without. Six calls are made in turn, in short blocks of each, round after
round (``bench.pairs.measure_interleaved``), so that all of them see the same stretch of the machine:
a warm (in-process cached) GetUser on each server and two health Checks on each (health checks are not
traced: the no-op must not pay what is measured), the servers taking turns, so that every block follows
one of the other server's (a server that has just answered answers its next call faster). Each figure is
the median over the rounds of a ratio of that round's medians:

* ``tracing_get_vs_noop`` / ``untraced_get_vs_noop``: each server's GetUser ÷ its own Check;
* ``tracing_overhead``: their ratio — the cached Get with tracing on ÷ off, each against the no-op of its
  own process, so that what differs between two processes cancels out (the way ``metrics_overhead`` and
  ``auth_overhead`` are measured);
* ``tracing_get_vs_untraced_get``: the two GetUsers directly (context: process differences included);
* ``tracing_noop_vs_untraced_noop``: the two Checks (context: what the traced process's exporter thread
  and any other difference between the processes cost a call that is not traced);
* ``tracing_control_noop_vs_noop``: the control, the traced server's two Checks.

Afterwards the collector must have received at least one span per traced GetUser (else tracing was not
on, or the export was lost).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import client as c
from bench.pairs import PairResult, measure_interleaved
from bench.run import CONTROL_TOLERANCE, progress
from bench.server import Backend, BenchError, running_server
from harness import free_port

CONTROL = "tracing_control_noop_vs_noop"
TRACED = "tracing_get_vs_noop"
UNTRACED = "untraced_get_vs_noop"
OVERHEAD = "tracing_overhead"
TARGET = 1.10
ROUNDS, CALLS, BLOCK = 16, 500, 50
WARM_UP_ROUNDS = 2
DIRECT = "tracing_get_vs_untraced_get"
NOOPS = "tracing_noop_vs_untraced_noop"
# figure -> (numerator, denominator): ops measured in turn, or two figures of the same round
RATIOS = {
    CONTROL: ("traced_check", "traced_check_again"),
    TRACED: ("traced_get", "traced_check"),
    UNTRACED: ("untraced_get", "untraced_check"),
    OVERHEAD: (TRACED, UNTRACED),
    DIRECT: ("traced_get", "untraced_get"),
    NOOPS: ("traced_check", "untraced_check"),
}
ATTEMPTS = 3


@dataclass
class TracingOutcome:
    pairs: dict[str, PairResult] = field(default_factory=dict)
    traced_gets: int = 0
    spans_exported: int = 0
    attempts: int = 0

    @property
    def control_ok(self) -> bool:
        return abs(self.pairs[CONTROL].ratio - 1.0) <= CONTROL_TOLERANCE

    @property
    def figures(self) -> dict[str, float]:
        return {name: result.ratio for name, result in self.pairs.items()}


def ratios(medians: list[dict[str, float]]) -> dict[str, PairResult]:
    """The figures of ``RATIOS``, per round, in order: a ratio of two figures takes that round's values.
    A figure's a/b medians are in ns (for a ratio of figures, the figures themselves)."""
    results = {name: PairResult(name) for name in RATIOS}
    for round_ in medians:
        values = dict(round_)
        for name, (a, b) in RATIOS.items():
            result = results[name]
            result.ratios.append(values[a] / values[b])
            result.a_medians_ns.append(values[a])
            result.b_medians_ns.append(values[b])
            values[name] = result.ratios[-1]
    return results


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
    outcome = TracingOutcome()
    with collector() as (port, counted):
        traced_settings = (
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
            ("OTEL_SERVICE_NAME", "wellspring-bench"),
        )
        traced_backend = Backend(f"sqlite:///{workdir / 'traced.sqlite3'}", settings=traced_settings)
        plain_backend = Backend(f"sqlite:///{workdir / 'untraced.sqlite3'}")
        with (
            running_server(workdir, traced_backend, name="traced") as traced,
            running_server(workdir, plain_backend, name="untraced") as plain,
        ):
            progress(f"tracing: traced server pid {traced.pid}, untraced pid {plain.pid}; seeding both")
            traced_client, plain_client = c.connect(traced.address), c.connect(plain.address)
            try:
                traced_ids, plain_ids = c.seed(traced_client), c.seed(plain_client)
                c.warm(traced_client, traced_ids)
                c.warm(plain_client, plain_ids)
                # The servers take turns: each block follows one of the other server's
                ops = {
                    "traced_get": c.get_user_op(traced_client, traced_ids),
                    "untraced_get": c.get_user_op(plain_client, plain_ids),
                    "traced_check": c.check_op(traced_client),
                    "untraced_check": c.check_op(plain_client),
                    "traced_check_again": c.check_op(traced_client),
                    "untraced_check_again": c.check_op(plain_client),
                }
                measure_interleaved(ops, CALLS, WARM_UP_ROUNDS, block=BLOCK)
                for attempt in range(1, ATTEMPTS + 1):
                    progress(f"tracing: {ROUNDS} rounds x {len(ops)} calls in turn (attempt {attempt})")
                    outcome.pairs = ratios(measure_interleaved(ops, CALLS, ROUNDS, block=BLOCK))
                    outcome.attempts = attempt
                    if outcome.control_ok:
                        break
                # the timed GetUser calls (the warm-up's and the seeding's come on top)
                outcome.traced_gets = CALLS * ROUNDS * outcome.attempts
            finally:
                traced_client.close()
                plain_client.close()
    outcome.spans_exported = counted.get("spans", 0)
    if outcome.spans_exported < outcome.traced_gets:
        raise BenchError(
            f"the collector received {outcome.spans_exported} spans for {outcome.traced_gets} traced "
            "GetUser calls: tracing was not on, or spans were lost"
        )
    return outcome


def tracing_lines(outcome: TracingOutcome) -> list[str]:
    figures = outcome.figures
    state = "ok" if outcome.control_ok else "OUT OF TOLERANCE"
    lines = [
        "servers: two embedded (SQLite, in-process cache, access log on); one with OTEL_TRACES_EXPORTER=otlp",
        f"        (default sampler), exporting to a counting OTLP collector: {outcome.spans_exported} spans",
        f"        received for {outcome.traced_gets} timed GetUser calls; {ROUNDS} rounds of {CALLS} x"
        " (GetUser and two Checks on each,",
        f"        in turn, in blocks of {BLOCK}), {outcome.attempts} attempt(s)",
        f"  {CONTROL:<30} {figures[CONTROL]:>8.3f}  1.00 +/- {CONTROL_TOLERANCE:.2f}  {state}",
    ]
    for name in (TRACED, UNTRACED, DIRECT, NOOPS):
        result = outcome.pairs[name]
        lines.append(f"  {name:<30} {figures[name]:>8.3f}  ({result.a_us:.0f} us vs {result.b_us:.0f} us)")
    verdict = "meets target" if figures[OVERHEAD] <= TARGET else "MISSES target"
    low, high = outcome.pairs[OVERHEAD].quartiles
    lines.append(
        f"  {OVERHEAD:<30} {figures[OVERHEAD]:>8.3f}  <= {TARGET:.2f}          {verdict}"
        f" (quartiles of the rounds {low:.3f}-{high:.3f})"
    )
    return lines


def tracing_final_lines(outcome: TracingOutcome) -> list[str]:
    return [f"{name} = {value:.3f}" for name, value in outcome.figures.items()]
