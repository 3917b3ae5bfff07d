"""OpenTelemetry traces, read through the SDK's in-memory exporter in the server and in the Python SDK (and
in the browser): a cache miss is one chain client -> server -> database, a hit has no database span, the
cache's answer is an attribute of the call's span, the access log names the call's trace, statements
outside any call (the feed's tailer, the metrics loop) make no traces of their own, a Watch delivery
links to the write that caused it, and the W3C traceparent crosses the real Envoy — from the Python SDK,
from a grpc-web call, and from the demo app in Chromium, so one trace runs browser -> Envoy -> server ->
database."""

from __future__ import annotations

import asyncio
import http.client
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc, watch_service_pb2_grpc
from wellspring.v1 import watch_service_pb2 as watch_pb

from bench.tracing import collector
from harness.envoy import EnvoyProcess
from harness.web import CHROMIUM, CHROMIUM_FLAGS, serve_static
from service.bootstrap import App
from service.observability.tracing import Tracing
from tests.conftest import RedisProcess, fresh_pg_database, sqlite_url_for, start_app
from tests.e2e.process import ServerProcess
from tests.web import built_app
from wellspring_client import WellspringClient
from wellspring_client.types import User


def in_memory() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@asynccontextmanager
async def traced_app(
    request: pytest.FixtureRequest, tmp_path: Path, **settings: object
) -> AsyncIterator[tuple[App, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    tracing = Tracing(SimpleSpanProcessor(exporter), service_name="wellspring-test")
    if request.param == "sqlite":
        app = await start_app(sqlite_url_for(tmp_path), tracing=tracing, **settings)
        try:
            yield app, exporter
        finally:
            await app.stop(0)
        return
    redis = RedisProcess(tmp_path)
    redis.start()
    try:
        async with fresh_pg_database() as url:
            app = await start_app(
                url,
                tracing=tracing,
                redis_url=redis.url,
                cache_prefix=f"t{secrets.token_hex(4)}:",
                **settings,
            )
            try:
                yield app, exporter
            finally:
                await app.stop(0)
    finally:
        redis.kill()


BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres+redis", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> pytest.FixtureRequest:
    return request


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def server_span(spans: list[ReadableSpan], method: str) -> ReadableSpan:
    (found,) = [s for s in spans if s.kind == SpanKind.SERVER and s.name.endswith(f"/{method}")]
    return found


async def ended(exporter: InMemorySpanExporter, method: str) -> tuple[ReadableSpan, list[ReadableSpan]]:
    """The SERVER span of ``method`` and every span finished by then. A server span ends once grpc is done
    with the call (its done callback), which may come just after the client has its answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        spans = list(exporter.get_finished_spans())
        if any(s.kind == SpanKind.SERVER and s.name.endswith(f"/{method}") for s in spans):
            return server_span(spans, method), spans
        assert loop.time() < deadline, f"the SERVER span of {method} never ended"
        await asyncio.sleep(0.01)


@BACKENDS
async def test_a_miss_runs_client_server_database_and_a_hit_has_no_database_span(
    backend: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client_provider, client_spans = in_memory()
    async with traced_app(backend, tmp_path) as (app, server_spans):
        async with WellspringClient(app.address, tracing=True, tracer_provider=client_provider) as writer:
            user = await writer.users.create(User(email="ada@x.test", display_name="Ada"))
        server_spans.clear()
        client_spans.clear()
        for expect_hit in (False, True):  # the write left a tombstone: the first read loads, the next hits
            async with WellspringClient(app.address, tracing=True, tracer_provider=client_provider) as reader:
                assert (await reader.users.get(user.id)).email == "ada@x.test"
            (client,) = client_spans.get_finished_spans()
            assert client.kind == SpanKind.CLIENT and client.name == "/wellspring.v1.UserService/GetUser"
            server, spans = await ended(server_spans, "GetUser")
            # the SDK's traceparent made the server's span its child, in the same trace
            assert server.context.trace_id == client.context.trace_id
            assert server.parent is not None and server.parent.span_id == client.context.span_id
            assert server.attributes["wellspring.cache.hit"] is expect_hit
            assert server.attributes["rpc.grpc.status_code"] == 0
            below = children(spans, server)
            statements = [s for s in below if s.attributes.get("db.system") in ("sqlite", "postgresql")]
            if app.settings.redis_url:  # the read of the slot: an MGET by the inline reader, by hand
                (read,) = [s for s in below if s.name == "MGET"]
                assert read.attributes["db.system"] == "redis" and read.attributes["db.statement"] == "MGET ?"
            if expect_hit:
                assert statements == []
            else:
                assert statements and all(s.kind == SpanKind.CLIENT for s in statements)
                assert any("SELECT" in str(s.attributes.get("db.statement")) for s in statements)
                if app.settings.redis_url:  # the fill: a Lua compare-and-set, its arguments hidden
                    fills = [s for s in below if s.attributes.get("db.system") == "redis"]
                    assert fills and all("ada@" not in str(s.attributes) for s in fills)
            server_spans.clear()
            client_spans.clear()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_statements_outside_a_call_make_no_trace_and_a_write_traces_its_statements(
    backend: pytest.FixtureRequest, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "wellspring.access")
    async with traced_app(backend, tmp_path, metrics_addr="127.0.0.1:0", access_log=True) as (
        app,
        server_spans,
    ):
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            caller = "00-" + secrets.token_hex(16) + "-" + secrets.token_hex(8) + "-01"
            await users.CreateUser(
                api.CreateUserRequest(user={"email": "bo@x.test", "display_name": "Bo"}),
                metadata=(("traceparent", caller),),
            )

            async def chunk():  # type: ignore[no-untyped-def]
                yield api.ImportUsersRequest(
                    users=[{"id": f"i{n}", "email": f"i{n}@x.test", "display_name": "I"} for n in range(50)]
                )

            await users.ImportUsers(chunk())  # a bulk write: its statements run on the writer's thread
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await users.GetUser(api.GetUserRequest(id="nobody"))
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
            await ended(server_spans, "GetUser")
            # The feed's tailer reads the write and the metrics loop has read its figures: neither is a
            # call, so their statements are no trace of their own.
            deadline = asyncio.get_running_loop().time() + 10
            while app.feed.head < 1 or not (app.metrics and app.metrics.database_state):
                assert asyncio.get_running_loop().time() < deadline, (
                    "the tailer or the metrics loop never ran"
                )
                await asyncio.sleep(0.01)
        spans = list(server_spans.get_finished_spans())
        roots = sorted(s.name for s in spans if s.parent is None or s.parent.is_remote)
        assert roots == [
            "/wellspring.v1.UserService/CreateUser",
            "/wellspring.v1.UserService/GetUser",
            "/wellspring.v1.UserService/ImportUsers",
        ]
        # The code a call ended with; NOT_FOUND is the caller's affair, so the span is no error (the
        # library's rule: only server-side codes such as UNAVAILABLE or INTERNAL are)
        not_found = server_span(spans, "GetUser")
        assert not_found.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
        assert not_found.status.status_code == StatusCode.UNSET
        assert server_span(spans, "CreateUser").attributes["rpc.grpc.status_code"] == 0
        server = server_span(spans, "CreateUser")
        assert format(server.context.trace_id, "032x") == caller.split("-")[1]
        assert server.parent is not None and format(server.parent.span_id, "016x") == caller.split("-")[2]
        for call in (server, server_span(spans, "ImportUsers")):
            statements = children(spans, call)
            assert any(str(s.attributes.get("db.statement", "")).startswith("INSERT") for s in statements)

        # The access log names each call's trace and span.
        lines = [r.fields for r in caplog.records if r.name == "wellspring.access"]  # type: ignore[attr-defined]
        (logged,) = [f for f in lines if f["method"].endswith("/CreateUser")]
        assert (logged["trace_id"], logged["span_id"]) == (
            format(server.context.trace_id, "032x"),
            format(server.context.span_id, "016x"),
        )


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_watch_delivery_links_to_the_write_that_caused_it(
    backend: pytest.FixtureRequest, tmp_path: Path
) -> None:
    async with traced_app(backend, tmp_path) as (app, server_spans):
        async with grpc.aio.insecure_channel(app.address) as channel:
            users = user_service_pb2_grpc.UserServiceStub(channel)
            watch = watch_service_pb2_grpc.WatchServiceStub(channel).Watch(watch_pb.WatchRequest())
            first = await watch.read()  # the progress message: the subscription is live
            assert not first.events
            writer = "00-" + secrets.token_hex(16) + "-" + secrets.token_hex(8) + "-01"
            await users.CreateUser(
                api.CreateUserRequest(user={"email": "cy@x.test", "display_name": "Cy"}),
                metadata=(("traceparent", writer),),
            )
            delivered = await watch.read()
            assert len(delivered.events) == 1
            watch.cancel()
    # The server stopped: every span it started has ended (the delivery's ends once the server's write
    # returns, which the client's read may precede).
    spans = list(server_spans.get_finished_spans())
    (delivery,) = [s for s in spans if s.name == "wellspring.v1.WatchService/Watch deliver"]
    write = server_span(spans, "CreateUser")
    assert [link.context.span_id for link in delivery.links] == [write.context.span_id]
    assert [format(link.context.trace_id, "032x") for link in delivery.links] == [writer.split("-")[1]]
    assert delivery.attributes["wellspring.watch.events"] == 1
    # the delivery is a child of the Watch call's own span (a trace of its own, not the write's)
    stream = server_span(spans, "Watch")
    assert delivery.parent is not None and delivery.parent.span_id == stream.context.span_id
    assert stream.context.trace_id != write.context.trace_id


@asynccontextmanager
async def behind_envoy(app: App, tmp_path: Path, origins: list[str]) -> AsyncIterator[EnvoyProcess]:
    """The real Envoy in front of the in-process server; started on a thread (it waits for its health
    checks, which this loop answers)."""
    envoy = EnvoyProcess(tmp_path, [app.address], origins=origins)
    await asyncio.to_thread(envoy.start)
    try:
        yield envoy
    finally:
        await asyncio.to_thread(envoy.stop)


def _grpc_web_get(port: int, user_id: str, traceparent: str) -> int:
    """A grpc-web GetUser over HTTP/1.1 as a browser sends it, with its traceparent: the HTTP status."""
    message = api.GetUserRequest(id=user_id).SerializeToString()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"content-type": "application/grpc-web+proto", "x-grpc-web": "1", "traceparent": traceparent}
    connection.request(
        "POST",
        "/wellspring.v1.UserService/GetUser",
        b"\0" + len(message).to_bytes(4, "big") + message,
        headers,
    )
    status = connection.getresponse().status
    connection.close()
    return status


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_traceparent_crosses_the_real_envoy_for_grpc_web_and_native_grpc(
    backend: pytest.FixtureRequest, tmp_path: Path
) -> None:
    client_provider, client_spans = in_memory()
    async with traced_app(backend, tmp_path) as (app, server_spans), behind_envoy(app, tmp_path, []) as envoy:
        # native gRPC through Envoy's listener: the SDK's CLIENT span is the server span's parent
        async with WellspringClient(envoy.address, tracing=True, tracer_provider=client_provider) as sdk:
            user = await sdk.users.create(User(email="di@x.test", display_name="Di"))
        (client,) = client_spans.get_finished_spans()
        created, _ = await ended(server_spans, "CreateUser")
        assert created.parent is not None and created.parent.span_id == client.context.span_id
        assert created.context.trace_id == client.context.trace_id
        # grpc-web, as a browser speaks it
        browser = "00-" + secrets.token_hex(16) + "-" + secrets.token_hex(8) + "-01"
        assert await asyncio.to_thread(_grpc_web_get, envoy.port, user.id, browser) == 200
        got, _ = await ended(server_spans, "GetUser")
        assert format(got.context.trace_id, "032x") == browser.split("-")[1]
        assert got.parent is not None and format(got.parent.span_id, "016x") == browser.split("-")[2]


HAVE_CHROMIUM = Path(CHROMIUM).exists()
SPANS_JS = """() => window.wellspringSpans.getFinishedSpans().map((s) => ({
  name: s.name, traceId: s.spanContext().traceId, spanId: s.spanContext().spanId }))"""


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_one_trace_runs_from_the_browser_through_envoy_to_the_database(
    backend: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The demo app in Chromium with an OpenTelemetry SDK in the page (``?trace``): its ListUsers call's
    CLIENT span is the parent of the server's span, whose children are the statements."""
    from playwright.async_api import async_playwright

    if not HAVE_CHROMIUM:
        pytest.fail("chromium not found: install the Debian package chromium")
    httpd = serve_static(built_app())
    origin = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        async with (
            traced_app(backend, tmp_path) as (app, server_spans),
            behind_envoy(app, tmp_path, [origin]) as envoy,
            async_playwright() as playwright,
        ):
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{origin}/?api={envoy.url}&trace=1")
                await page.wait_for_selector('[data-testid="status"]:text("live")', timeout=15_000)
                deadline = asyncio.get_running_loop().time() + 15
                while not [s for s in await page.evaluate(SPANS_JS) if s["name"].endswith("/ListUsers")]:
                    assert asyncio.get_running_loop().time() < deadline, "the page made no traced ListUsers"
                    await asyncio.sleep(0.05)
                browser_spans = await page.evaluate(SPANS_JS)
            finally:
                await browser.close()
    finally:
        httpd.shutdown()
    listed = next(s for s in browser_spans if s["name"] == "wellspring.v1.UserService/ListUsers")
    spans = list(server_spans.get_finished_spans())
    server = next(
        s
        for s in spans
        if s.kind == SpanKind.SERVER and format(s.context.trace_id, "032x") == listed["traceId"]
    )
    assert server.name == "/wellspring.v1.UserService/ListUsers"
    assert server.parent is not None and format(server.parent.span_id, "016x") == listed["spanId"]
    assert any(s.attributes.get("db.system") == "sqlite" for s in children(spans, server))


def test_a_server_process_configured_by_otel_variables_exports_to_an_otlp_collector(tmp_path: Path) -> None:
    """``OTEL_TRACES_EXPORTER=otlp`` and the SDK's own variables, nothing else: a real server process sends
    its spans to a real OTLP/gRPC receiver (bench/otlp_sink.py), the last batch flushed on SIGTERM."""
    with collector() as (port, received):
        otel = {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "60000",  # nothing leaves before the stop: the flush sends it all
        }
        with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **otel) as server:
            server.wait_serving()
            with grpc.insecure_channel(server.address) as channel:
                users = user_service_pb2_grpc.UserServiceStub(channel)
                created = users.CreateUser(
                    api.CreateUserRequest(user={"email": "ed@x.test", "display_name": "Ed"}), timeout=10
                )
                for _ in range(5):
                    users.GetUser(api.GetUserRequest(id=created.id), timeout=10)
            assert server.stop(30) == 0
    assert received.get("/wellspring.v1.UserService/GetUser") == 5
    assert received.get("/wellspring.v1.UserService/CreateUser") == 1
    assert not any(name.startswith("/grpc.health") for name in received)  # probes are left out
