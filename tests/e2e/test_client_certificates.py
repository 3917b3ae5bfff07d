"""Service-to-service callers authenticated by a TLS client certificate, against a real server: the second
port (WELLSPRING_MTLS_ADDR) requires a certificate signed by the client CA; a call on it without a token is
its certificate's principal (the subject alternative name) with the scopes configured for certificates;
a connection without a certificate, or with one from another CA, is refused by TLS itself; the token port
still takes tokens and answers TOKEN_MISSING without one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import trustme
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from service.bootstrap import App
from tests.conftest import sqlite_url_for, start_app
from tests.e2e.helpers import details, fails
from tests.e2e.process import free_port
from tests.e2e.tokens import AUDIENCE, ISSUER, SECRET, bearer

NAME_OVERRIDE = [("grpc.ssl_target_name_override", "localhost")]


@dataclass
class Deployment:
    app: App
    mtls: str
    server_ca: trustme.CA
    client_ca: trustme.CA


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    server_ca, client_ca = trustme.CA(), trustme.CA()
    issued = server_ca.issue_cert("localhost")
    key, chain, roots = tmp_path / "key.pem", tmp_path / "chain.pem", tmp_path / "clients.pem"
    issued.private_key_pem.write_to_path(str(key))
    chain.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    client_ca.cert_pem.write_to_path(str(roots))
    mtls = f"127.0.0.1:{free_port()}"
    app = await start_app(
        sqlite_url_for(tmp_path),
        tls_cert_file=str(chain),
        tls_key_file=str(key),
        mtls_addr=mtls,
        tls_client_ca_file=str(roots),
        auth_client_cert_scopes=frozenset({"read", "write"}),
        auth="jwt",
        auth_hs256_secret=SECRET.encode(),
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
    )
    try:
        yield Deployment(app, mtls, server_ca, client_ca)
    finally:
        await app.stop(0)


def channel(d: Deployment, address: str, client: trustme.LeafCert | None = None) -> grpc.aio.Channel:
    pair = {}
    if client is not None:
        pair = {
            "private_key": client.private_key_pem.bytes(),
            "certificate_chain": b"".join(blob.bytes() for blob in client.cert_chain_pems),
        }
    credentials = grpc.ssl_channel_credentials(d.server_ca.cert_pem.bytes(), **pair)
    return grpc.aio.secure_channel(address, credentials, options=NAME_OVERRIDE)


async def test_a_certificates_name_is_its_principal(deployment: Deployment) -> None:
    async with channel(deployment, deployment.mtls, deployment.client_ca.issue_cert("svc-billing")) as ch:
        users = user_service_pb2_grpc.UserServiceStub(ch)
        created = await users.CreateUser(  # no id given: a principal's own user is the one with its id
            api.CreateUserRequest(user=pb.User(email="billing@x.test", display_name="Billing"))
        )
        assert created.id == "svc-billing"
        assert (await users.GetUser(api.GetUserRequest(id="svc-billing"))).email == "billing@x.test"

        async def nothing() -> AsyncIterator[api.ImportUsersRequest]:
            return
            yield api.ImportUsersRequest()

        refused = await fails(users.ImportUsers(nothing()), grpc.StatusCode.PERMISSION_DENIED)
        assert refused["ErrorInfo"][0].reason == "SCOPE_MISSING"  # not among the certificates' scopes
        # A token on this port speaks for its own principal.
        other = await users.GetUser(api.GetUserRequest(id="svc-billing"), metadata=bearer("ada", "read"))
        assert other.email == ""  # ada may not see svc-billing's email


@pytest.mark.parametrize("who", ["no certificate", "another CA"])
async def test_the_certificate_port_refuses_connections_without_a_trusted_certificate(
    deployment: Deployment, who: str
) -> None:
    client = None if who == "no certificate" else trustme.CA().issue_cert("svc-billing")
    async with channel(deployment, deployment.mtls, client) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await user_service_pb2_grpc.UserServiceStub(ch).GetUser(api.GetUserRequest(id="x"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the handshake failed


async def test_the_token_port_takes_tokens_and_no_certificates(deployment: Deployment) -> None:
    async with channel(deployment, deployment.app.address) as ch:
        users = user_service_pb2_grpc.UserServiceStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await users.GetUser(api.GetUserRequest(id="x"), timeout=5)
        assert missing.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert details(missing.value)["ErrorInfo"][0].reason == "TOKEN_MISSING"
        with pytest.raises(grpc.aio.AioRpcError) as found:
            await users.GetUser(api.GetUserRequest(id="x"), metadata=bearer("ada", "read"), timeout=5)
        assert found.value.code() == grpc.StatusCode.NOT_FOUND
