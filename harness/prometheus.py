"""A real Prometheus (Debian's ``prometheus``) on a free loopback port, scraping the given targets with
deploy/prometheus's rules loaded, for the tests; and ``promtool``. The shipped deploy/prometheus/
prometheus.yml is rendered with the targets and a 1 s scrape interval (nothing else changes)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from harness.processes import ROOT, HarnessError, free_port, terminate

DEPLOY = ROOT / "deploy" / "prometheus"
CONFIG = DEPLOY / "prometheus.yml"


def binary(name: str = "prometheus") -> str:
    found = shutil.which(name)
    if found is None:
        raise HarnessError(f"{name} not found: install the Debian package prometheus")
    return found


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], cwd=DEPLOY, capture_output=True, text=True, timeout=60)


class PrometheusProcess:
    READY_TIMEOUT_S = 30.0

    def __init__(self, workdir: Path, targets: Sequence[str], *, interval_s: int = 1) -> None:
        self.workdir = workdir
        self.targets = list(targets)
        self.interval_s = interval_s
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"prometheus-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> PrometheusProcess:
        import yaml

        config = yaml.safe_load(CONFIG.read_text())
        config["global"] = {
            "scrape_interval": f"{self.interval_s}s",
            "evaluation_interval": f"{self.interval_s}s",
        }
        config["rule_files"] = [str(DEPLOY / name) for name in config["rule_files"]]
        config["scrape_configs"][0]["static_configs"] = [{"targets": self.targets}]
        path = self.workdir / f"prometheus-{self.port}.yml"
        path.write_text(yaml.safe_dump(config))
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary(),
                    f"--config.file={path}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--storage.tsdb.path={self.workdir / f'tsdb-{self.port}'}",
                    "--log.level=warn",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + self.READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"prometheus exited {self.proc.returncode}:\n{self.log_path.read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise HarnessError(f"prometheus not ready in {self.READY_TIMEOUT_S:.0f} s")
            time.sleep(0.1)

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.proc is not None:
            terminate(self.proc)

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=5) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise HarnessError(f"prometheus {path}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value."""
        data = self.api("query", query=expr)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def scalar(self, expr: str) -> float | None:
        """The one value of ``expr`` (None: no series)."""
        found = self.query(expr)
        if len(found) > 1:
            raise HarnessError(f"{expr}: {len(found)} series")
        return found[0][1] if found else None
