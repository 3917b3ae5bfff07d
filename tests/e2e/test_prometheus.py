"""A real Prometheus (Debian's) scraping a real server process: the right grpc_server_handled_total counts
per code for a known workload, the cache hit ratio the server reports, the feed lag back at 0 after a
burst of writes with a watcher listening, and deploy/prometheus's rules loaded and healthy. The shipped
configuration and rules pass promtool's checks and their unit tests; every metric the rules and the
Grafana dashboard name is one the server serves."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2, watch_service_pb2_grpc

from harness import HarnessError, free_port
from harness.prometheus import DEPLOY, PrometheusProcess, promtool
from tests.conftest import sqlite_url_for
from tests.e2e.helpers import missing_tool
from tests.e2e.process import ROOT, ServerProcess
from tests.e2e.tokens import AUTH_ENV

DASHBOARD = ROOT / "deploy" / "grafana" / "wellspring.json"


def test_the_shipped_configuration_and_rules_pass_promtool() -> None:
    try:
        checks = [promtool("check", "config", "prometheus.yml"), promtool("check", "rules", "rules.yml")]
        checks.append(promtool("test", "rules", "rules_test.yml"))
    except HarnessError as error:
        missing_tool(error)
    for done in checks:
        assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in checks[-1].stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    tmp = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    with ServerProcess(tmp, sqlite_url_for(tmp), WELLSPRING_METRICS_ADDR=f"127.0.0.1:{port}") as started:
        started.wait_serving()
        yield started, port


def _scrape(port: int) -> dict[str, float]:
    """The endpoint's unlabelled samples and every sample name (value: the sum over its series)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type == "counter":  # served even with no series yet (e.g. no refusal so far)
            totals.setdefault(f"{family.name}_total", 0.0)
        for sample in family.samples:
            totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return totals


def _until(check: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_prometheus_scrapes_the_counts_the_hit_ratio_and_the_feed_lag(
    server: tuple[ServerProcess, int], tmp_path: Path
) -> None:
    process, port = server
    try:
        prometheus = PrometheusProcess(tmp_path, [f"127.0.0.1:{port}"]).__enter__()
    except HarnessError as error:
        missing_tool(error)
    try:
        with grpc.insecure_channel(process.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            ada = users.CreateUser(
                api.CreateUserRequest(user=pb.User(email="ada@x.test", display_name="Ada"))
            )
            for _ in range(7):
                users.GetUser(api.GetUserRequest(id=ada.id))
            for _ in range(4):
                with pytest.raises(grpc.RpcError):
                    users.GetUser(api.GetUserRequest(id="absent"))
            get = 'grpc_server_handled_total{job="wellspring",grpc_method="GetUser",grpc_code="%s"}'
            _until(
                lambda: prometheus.scalar(get % "OK") == 7 and prometheus.scalar(get % "NotFound") == 4,
                "Prometheus did not scrape 7 OK and 4 NotFound GetUser calls",
            )
            hits, misses = "sum(wellspring_cache_hits_total)", "sum(wellspring_cache_misses_total)"
            ratio = f"{hits} / ({hits} + {misses})"

            def same_ratio() -> bool:
                own = _scrape(port)
                expected = own["wellspring_cache_hits_total"] / (
                    own["wellspring_cache_hits_total"] + own["wellspring_cache_misses_total"]
                )
                return prometheus.scalar(ratio) == pytest.approx(expected) and expected > 0.5

            _until(same_ratio, "Prometheus's cache hit ratio is not the server's")

            # A burst of writes with a watcher listening (the tailer reads every row), then the lag is 0.
            watch = watch_service_pb2_grpc.WatchServiceStub(channel).Watch(watch_service_pb2.WatchRequest())
            next(watch)

            def burst() -> Iterator[api.ImportUsersRequest]:
                for chunk in range(6):
                    yield api.ImportUsersRequest(
                        users=[
                            pb.User(id=f"b{chunk}-{n}", email=f"b{chunk}.{n}@x.test", display_name="B")
                            for n in range(500)
                        ]
                    )

            users.ImportUsers(burst(), timeout=60)
            _until(
                lambda: (
                    (prometheus.scalar('wellspring_database_head_revision{job="wellspring"}') or 0) >= 3001
                    and prometheus.scalar('wellspring_feed_lag_revisions{job="wellspring"}') == 0
                    and prometheus.scalar('wellspring_feed_lag_seconds{job="wellspring"}') == 0
                    and prometheus.scalar("wellspring_feed_head_revision - wellspring_database_head_revision")
                    == 0
                ),
                "the feed's lag did not return to 0 after the burst",
            )
            assert (prometheus.scalar("wellspring_feed_events_fanned_out_total") or 0) >= 3000
            watch.cancel()
        groups = prometheus.api("rules")["groups"]
        alerts = {
            rule["name"]: rule for group in groups for rule in group["rules"] if rule["type"] == "alerting"
        }
        assert len(alerts) == 6 and all(rule["health"] == "ok" for rule in alerts.values()), alerts
        assert all(rule["state"] == "inactive" for rule in alerts.values()), alerts  # a healthy replica
    finally:
        prometheus.__exit__(None, None, None)


def test_every_metric_the_rules_and_the_dashboard_name_is_served(tmp_path: Path) -> None:
    """Against a server with authentication on (its failures and the rate limit are then counted too)."""
    port = free_port()
    env = {**AUTH_ENV, "WELLSPRING_METRICS_ADDR": f"127.0.0.1:{port}"}
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as started:
        started.wait_serving()
        served = set(_scrape(port))
    text = (DEPLOY / "rules.yml").read_text() + json.dumps(json.loads(DASHBOARD.read_text()))
    named = set(re.findall(r"(?<![:\w])((?:grpc_server|wellspring)_[a-z_]+)\b", text))  # not in rule names
    assert named and not named - served, f"named but not served: {sorted(named - served)}"
