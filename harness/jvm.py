"""The JVM client (clients/jvm/): its Java stubs generated from protos/ by Debian's ``protoc`` and grpc-java
plugin (``make generate-jvm``; committed, drift-checked), compiled with ``javac`` and ``kotlinc`` against
Debian's jars, and its JUnit 5 tests run by the JUnit console launcher against a server the Python harness
started (tests/e2e/test_jvm_client.py, ``make bench``).

Hand-written rather than Gradle or Maven: neither can fetch a dependency here (Maven Central is not
reachable), and with every jar coming from /usr/share/java a build is three compiler calls over a fixed
class path. A build is skipped when nothing it reads has changed (a hash of the sources and the jars).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.processes import ROOT, HarnessError

JVM = ROOT / "clients" / "jvm"
GENERATED = JVM / "generated"
MAIN = JVM / "src" / "main" / "kotlin"
TEST = JVM / "src" / "test" / "kotlin"
BUILD = ROOT / "build" / "jvm"
JARS = Path("/usr/share/java")
# google.rpc's Status and error details: Debian's proto-google-common-protos (1.16) has no ErrorInfo, so
# they are generated here from the copies web/ vendors.
GOOGLE_PROTOS = ROOT / "web" / "proto"
PLUGIN = Path("/usr/bin/grpc_java_plugin")
PACKAGES = (
    "protobuf-compiler protobuf-compiler-grpc-java-plugin libgrpc-java libprotobuf-java kotlin junit5 "
    "libcaffeine-java libnetty-java libperfmark-java libgoogle-gson-java libanimal-sniffer-java "
    "libgeronimo-annotation-1.3-spec-java libguava-java libjsr305-java liberror-prone-java "
    "libapiguardian-java libopentest4j-java"
)
# What the stubs and the facade compile against, and what grpc-java 1.41 needs at run time besides
# (measured: netty, perfmark, gson and animal-sniffer's annotations are loaded on the first call; Debian's
# guava carries failureaccess).
COMPILE = (
    "protobuf",
    "protobuf-util",
    "grpc-api",
    "grpc-stub",
    "grpc-protobuf",
    "grpc-protobuf-lite",
    "grpc-core",
    "grpc-context",
    "guava",
    "geronimo-annotation-1.3-spec",
    "jsr305",
    "caffeine",
    "kotlin-stdlib",
    "kotlin-stdlib-jdk7",
)
RUNTIME = (
    "grpc-netty",
    *(f"netty-{part}" for part in ("buffer", "codec", "codec-http", "codec-http2", "codec-socks", "common")),
    *(f"netty-{part}" for part in ("handler", "handler-proxy", "resolver", "transport")),
    "perfmark-api",
    "gson",
    "animal-sniffer-annotations",
    "error_prone_annotations",
)
JUNIT = ("junit-jupiter-api", "apiguardian-api", "opentest4j", "junit-platform-commons")
CONSOLE = JARS / "junit-platform-console-standalone.jar"


def _jars(names: Sequence[str]) -> list[str]:
    found = [JARS / f"{name}.jar" for name in names]
    missing = [path.name for path in found if not path.exists()]
    if missing:
        raise HarnessError(f"{', '.join(missing)} not in {JARS}: install the Debian packages {PACKAGES}")
    return [str(path) for path in found]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise HarnessError(f"{name} not found: install the Debian packages {PACKAGES}")
    return found


def generate(target: Path) -> None:
    """Java messages and grpc-java stubs for protos/ and google.rpc's status protos into ``target``."""
    if not PLUGIN.exists():
        raise HarnessError(f"{PLUGIN} not found: install the Debian packages {PACKAGES}")
    protos = sorted((ROOT / "protos").rglob("*.proto")) + sorted(
        (GOOGLE_PROTOS / "google" / "rpc").glob("*.proto")
    )
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            _tool("protoc"),
            f"-I{ROOT / 'protos'}",
            f"-I{GOOGLE_PROTOS}",
            f"--plugin=protoc-gen-grpc-java={PLUGIN}",
            f"--java_out={target}",
            f"--grpc-java_out={target}",
            *map(str, protos),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise HarnessError(f"protoc (Java) failed:\n{done.stderr}")


def regenerate() -> None:
    """``make generate-jvm``: clients/jvm/generated replaced by what protos/ produce now."""
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp) / "java")
        shutil.rmtree(GENERATED, ignore_errors=True)
        shutil.copytree(Path(tmp) / "java", GENERATED)


def classpath(*, tests: bool = False) -> list[str]:
    """The class path the client runs with (``tests``: and its tests compile with)."""
    jars = _jars(COMPILE) + _jars(RUNTIME) + (_jars(JUNIT) if tests else [])
    return [str(BUILD / "classes"), *jars]


def _sources(root: Path, suffix: str) -> list[Path]:
    return sorted(root.rglob(f"*{suffix}"))


def build() -> Path:
    """Compile the stubs, the Kotlin facade and its tests into build/jvm/classes, unless they and the jars
    are what the last build compiled. The classes directory."""
    inputs = _sources(GENERATED, ".java") + _sources(MAIN, ".kt") + _sources(TEST, ".kt")
    jars = _jars(COMPILE) + _jars(JUNIT)
    digest = hashlib.sha256()
    for path in inputs:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    for jar in jars:
        digest.update(jar.encode() + str(Path(jar).resolve().stat().st_mtime_ns).encode())
    stamp = BUILD / ".inputs-sha256"
    classes = BUILD / "classes"
    if stamp.exists() and stamp.read_text() == digest.hexdigest():
        return classes
    shutil.rmtree(classes, ignore_errors=True)
    classes.mkdir(parents=True)
    path = ":".join(classpath(tests=True))
    java = [str(p) for p in _sources(GENERATED, ".java")]
    kotlin = [str(p) for p in _sources(MAIN, ".kt") + _sources(TEST, ".kt")]
    _run([_tool("javac"), "-nowarn", "-encoding", "UTF-8", "-d", str(classes), "-cp", path, *java], "javac")
    _run(
        [_tool("kotlinc"), "-jvm-target", "1.8", "-nowarn", "-d", str(classes), "-cp", path, *kotlin],
        "kotlinc",
    )
    stamp.write_text(digest.hexdigest())
    return classes


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        errors = [line for line in (done.stdout + done.stderr).splitlines() if "warning:" not in line]
        raise HarnessError(f"{what} failed:\n" + "\n".join(errors[-60:]))


@dataclass
class JUnitRun:
    returncode: int
    output: str
    tests: int
    failures: int
    errors: int
    skipped: int
    figures: dict[str, float]

    @property
    def summary(self) -> str:
        passed = self.tests - self.failures - self.errors - self.skipped
        return (
            f"JUnit: {self.tests} tests, {passed} passed, {self.failures} failed, {self.errors} errors, "
            f"{self.skipped} skipped"
        )


def run_junit(env: Mapping[str, str], reports: Path, *, select: Sequence[str] = ()) -> JUnitRun:
    """The JUnit console launcher over the built tests (``select``: ``--select-class`` names, default all);
    the counts from its XML report, and every ``name = value`` line the tests printed."""
    import os

    build()
    if not CONSOLE.exists():
        raise HarnessError(f"{CONSOLE} not found: install the Debian package junit5")
    reports.mkdir(parents=True, exist_ok=True)
    chosen = [f"--select-class={name}" for name in select] or [
        f"--scan-classpath={BUILD / 'classes'}",
        "--exclude-tag=bench",  # the figures are make bench's (bench/jvm.py)
    ]
    done = subprocess.run(
        [
            _tool("java"),
            "-jar",
            str(CONSOLE),
            "--disable-banner",
            "--disable-ansi-colors",
            "--details=tree",
            f"--class-path={':'.join(classpath(tests=True))}",
            f"--reports-dir={reports}",
            *chosen,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=600,
    )
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for report in reports.glob("TEST-*.xml"):
        for suite in ET.parse(report).getroot().iter("testsuite"):
            for key in counts:
                counts[key] += int(suite.get(key, "0"))
    figures = {}
    for line in done.stdout.splitlines():
        name, sep, value = line.strip().partition(" = ")
        if sep and name.startswith("jvm_"):
            figures[name] = float(value)
    return JUnitRun(done.returncode, done.stdout + done.stderr, figures=figures, **counts)
