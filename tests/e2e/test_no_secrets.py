"""No token and no email reaches a log line, a metric or a span, under a fuzzed workload against a real
server process with authentication, the access log, the metrics and tracing on: valid and garbage bearer
tokens, users created, read, searched, updated (also with invalid emails, refused) and deleted; then the
server's whole output (its spans included) and a scrape of its metrics endpoint are searched for every
token and email the workload sent."""

from __future__ import annotations

import secrets
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from harness import free_port
from tests.conftest import sqlite_url_for
from tests.e2e.process import ServerProcess
from tests.e2e.tokens import AUTH_ENV, token

SENT: dict[str, set[str]] = {"tokens": set(), "emails": set()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, int]]:
    tmp: Path = tmp_path_factory.mktemp("secrets")
    port = free_port()
    env = {
        **AUTH_ENV,
        "WELLSPRING_ACCESS_LOG": "1",
        "WELLSPRING_METRICS_ADDR": f"127.0.0.1:{port}",
        # traces too, written to the server's output (the console exporter), every 100 ms
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with ServerProcess(tmp, sqlite_url_for(tmp), **env) as process:
        process.wait_serving()
        yield process, port


local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.", min_size=1, max_size=12).filter(
    lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    local=local,
    name=st.text(min_size=1, max_size=20).filter(lambda s: s.strip() and s.isprintable()),
    garbage=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=8, max_size=60),
    scopes=st.sampled_from(["read", "read write", "admin", "write"]),
)
def test_a_fuzzed_workload(
    server: tuple[ServerProcess, int], local: str, name: str, garbage: str, scopes: str
) -> None:
    process, _ = server
    marker = secrets.token_hex(4)
    email = f"{local}.{marker}@secret-{marker}.example"
    subject = f"user-{marker}"
    valid = token(sub=subject, scopes=scopes)
    bad = f"{garbage}{marker}"
    SENT["tokens"].update({valid, bad})
    SENT["emails"].add(email)
    with grpc.insecure_channel(process.address) as channel:
        users = user_service_pb2_grpc.UserServiceStub(channel)
        for bearer in (valid, bad):
            metadata = (("authorization", f"Bearer {bearer}"),)
            update = api.UpdateUserRequest(user=pb.User(id=subject, email=f"not an email {email}"))
            update.update_mask.paths.append("email")  # refused: an invalid email
            calls = [
                (
                    users.CreateUser,
                    api.CreateUserRequest(user=pb.User(id=subject, email=email, display_name=name)),
                ),
                (users.GetUser, api.GetUserRequest(id=subject)),
                (users.ListUsers, api.ListUsersRequest(query=email[:6])),
                (users.UpdateUser, update),
                (users.DeleteUser, api.DeleteUserRequest(id=subject)),
            ]
            for method, request in calls:
                try:
                    method(request, metadata=metadata, timeout=10)
                except grpc.RpcError as error:
                    assert error.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), error


def test_nothing_the_workload_sent_is_in_a_log_line_or_a_metric(server: tuple[ServerProcess, int]) -> None:
    process, port = server
    assert len(SENT["tokens"]) >= 40 and len(SENT["emails"]) >= 20, "the workload above did not run"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        scraped = response.read().decode()
    deadline = time.monotonic() + 10
    while '"name": "/wellspring.v1.UserService/' not in (output := process.log_text()):
        assert time.monotonic() < deadline, "no span was exported"
        time.sleep(0.05)
    assert '"message": "rpc"' in output and "grpc_server_handled_total" in scraped  # both were on
    for secret in sorted(SENT["tokens"]):
        payload = secret.split(".")[1] if secret.count(".") == 2 else secret
        assert secret not in output and payload not in output, "a token is in the server's output"
        assert secret not in scraped and payload not in scraped, "a token is in the metrics"
    for email in sorted(SENT["emails"]):
        assert email not in output and email not in scraped, f"{email} was logged or exported"
