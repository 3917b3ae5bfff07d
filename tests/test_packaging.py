"""The client SDK ships on its own: a wheel with wellspring_client and the generated stubs, depending on
gRPC and protobuf only, importable without the server."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_sdk_wheel_carries_the_client_and_the_stubs_and_nothing_of_the_server(tmp_path: Path) -> None:
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(tmp_path), str(ROOT / "clients" / "python")], check=True)
    [wheel] = tmp_path.glob("wellspring_client-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith("/METADATA"))
        archive.extractall(tmp_path / "site")
    assert {"wellspring_client/client.py", "wellspring_client/py.typed"} <= names
    assert {"wellspring/v1/user_service_pb2_grpc.py", "wellspring/v1/user_service_pb2.pyi"} <= names
    assert not any(n.startswith("service/") or "__pycache__" in n for n in names)
    requires: dict[str, set[str]] = {}  # extra ("" for none) -> the distributions it requires
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:"):
            spec, _, marker = line.split(":", 1)[1].partition(";")
            extra = marker.split("==")[1].strip().strip("'\"") if "extra" in marker else ""
            name = spec.strip().split(">")[0].split("<")[0].split("=")[0].split(" ")[0]
            requires.setdefault(extra, set()).add(name)
    assert requires == {
        "": {"grpcio", "grpcio-status", "protobuf", "googleapis-common-protos"},
        # ChannelOptions(tracing=True): OpenTelemetry's client interceptors, only when asked for
        "tracing": {"opentelemetry-instrumentation-grpc", "opentelemetry-api"},
    }

    site = tmp_path / "site"
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import wellspring_client, wellspring.v1.user_service_pb2;"
        "assert wellspring_client.__file__.startswith(sys.argv[1]), wellspring_client.__file__;"
        "assert wellspring.v1.user_service_pb2.__file__.startswith(sys.argv[1]);"
        "assert not {'service', 'sqlalchemy', 'redis', 'asyncpg'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", probe, str(site)], check=True, cwd=tmp_path)


def test_the_server_wheel_carries_every_package_of_the_service(tmp_path: Path) -> None:
    """``pip install .`` (the container image) installs what the editable checkout imports: every
    directory of service/ with an __init__.py is a package in the wheel (service.auth once was not)."""
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    subprocess.run([*build, "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True)
    [wheel] = tmp_path.glob("wellspring-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    wanted = {
        str(init.relative_to(ROOT))
        for init in (ROOT / "service").rglob("__init__.py")
        if "__pycache__" not in str(init)
    }
    assert wanted and wanted <= names, sorted(wanted - names)
