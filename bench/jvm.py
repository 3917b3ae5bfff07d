"""The JVM client's figures (``python -m bench --only jvm``), measured by its JUnit benchmark
(clients/jvm/src/test/.../BenchTest.kt, warm-up then the median of 7 rounds) against a server of its own
(the embedded default, access log off, no authentication — as the SDK's figures are):

* ``jvm_cached_get_ns``: the Kotlin facade's cached hit, ``users.get(id)`` of a cached id;
* ``jvm_rpc_get_us``: a real GetUser round trip through the generated blocking stub.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.run import progress
from bench.server import BenchError
from harness import HarnessError, ServerProcess, jvm

FIGURES = ("jvm_cached_get_ns", "jvm_rpc_get_us")


@dataclass
class JvmOutcome:
    figures: dict[str, float] = field(default_factory=dict)


def measure_jvm(workdir: Path) -> JvmOutcome:
    env = {"WELLSPRING_DATABASE_URL": f"sqlite:///{workdir / 'jvm.sqlite3'}", "WELLSPRING_ACCESS_LOG": "0"}
    try:
        jvm.build()
        with ServerProcess(workdir, env, name="jvm") as server:
            server.wait_serving()
            progress(f"jvm: the JUnit benchmark against {server.address}")
            run = jvm.run_junit(
                {"WELLSPRING_TARGET": server.address},
                workdir / "jvm-reports",
                select=["dev.wellspring.client.BenchTest"],
            )
    except HarnessError as error:
        raise BenchError(str(error)) from None
    missing = [name for name in FIGURES if name not in run.figures]
    if run.returncode != 0 or missing:
        raise BenchError(f"the JVM benchmark failed (missing {missing}):\n{run.output[-3000:]}")
    return JvmOutcome({name: run.figures[name] for name in FIGURES})


def jvm_lines(outcome: JvmOutcome) -> list[str]:
    return [f"  {name:<32} {value:>9.1f}" for name, value in outcome.figures.items()]


def jvm_final_lines(outcome: JvmOutcome) -> list[str]:
    return [f"{name} = {value:.1f}" for name, value in outcome.figures.items()]
