"""The access log (WELLSPRING_ACCESS_LOG=1) records the status each client received, against a real server
process: calls that end by the client's doing (cancelled, deadline exceeded), refusals, unknown methods."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc as rpc

from tests.conftest import sqlite_url_for
from tests.e2e.process import ServerProcess

IMPORT = "/wellspring.v1.UserService/ImportUsers"
EXPORT = "/wellspring.v1.UserService/ExportUsers"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    tmp = tmp_path_factory.mktemp("access")
    env = {"WELLSPRING_ACCESS_LOG": "1", "WELLSPRING_MAX_CONCURRENT_RPCS": "2"}
    with ServerProcess(tmp, sqlite_url_for(tmp), **env) as process:
        yield process


def _rejected_item() -> api.ImportUsersRequest:
    """An item the Import rejects (no id): nothing to commit, so the call answers at once."""
    return api.ImportUsersRequest(users=[pb.User(email=f"{secrets.token_hex(4)}@x.io", display_name="x")])


async def _new_lines(
    server: ServerProcess, method: str, seen: int, count: int = 1, timeout_s: float = 10
) -> list[dict[str, Any]]:
    """The ``count`` access-log lines for ``method`` after the first ``seen`` (polled until written)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [
            x for x in server.log_lines() if x["logger"] == "wellspring.access" and x["method"] == method
        ]
        if len(lines) >= seen + count:
            assert len(lines) == seen + count, lines[seen:]  # one line per call
            return lines[seen:]
        assert time.monotonic() < deadline, f"no access-log line for {method}"
        await asyncio.sleep(0.02)


async def _next_line(server: ServerProcess, method: str, seen: int) -> dict[str, Any]:
    return (await _new_lines(server, method, seen))[0]


def _count(server: ServerProcess, method: str) -> int:
    return sum(1 for x in server.log_lines() if x["logger"] == "wellspring.access" and x["method"] == method)


async def test_an_import_past_its_deadline_is_logged_deadline_exceeded(server: ServerProcess) -> None:
    await server.serving()
    seen = _count(server, IMPORT)

    async def then_silence() -> AsyncIterator[api.ImportUsersRequest]:
        yield _rejected_item()
        await asyncio.Event().wait()  # the client sends nothing more; its deadline ends the call

    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await rpc.UserServiceStub(channel).ImportUsers(then_silence(), timeout=0.5)
    assert failed.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert (await _next_line(server, IMPORT, seen))["status"] == "DEADLINE_EXCEEDED"


async def test_an_import_its_client_cancelled_is_logged_cancelled(server: ServerProcess) -> None:
    await server.serving()
    seen = _count(server, IMPORT)
    sent = asyncio.Event()

    async def then_cancel() -> AsyncIterator[api.ImportUsersRequest]:
        yield _rejected_item()
        sent.set()
        await asyncio.Event().wait()

    async with grpc.aio.insecure_channel(server.address) as channel:
        call = rpc.UserServiceStub(channel).ImportUsers(then_cancel())
        await sent.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    assert await call.code() == grpc.StatusCode.CANCELLED
    assert (await _next_line(server, IMPORT, seen))["status"] == "CANCELLED"


def _import_whose_items_fail(address: str) -> grpc.StatusCode:
    """grpc's sync client, whose request iterator raises: it cancels the call (and reports UNKNOWN
    "Exception iterating requests!" locally). This Import used to be logged OK."""

    def items() -> Iterator[api.ImportUsersRequest]:
        yield _rejected_item()
        raise RuntimeError("the client's item source failed")

    with grpc.insecure_channel(address) as channel:
        try:
            rpc.UserServiceStub(channel).ImportUsers(items(), timeout=10)
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return, attr-defined]
    return grpc.StatusCode.OK


async def test_an_import_whose_item_stream_fails_is_not_logged_ok(server: ServerProcess) -> None:
    await server.serving()
    seen = _count(server, IMPORT)
    assert await asyncio.to_thread(_import_whose_items_fail, server.address) == grpc.StatusCode.UNKNOWN
    # The server received a cancellation, not the client's local reason: it logs what it knows.
    assert (await _next_line(server, IMPORT, seen))["status"] == "CANCELLED"


async def test_an_unknown_method_is_logged_unimplemented(server: ServerProcess) -> None:
    await server.serving()
    method = f"/wellspring.v1.UserService/NoSuch{secrets.token_hex(3)}"
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await channel.unary_unary(method)(b"", timeout=5)
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert (await _next_line(server, method, 0))["status"] == "UNIMPLEMENTED"


async def test_an_unknown_method_with_a_10_kb_path_is_logged_cut(server: ServerProcess) -> None:
    await server.serving()
    start = f"/wellspring.v1.UserService/NoSuch{secrets.token_hex(3)}"
    method = start + "x" * (10_000 - len(start))
    async with grpc.aio.insecure_channel(server.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await channel.unary_unary(method)(b"", timeout=5)
    assert failed.value.code() == grpc.StatusCode.UNIMPLEMENTED
    deadline = time.monotonic() + 10
    while not (lines := [x for x in server.log_lines() if x.get("method", "").startswith(start)]):
        assert time.monotonic() < deadline, "no access-log line for the unknown method"
        await asyncio.sleep(0.02)
    assert [x["method"] for x in lines] == [method[:200] + "...[10000 chars]"]
    assert lines[0]["status"] == "UNIMPLEMENTED"


async def _export_status(users: rpc.UserServiceStub) -> grpc.StatusCode:
    try:
        async for _ in users.ExportUsers(api.ExportUsersRequest(query="nobody"), timeout=5):
            pass
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def _import_status(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code()
    return grpc.StatusCode.OK


async def test_refused_calls_are_logged_as_their_clients_saw_them(server: ServerProcess) -> None:
    await server.serving()
    seen_import, seen_export = _count(server, IMPORT), _count(server, EXPORT)
    release = threading.Event()

    async def hold() -> AsyncIterator[api.ImportUsersRequest]:
        yield _rejected_item()
        await asyncio.to_thread(release.wait, 10)

    async with grpc.aio.insecure_channel(server.address) as channel:
        users = rpc.UserServiceStub(channel)
        # Two open Imports fill the two slots (WELLSPRING_MAX_CONCURRENT_RPCS=2), so Exports are refused;
        # an Export may also slip in before the second Import, which is then refused instead.
        held = [users.ImportUsers(hold()), users.ImportUsers(hold())]
        exports: list[grpc.StatusCode] = []
        deadline = time.monotonic() + 10
        while grpc.StatusCode.RESOURCE_EXHAUSTED not in exports and not any(c.done() for c in held):
            assert time.monotonic() < deadline, exports
            exports.append(await _export_status(users))
        release.set()
        imports = [await _import_status(call) for call in held]
    assert grpc.StatusCode.RESOURCE_EXHAUSTED in exports + imports
    export_lines = await _new_lines(server, EXPORT, seen_export, len(exports))
    assert [x["status"] for x in export_lines] == [code.name for code in exports]
    import_lines = await _new_lines(server, IMPORT, seen_import, 2)
    assert sorted(x["status"] for x in import_lines) == sorted(code.name for code in imports)
    refusals = [x for x in export_lines + import_lines if x["status"] == "RESOURCE_EXHAUSTED"]
    assert {x["reason"] for x in refusals} == {"TOO_MANY_CONCURRENT_RPCS"}


async def test_an_export_cancelled_mid_stream_is_logged_cancelled(server: ServerProcess) -> None:
    await server.serving()
    prefix = secrets.token_hex(4)
    async with grpc.aio.insecure_channel(server.address) as channel:
        users = rpc.UserServiceStub(channel)
        items = [
            pb.User(id=f"{prefix}-{n}", email=f"{prefix}-{n}@x.io", display_name="x", bio="b" * 2000)
            for n in range(2000)
        ]
        await users.ImportUsers(
            iter([api.ImportUsersRequest(users=items[i : i + 500]) for i in range(0, 2000, 500)])
        )
        seen = _count(server, EXPORT)
        call = users.ExportUsers(api.ExportUsersRequest(query=prefix))
        await call.read()  # the first message: the stream is under way
        call.cancel()
    assert (await _next_line(server, EXPORT, seen))["status"] == "CANCELLED"


async def _answer_before_the_settings_ack(
    address: str, method: str, metadata: list[tuple[str, str]]
) -> dict[str, str]:
    """One call on a new connection, sent before it acknowledged the server's SETTINGS: its answer."""
    from tests.e2e.test_connection_limits import RawConnection, until

    async with RawConnection.open(address) as conn:
        stream = conn.call(method, api.GetUserRequest(id="nobody").SerializeToString(), metadata)
        await until(lambda: "grpc-status" in conn.answers.get(stream, {}), 10, "unanswered")
        return conn.answers[stream]


async def test_a_refusal_for_oversized_metadata_is_logged(server: ServerProcess) -> None:
    """Headers sent before the SETTINGS ack are refused by MetadataLimit (service/api/limits.py), which
    answers in place of the interceptor that logs the other calls."""
    from tests.e2e.test_connection_limits import GET_USER

    await server.serving()
    seen = _count(server, GET_USER)
    padding = [(f"x-pad-{i}", "a" * 1000) for i in range(1000)]
    answer = await _answer_before_the_settings_ack(server.address, GET_USER, padding)
    assert answer["grpc-status"] == str(grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]), answer
    # Logged whether or not the answer kept its message and details: a few percent arrive without them
    # (status 8 alone), and these too were MetadataLimit's refusals, each with its line.
    line = await _next_line(server, GET_USER, seen)
    assert (line["status"], line["reason"]) == ("RESOURCE_EXHAUSTED", "METADATA_TOO_LARGE")


async def test_a_line_carries_the_message_sizes_and_the_principal_never_the_token_or_email(
    tmp_path: Any,
) -> None:
    """With authentication on: the principal (the token's subject) and the request's and response's
    bytes are logged; the token and the email sent are nowhere in the log."""
    from tests.e2e.tokens import AUTH_ENV, bearer

    env = {**AUTH_ENV, "WELLSPRING_ACCESS_LOG": "1"}
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as process:
        process.wait_serving()
        metadata = bearer("ada-subject", "read write")
        email = f"{secrets.token_hex(6)}@secret.example"
        request = api.CreateUserRequest(user=pb.User(id="ada-subject", email=email, display_name="Ada"))
        async with grpc.aio.insecure_channel(process.address) as channel:
            users = rpc.UserServiceStub(channel)
            created = await users.CreateUser(request, metadata=metadata)
            got = await users.GetUser(api.GetUserRequest(id=created.id), metadata=metadata)
            exported = [
                m async for m in users.ExportUsers(api.ExportUsersRequest(), metadata=bearer("root", "admin"))
            ]
        create = await _next_line(process, "/wellspring.v1.UserService/CreateUser", 0)
        assert create["principal"] == "ada-subject"
        assert (
            create["request_bytes"] == request.ByteSize() and create["response_bytes"] == created.ByteSize()
        )
        get = await _next_line(process, "/wellspring.v1.UserService/GetUser", 0)
        assert get["response_bytes"] == got.ByteSize() > 0
        export = await _next_line(process, EXPORT, 0)
        assert export["principal"] == "root"
        assert export["response_bytes"] == sum(m.ByteSize() for m in exported)
        log = process.log_text()
        token = metadata[0][1].removeprefix("Bearer ")
        assert token not in log and token.split(".")[1] not in log and email not in log
