"""The cost of the Prometheus metrics on the read path: one more server, the embedded default with
``WELLSPRING_METRICS_ADDR`` set, measured in the same alternating rounds as the others.

* ``metrics_get_vs_noop``: a warm (in-process cached) GetUser ÷ health Check on it;
* ``metrics_overhead``: ``metrics_get_vs_noop`` ÷ ``get_vs_noop`` — the cached Get with metrics on ÷ off,
  each against the no-op of its own process, so that what differs between two processes cancels out
  (the way ``auth_overhead`` is measured). For that the health service is left out of the per-call
  metrics on this server (``WELLSPRING_METRICS_EXCLUDE=grpc.health.v1.Health``, a setting operators use
  for load balancers' probes): the no-op must not pay what is measured;
* ``metrics_control_noop_vs_noop``: its control pair.

After the rounds, the endpoint is scraped: the GetUser calls must be there (else metrics were not on).
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bench import client as c
from bench.pairs import Pair
from bench.server import Backend, BenchError, ServerProcess, running_server
from harness import free_port

METRICS_CONTROL = "metrics_control_noop_vs_noop"
METRICS_GET = "metrics_get_vs_noop"
METRICS_OVERHEAD = "metrics_overhead"


@dataclass
class MetricsServer:
    server: ServerProcess
    client: c.Client
    port: int
    ids: list[str] = field(default_factory=list)

    def counted_gets(self) -> float:
        """GetUser calls the endpoint counts (every code)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            text = response.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "grpc_server_handled_total" and sample.labels.get("grpc_method") == "GetUser"
        )


@contextmanager
def metrics_deployment(workdir: Path) -> Iterator[MetricsServer]:
    port = free_port()
    settings = (
        ("WELLSPRING_METRICS_ADDR", f"127.0.0.1:{port}"),
        ("WELLSPRING_METRICS_EXCLUDE", "grpc.health.v1.Health"),
    )
    backend = Backend(f"sqlite:///{workdir / 'metrics.sqlite3'}", settings=settings)
    with running_server(workdir, backend, name="metrics") as server:
        client = c.connect(server.address)
        try:
            yield MetricsServer(server, client, port)
        finally:
            client.close()


def metrics_pairs(side: MetricsServer, calls: int) -> list[Pair]:
    return [
        Pair(METRICS_CONTROL, c.check_op(side.client), c.check_op(side.client), calls),
        Pair(METRICS_GET, c.get_user_op(side.client, side.ids), c.check_op(side.client), calls),
    ]


def check_counted(side: MetricsServer) -> None:
    if side.counted_gets() < 1:
        raise BenchError("the metrics server's endpoint counted no GetUser: metrics were not on")
