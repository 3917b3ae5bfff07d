"""The cost of the Prometheus metrics on the read path (``python -m bench --only metrics``): two embedded
servers of their own (``bench.overhead``), one with ``WELLSPRING_METRICS_ADDR`` set, one without. The
health service is left out of the per-call metrics on the metered one
(``WELLSPRING_METRICS_EXCLUDE=grpc.health.v1.Health``, a setting operators use for load balancers'
probes): the no-op must not pay what is measured. Figures: ``metrics_overhead`` (target ≤ 1.05),
``metrics_get_vs_noop``, ``unmetered_get_vs_noop``, ``metrics_get_vs_unmetered_get``,
``metrics_noop_vs_unmetered_noop``, ``metrics_control_noop_vs_noop``.

Afterwards the endpoint is scraped: the timed GetUser calls must be there (else metrics were not on).
"""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench.overhead import Feature, OverheadOutcome, measure_overhead, overhead_lines, servers
from bench.server import BenchError
from harness import free_port

TARGET = 1.05


@dataclass
class MetricsOutcome:
    overhead: OverheadOutcome
    counted_gets: float = 0.0


def counted_gets(port: int) -> float:
    """GetUser calls the endpoint counts (every code)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "grpc_server_handled_total" and sample.labels.get("grpc_method") == "GetUser"
    )


def measure_metrics(workdir: Path) -> MetricsOutcome:
    port = free_port()
    settings = (
        ("WELLSPRING_METRICS_ADDR", f"127.0.0.1:{port}"),
        ("WELLSPRING_METRICS_EXCLUDE", "grpc.health.v1.Health"),
    )
    feature = Feature("metrics", "metrics", "unmetered", TARGET, settings)
    with servers(workdir, feature) as (metered, plain):
        outcome = MetricsOutcome(measure_overhead(feature, metered, plain))
        outcome.counted_gets = counted_gets(port)
    if outcome.counted_gets < outcome.overhead.timed_gets:
        raise BenchError(
            f"the metrics endpoint counted {outcome.counted_gets:.0f} GetUser for"
            f" {outcome.overhead.timed_gets} timed ones: metrics were not on"
        )
    return outcome


def metrics_lines(outcome: MetricsOutcome) -> list[str]:
    return [
        "servers: two embedded (SQLite, in-process cache, access log on); one with WELLSPRING_METRICS_ADDR",
        f"        (health excluded): its endpoint counted {outcome.counted_gets:.0f} GetUser calls;",
        *overhead_lines(outcome.overhead),
    ]
