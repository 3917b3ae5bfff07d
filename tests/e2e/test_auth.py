"""Authentication and scopes against a real server process trusting a JWKS file (RS256), on both
backends: every RPC of every collection (and Watch) x every way a token can be wrong (missing, malformed,
expired, not yet valid, bad signature, wrong issuer or audience, unknown kid, missing scope) -> the exact
status and ErrorInfo reason, the matrix generated from the service descriptors and the method table, not
written out by hand; and, generated from the registry, every collection's writes of someone else's
resource -> NOT_OWNER, an admin's -> done. Health stays open; reflection is off when authentication is
on; a non-loopback address needs an auth configuration (or WELLSPRING_AUTH=none, which warns)."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2_grpc

from service.api.bindings import BINDINGS
from service.auth.scopes import BY_VERB, required_scope
from service.bootstrap import SERVICE_NAMES
from service.domain.specs import REGISTRY
from tests.conftest import fresh_pg_database, sqlite_url_for
from tests.e2e.helpers import details
from tests.e2e.process import ROOT, ServerProcess, free_port
from tests.e2e.tokens import OTHER_RSA_KEY, jwks_env, rs_bearer, rs_token

# This module's server trusts a JWKS file (RS256, kid k1), so that key ids can be wrong too.
token, bearer = rs_token, rs_bearer

METHODS: list[MethodDescriptor] = [
    m for name in SERVICE_NAMES for m in descriptor_pool.Default().FindServiceByName(name).methods
]


def scope_of(method: MethodDescriptor) -> str:
    scope = required_scope(f"/{method.containing_service.full_name}/{method.name}", reflection_open=False)
    assert scope in BY_VERB.values(), method.full_name
    return scope


def without(scope: str) -> str:
    """Every ordinary scope but ``scope`` (and never admin)."""
    return " ".join(s for s in sorted(set(BY_VERB.values())) if s != scope)


UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED

# (case, header for a method, expected code, expected reason); None: not an auth failure.
CASES: list[tuple[str, Any, grpc.StatusCode | None, str | None]] = [
    ("no token", lambda m: None, grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MISSING"),
    ("not bearer", lambda m: "Basic YWRhOnB3", grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MALFORMED"),
    ("garbage", lambda m: "Bearer not-a-jwt", grpc.StatusCode.UNAUTHENTICATED, "TOKEN_MALFORMED"),
    (
        "expired",
        lambda m: f"Bearer {token(exp=int(time.time()) - 60)}",
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_EXPIRED",
    ),
    (
        "not yet valid",
        lambda m: f"Bearer {token(nbf=int(time.time()) + 600)}",
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_NOT_YET_VALID",
    ),
    (
        "bad signature",
        lambda m: f"Bearer {token(OTHER_RSA_KEY)}",
        grpc.StatusCode.UNAUTHENTICATED,
        "TOKEN_INVALID",
    ),
    (
        "wrong issuer",
        lambda m: f"Bearer {token(iss='https://evil.test')}",
        grpc.StatusCode.UNAUTHENTICATED,
        "ISSUER_MISMATCH",
    ),
    (
        "wrong audience",
        lambda m: f"Bearer {token(aud='other')}",
        grpc.StatusCode.UNAUTHENTICATED,
        "AUDIENCE_MISMATCH",
    ),
    (
        "missing scope",
        lambda m: f"Bearer {token(scopes=without(scope_of(m)))}",
        grpc.StatusCode.PERMISSION_DENIED,
        "SCOPE_MISSING",
    ),
    ("unknown kid", lambda m: f"Bearer {token(kid='k9')}", grpc.StatusCode.UNAUTHENTICATED, "KEY_UNKNOWN"),
    ("its scope", lambda m: f"Bearer {token(scopes=scope_of(m))}", None, None),
    ("admin", lambda m: f"Bearer {token(scopes='admin')}", None, None),
]


@pytest.fixture(scope="module", params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
async def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    tmp = tmp_path_factory.mktemp("auth")
    async with AsyncExitStack() as stack:
        url = (
            sqlite_url_for(tmp)
            if request.param == "embedded"
            else await stack.enter_async_context(fresh_pg_database())
        )
        with ServerProcess(tmp, url, **jwks_env(tmp / "jwks.json"), WELLSPRING_RATE_LIMIT="off") as process:
            await process.serving()
            yield process.address


async def call(channel: grpc.aio.Channel, method: MethodDescriptor, header: str | None) -> grpc.StatusCode:
    """The method with an empty request (and no request messages for a client stream), ``header`` as
    its authorization; the status it ends with (OK, or the first response of a stream)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = (("authorization", header),) if header is not None else ()
    identity = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}
    try:
        if method.client_streaming:
            await channel.stream_unary(path, **identity)(_nothing(), metadata=metadata, timeout=5)
        elif method.server_streaming:
            stream = channel.unary_stream(path, **identity)(b"", metadata=metadata, timeout=1)
            async for _ in stream:
                break
            stream.cancel()
        else:
            await channel.unary_unary(path, **identity)(b"", metadata=metadata, timeout=5)
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            call.last_reason = details(error)["ErrorInfo"][0].reason  # type: ignore[attr-defined]
        return error.code()
    return grpc.StatusCode.OK


async def _nothing() -> AsyncIterator[bytes]:
    return
    yield b""


@pytest.mark.parametrize("case", [c[0] for c in CASES])
async def test_every_method_answers_each_credential_as_the_table_says(server: str, case: str) -> None:
    _, header_for, code, reason = next(c for c in CASES if c[0] == case)
    wrong: list[str] = []
    async with grpc.aio.insecure_channel(server) as channel:
        for method in METHODS:
            call.last_reason = None  # type: ignore[attr-defined]
            got = await call(channel, method, header_for(method))
            got_reason = call.last_reason  # type: ignore[attr-defined]
            if code is None:
                if got in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
                    wrong.append(f"{method.full_name}: {got.name} {got_reason}")
            elif (got, got_reason) != (code, reason):
                wrong.append(f"{method.full_name}: {got.name} {got_reason}, expected {code.name} {reason}")
    assert len(METHODS) >= 25 and not wrong, wrong


async def test_health_is_open_and_reflection_is_off(server: str) -> None:
    async with grpc.aio.insecure_channel(server) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        # Not registered at all (not merely refused): even an admin token finds no such method, and
        # without one there is no handler to refuse either. No request message is sent: the answer comes
        # at once, and a client still writing one fails its own write (INTERNAL, "Failed execute_batch")
        # when the answer wins the race (CI saw it).
        for header in (None, f"Bearer {token()}"):
            expected = grpc.StatusCode.UNIMPLEMENTED
            metadata = (("authorization", header),) if header else ()
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in stub.ServerReflectionInfo(iter([]), metadata=metadata):
                    break
            assert refused.value.code() == expected, header


def _serve(tmp: Path, **env: str) -> subprocess.Popen[bytes]:
    environ = {k: v for k, v in __import__("os").environ.items() if not k.startswith("WELLSPRING_")}
    environ |= {"WELLSPRING_DATABASE_URL": sqlite_url_for(tmp), "WELLSPRING_SHUTDOWN_DRAIN_S": "0", **env}
    return subprocess.Popen(
        [sys.executable, "-m", "service", "serve"], env=environ, cwd=ROOT, stderr=subprocess.PIPE
    )


def test_a_non_loopback_address_needs_an_auth_configuration(tmp_path: Path) -> None:
    refused = _serve(tmp_path, WELLSPRING_ADDR=f"0.0.0.0:{free_port()}")
    _, err = refused.communicate(timeout=30)
    lines = err.decode().strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, lines
    assert "WELLSPRING_ADDR" in lines[0] and "WELLSPRING_AUTH" in lines[0] and "Traceback" not in lines[0]


async def test_auth_none_is_said_explicitly_and_warned_about(tmp_path: Path) -> None:
    env = {"WELLSPRING_ADDR": f"0.0.0.0:{free_port()}", "WELLSPRING_AUTH": "none"}
    with ServerProcess(tmp_path, sqlite_url_for(tmp_path), **env) as process:
        process.address = "127.0.0.1:" + env["WELLSPRING_ADDR"].rpartition(":")[2]
        await process.serving()
    assert any("authentication is off" in line["message"] for line in process.log_lines())


async def test_only_owners_write_and_admins_write_anything(server: str) -> None:
    """Ownership from each spec's owner field: a user is its own (id = sub), posts and comments are their
    author's; creating as someone else, or touching their resources, is NOT_OWNER; an import reports a
    foreign item by its index and lands the rest; admin may do anything."""
    from wellspring.v1 import post_service_pb2 as posts_api
    from wellspring.v1 import resources_pb2 as pb
    from wellspring.v1 import user_service_pb2 as users_api

    from tests.e2e.helpers import fails, stubs

    me, other = f"me{secrets.token_hex(3)}", f"other{secrets.token_hex(3)}"
    async with grpc.aio.insecure_channel(server) as channel:
        s = stubs(channel)
        users, posts = s["users"], s["posts"]

        def user(uid: str) -> pb.User:
            return pb.User(id=uid, email=f"{uid}@example.com", display_name=uid)

        created = await users.CreateUser(users_api.CreateUserRequest(user=user(me)), metadata=bearer(me))
        assert created.id == me
        refused = await fails(
            users.CreateUser(users_api.CreateUserRequest(user=user(other)), metadata=bearer(me)),
            grpc.StatusCode.PERMISSION_DENIED,
        )
        assert refused["ErrorInfo"][0].reason == "NOT_OWNER"
        admin = bearer("root", "admin")
        await users.CreateUser(users_api.CreateUserRequest(user=user(other)), metadata=admin)

        mine = await posts.CreatePost(
            posts_api.CreatePostRequest(post=pb.Post(author_id=me, title="Mine")), metadata=bearer(me)
        )
        theirs = await posts.CreatePost(
            posts_api.CreatePostRequest(post=pb.Post(author_id=other, title="Theirs")), metadata=bearer(other)
        )
        for attempt in (
            posts.CreatePost(
                posts_api.CreatePostRequest(post=pb.Post(author_id=other, title="Forged")),
                metadata=bearer(me),
            ),
            posts.UpdatePost(
                posts_api.UpdatePostRequest(post=pb.Post(id=theirs.id, title="Taken")), metadata=bearer(me)
            ),
            posts.UpdatePost(  # giving my post away is writing theirs
                posts_api.UpdatePostRequest(post=pb.Post(id=mine.id, author_id=other)), metadata=bearer(me)
            ),
            posts.DeletePost(posts_api.DeletePostRequest(id=theirs.id), metadata=bearer(me)),
            users.DeleteUser(users_api.DeleteUserRequest(id=other, force=True), metadata=bearer(me)),
        ):
            found = await fails(attempt, grpc.StatusCode.PERMISSION_DENIED)
            assert found["ErrorInfo"][0].reason == "NOT_OWNER"

        edited = await posts.UpdatePost(
            posts_api.UpdatePostRequest(post=pb.Post(id=mine.id, title="Mine, edited")), metadata=bearer(me)
        )
        assert edited.title == "Mine, edited"

        async def items() -> AsyncIterator[posts_api.ImportPostsRequest]:
            yield posts_api.ImportPostsRequest(
                posts=[
                    pb.Post(id=f"{me}-i0", author_id=me, title="ok"),
                    pb.Post(id=f"{me}-i1", author_id=other, title="forged"),
                    pb.Post(id=theirs.id, author_id=me, title="stolen"),
                    pb.Post(id=f"{me}-i3", author_id=me, title="ok too"),
                ]
            )

        reply = await posts.ImportPosts(items(), metadata=bearer(me))
        assert (reply.created_count, reply.failed_count) == (2, 2), reply
        assert [(e.index, e.code) for e in reply.errors] == [(1, 7), (2, 7)]  # 7: PERMISSION_DENIED
        still = await posts.GetPost(posts_api.GetPostRequest(id=theirs.id), metadata=bearer(me))
        assert still.title == "Theirs" and still.author_id == other

        await posts.DeletePost(posts_api.DeletePostRequest(id=theirs.id), metadata=admin)
        await users.DeleteUser(users_api.DeleteUserRequest(id=me, force=True), metadata=bearer(me))


class _As(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Every unary call of a channel made as one principal (the helpers' stubs send no metadata)."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        details = details._replace(metadata=self._metadata)
        return await continuation(details, request)


@pytest.mark.parametrize("collection", [spec.collection for spec in REGISTRY])
async def test_nobody_writes_what_another_owns_in_any_collection(server: str, collection: str) -> None:
    """Generated from the registry: a resource of each collection owned by someone else (by its spec's
    owner field) cannot be created as them, updated, deleted or imported over by a principal with every
    scope but admin — NOT_OWNER each time, per item in an Import — and an admin may."""
    from tests.e2e.helpers import (
        changeable,
        create_request,
        create_with_parents,
        delete_request,
        fails,
        resource_message,
        stubs,
        update_request,
        valid_fields,
    )

    spec, binding = REGISTRY[collection], BINDINGS[collection]
    tag = secrets.token_hex(3)
    me, other = f"me-{tag}", f"other-{tag}"
    admin = bearer("root", "admin")
    mine = bearer(me, "read write import")
    async with (
        grpc.aio.insecure_channel(server, interceptors=[_As(admin)]) as as_admin,
        grpc.aio.insecure_channel(server) as plain,
    ):
        a, s = stubs(as_admin), stubs(plain)[collection]
        for uid in (me, other):
            user = valid_fields(REGISTRY["users"], {}, uid)
            await a["users"].CreateUser(create_request("users", user, chosen_id=uid))
        if collection == "users":
            theirs = other
        else:
            theirs = (await create_with_parents(a, collection, tag, {"users": other}))[collection]
        parents = {"users": other}
        for ref in spec.references:
            if ref.collection != "users":
                parents[ref.collection] = (await create_with_parents(a, ref.collection, tag, {"users": me}))[
                    ref.collection
                ]
        fields = valid_fields(spec, parents, f"new-{tag}")
        field = changeable(spec)
        attempts = {
            "create as them": getattr(s, binding.method("Create"))(
                create_request(collection, fields, chosen_id=other if collection == "users" else ""),
                metadata=mine,
            ),
            "update theirs": getattr(s, binding.method("Update"))(
                update_request(collection, theirs, {field: f"taken-{tag}"}, (field,)), metadata=mine
            ),
            "delete theirs": getattr(s, binding.method("Delete"))(
                delete_request(collection, theirs, force=True), metadata=mine
            ),
        }
        for what, attempt in attempts.items():
            found = await fails(attempt, grpc.StatusCode.PERMISSION_DENIED)
            assert found["ErrorInfo"][0].reason == "NOT_OWNER", what

        async def foreign() -> AsyncIterator[Any]:
            item = resource_message(
                collection, fields, item_id=theirs if collection == "users" else f"i-{tag}"
            )
            yield binding.request("Import")(**{spec.collection: [item]})

        reply = await getattr(s, binding.method("Import"))(foreign(), metadata=mine)
        assert [(e.index, e.code) for e in reply.errors] == [(0, 7)], reply  # 7: PERMISSION_DENIED
        updated = await getattr(s, binding.method("Update"))(
            update_request(collection, theirs, {field: f"admin-{tag}"}, (field,)), metadata=admin
        )
        assert getattr(updated, field) == f"admin-{tag}"
