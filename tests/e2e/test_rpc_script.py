"""scripts/rpc.py against a real ``serve --seed-demo`` process: its own shape and grpcurl's, metadata, TLS,
and one-line errors (exit 2 for usage errors, 1 with ``CODE: message`` and the details for a failed call)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import grpc
import pytest
import trustme
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.e2e.process import ROOT, ServerProcess

SCRIPT = ROOT / "scripts" / "rpc.py"


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rpc_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


rpc = _load_script()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("rpc")
    with ServerProcess(tmp, f"sqlite:///{tmp / 'db.sqlite3'}", args=("--seed-demo",)) as process:
        asyncio.run(process.serving())
        yield process


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = rpc.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_own_shape_and_grpcurl_shape_give_the_same_answer(server: ServerProcess, capsys) -> None:
    own = run(capsys, "--addr", server.address, "wellspring.v1.UserService/GetUser", '{"id": "ada"}')
    grpcurl = run(
        capsys, "-plaintext", "-d", '{"id":"ada"}', server.address, "wellspring.v1.UserService/GetUser"
    )
    assert own == grpcurl
    code, out, _ = own
    assert code == 0 and json.loads(out)["displayName"] == "Ada Lovelace"


def test_list_services_and_methods(server: ServerProcess, capsys) -> None:
    code, out, _ = run(capsys, "-plaintext", server.address, "list")
    assert code == 0 and "wellspring.v1.UserService" in out.split()
    code, out, _ = run(capsys, "-plaintext", server.address, "list", "wellspring.v1.PostService")
    assert code == 0 and "wellspring.v1.PostService.ListPosts" in out.split()


def test_address_defaults_to_wellspring_addr(server: ServerProcess, monkeypatch, capsys) -> None:
    monkeypatch.setenv("WELLSPRING_ADDR", server.address)
    assert run(capsys, "list")[0] == 0


def test_streams_both_ways(server: ServerProcess, capsys) -> None:
    items = "".join(
        json.dumps({"users": [{"id": f"rpc-{i}", "email": f"rpc-{i}@example.com", "displayName": "R"}]})
        for i in range(2)
    )
    code, out, err = run(capsys, "--addr", server.address, "wellspring.v1.UserService/ImportUsers", items)
    assert (code, json.loads(out)) == (0, {"createdCount": "2"}), err
    code, out, _ = run(
        capsys, "--addr", server.address, "wellspring.v1.UserService/ExportUsers", '{"query": "R"}'
    )
    assert code == 0 and {u["id"] for u in json.loads(out)["users"]} == {"rpc-0", "rpc-1"}


def test_metadata_is_sent_in_both_spellings(server: ServerProcess, capsys) -> None:
    method = ("wellspring.v1.UserService/GetUser", '{"id": "ada"}')
    assert run(capsys, "--addr", server.address, "--metadata", "x-request-id=7", *method)[0] == 0
    big = "v" * 20_000  # over the server's 16 KiB metadata limit: it can only fail if it was sent
    for flag in (["--metadata", f"x-big={big}"], ["-H", f"X-Big: {big}"]):
        code, _, err = run(capsys, "--addr", server.address, *flag, *method)
        assert code == 1 and err.startswith("RESOURCE_EXHAUSTED: "), err


def test_failed_call_is_code_message_and_one_line_per_detail(server: ServerProcess, capsys) -> None:
    code, out, err = run(
        capsys, "--addr", server.address, "wellspring.v1.UserService/GetUser", '{"id": "nobody"}'
    )
    lines = err.splitlines()
    assert (code, out) == (1, "")
    assert lines[0].startswith("NOT_FOUND: ") and "nobody" in lines[0]
    details = [json.loads(line) for line in lines[1:]]
    assert {d["@type"].rsplit(".", 1)[1] for d in details} == {"ErrorInfo", "ResourceInfo"}
    assert details[0]["reason"] == "RESOURCE_NOT_FOUND"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["wellspring.v1.UserService/Nope"], "unknown method 'Nope'"),
        (["wellspring.v1.NoService/Get"], "unknown service 'wellspring.v1.NoService'"),
        (["wellspring.v1.UserService/GetUser", '{"id": '], "bad request JSON"),
        (["wellspring.v1.UserService/GetUser", '{"idx": "ada"}'], 'no field named "idx"'),
        (["wellspring.v1.UserService/GetUser", '{"id": "a"} {"id": "b"}'], "takes one request message"),
        (["--metadata", "novalue", "list"], "expected KEY=VALUE"),
    ],
)
def test_usage_errors_are_one_line_exit_2(server: ServerProcess, capsys, argv: list[str], says: str) -> None:
    code, out, err = run(capsys, "--addr", server.address, *argv)
    assert (code, out) == (2, "")
    assert len(err.splitlines()) == 1 and err.startswith("rpc.py: ") and says in err, err


def test_no_server_is_one_line_without_traceback(tmp_path: Path) -> None:
    """As a process: what a user sees, exit status included."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "-plaintext", "127.0.0.1:1", "list"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1 and "cannot reach" in result.stderr, result.stderr


async def _wait_tls_serving(address: str, ca_pem: bytes, process: ServerProcess) -> None:
    credentials = grpc.ssl_channel_credentials(ca_pem)
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for _ in range(600):
            assert process.proc is not None and process.proc.poll() is None, process.log_text()[-3000:]
            try:
                await stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                return
            except grpc.aio.AioRpcError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"{address} never answered over TLS")


def test_tls_with_a_ca_file(tmp_path: Path, capsys) -> None:
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    key, chain, ca_file = tmp_path / "key.pem", tmp_path / "chain.pem", tmp_path / "ca.pem"
    issued.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    ca.cert_pem.write_to_path(str(ca_file))
    tls = {"WELLSPRING_TLS_CERT_FILE": str(chain), "WELLSPRING_TLS_KEY_FILE": str(key)}
    with ServerProcess(tmp_path, f"sqlite:///{tmp_path / 'tls.sqlite3'}", name="tls", **tls) as process:
        asyncio.run(_wait_tls_serving(process.address, ca.cert_pem.bytes(), process))
        assert run(capsys, "--addr", process.address, f"--tls={ca_file}", "list")[0] == 0
        assert run(capsys, "-cacert", str(ca_file), process.address, "list")[0] == 0
        code, _, err = run(capsys, "--addr", process.address, "list")  # plaintext to a TLS port
        assert code == 2 and len(err.splitlines()) == 1 and "cannot reach" in err, err


def test_a_token_is_sent_as_a_bearer_header(tmp_path: Path, capsys, monkeypatch) -> None:
    from tests.e2e.tokens import AUTH_ENV, token

    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    with ServerProcess(
        tmp_path, url, args=("--seed-demo",), WELLSPRING_REFLECTION="1", **AUTH_ENV
    ) as process:
        asyncio.run(process.serving())
        method = ("wellspring.v1.UserService/GetUser", '{"id": "ada"}')
        code, _, err = run(capsys, "--addr", process.address, *method)
        assert code == 1 and err.startswith("UNAUTHENTICATED: "), err
        ada = token(sub="ada", scopes="read")
        code, out, err = run(capsys, "--addr", process.address, "--token", ada, *method)
        assert code == 0 and json.loads(out)["email"], err  # ada's own email: shown to ada
        monkeypatch.setenv("WELLSPRING_TOKEN", token(sub="bob", scopes="read"))
        code, out, err = run(capsys, "--addr", process.address, *method)
        assert code == 0 and "email" not in json.loads(out), err  # bob reads ada without it
