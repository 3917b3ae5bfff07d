"""The JVM client (clients/jvm/): its Java stubs are what protos/ produce, and its JUnit 5 tests — every
method of every collection, errors with details, Export, Watch events reaching the cache, N concurrent gets
of one id as one RPC the server logged, retries, deadlines — pass against a real server started here, once
directly and once through the project's Envoy. Their result lines are printed at the end of the run."""

from __future__ import annotations

import filecmp
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.golden import GOLDEN
from harness import HarnessError, jvm
from harness.envoy import EnvoyProcess
from tests.conftest import JVM_RESULTS, sqlite_url_for
from tests.e2e.helpers import missing_tool
from tests.e2e.process import ServerProcess
from tests.e2e.tokens import AUTH_ENV, token


def test_the_generated_java_is_what_protos_produce(tmp_path: Path) -> None:
    """``make generate-jvm`` is deterministic and clients/jvm/generated is up to date."""
    try:
        jvm.generate(tmp_path / "java")
    except HarnessError as error:
        missing_tool(error)
    fresh = {p.relative_to(tmp_path / "java") for p in (tmp_path / "java").rglob("*.java")}
    committed = {p.relative_to(jvm.GENERATED) for p in jvm.GENERATED.rglob("*.java")}
    assert fresh == committed, "run `make generate-jvm`: " + ", ".join(sorted(map(str, fresh ^ committed)))
    stale = [
        str(p) for p in sorted(fresh) if not filecmp.cmp(tmp_path / "java" / p, jvm.GENERATED / p, False)
    ]
    assert not stale, f"run `make generate-jvm`: {stale}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    try:
        jvm.build()
    except HarnessError as error:
        missing_tool(error)
    tmp = tmp_path_factory.mktemp("jvm")
    env = {**AUTH_ENV, "WELLSPRING_ACCESS_LOG": "1", "WELLSPRING_RATE_LIMIT": "100000/second"}
    with ServerProcess(tmp, sqlite_url_for(tmp), **env) as started:
        started.wait_serving()
        yield started


@pytest.mark.parametrize("via", ["direct", "envoy"])
def test_the_junit_suite_passes(
    via: str, server: ServerProcess, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    env = {
        "WELLSPRING_TOKEN": token(sub="root", scopes="admin"),
        "WELLSPRING_SERVER_LOG": str(server.log_path),
        "WELLSPRING_GOLDEN_DIR": str(GOLDEN),
    }
    if via == "direct":
        run = jvm.run_junit({**env, "WELLSPRING_TARGET": server.address}, tmp_path / "reports")
    else:
        with EnvoyProcess(tmp_path, [server.address]) as envoy:
            run = jvm.run_junit({**env, "WELLSPRING_TARGET": envoy.address}, tmp_path / "reports")
    pytestconfig.stash.setdefault(JVM_RESULTS, []).append(f"{run.summary} ({via})")
    assert run.returncode == 0 and run.failures == run.errors == 0, run.output[-6000:]
    assert run.tests >= 11, run.output[-3000:]  # every test ran: none was left out by a build slip
