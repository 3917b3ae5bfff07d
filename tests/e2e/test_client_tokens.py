"""The SDK's token or token provider against a real server with authentication on, async and sync: a
provider's token is renewed before it expires while calls go on, a call refused UNAUTHENTICATED is sent
again once with a renewed token, and a fixed token that stops verifying surfaces as Unauthenticated."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.conftest import sqlite_url_for
from tests.e2e.process import ServerProcess
from tests.e2e.tokens import AUTH_ENV, token
from wellspring_client import NotFound, SyncWellspringClient, Unauthenticated, User, WellspringClient


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("tokens")
    with ServerProcess(tmp, sqlite_url_for(tmp), **AUTH_ENV, WELLSPRING_RATE_LIMIT="off") as process:
        process.wait_serving()
        yield process.address


class Provider:
    """Tokens for ``ada`` living ``ttl_s``; the first ``bad`` ones signed with the wrong key."""

    def __init__(self, ttl_s: float = 600, bad: int = 0) -> None:
        self.ttl_s, self.bad, self.issued = ttl_s, bad, 0

    def __call__(self) -> str:
        self.issued += 1
        key = {"key": "x" * 64} if self.issued <= self.bad else {}
        return token(scopes="read write", sub="ada", exp=int(time.time() + self.ttl_s), **key)


async def test_a_providers_token_is_renewed_before_it_expires_while_calls_go_on(server: str) -> None:
    provider = Provider(ttl_s=61.5)  # inside the 60 s refresh window 1.5 s after it is issued
    async with WellspringClient(server, token=provider, stale_after_s=0) as client:
        created = await client.users.create(User(email="ada@x.test", display_name="Ada"))
        assert created.id == "ada"  # the token's principal
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            await client.users.update(User(id="ada", display_name=f"Ada {time.monotonic():.3f}"))
            await asyncio.sleep(0.02)
        assert provider.issued >= 2  # renewed ahead of expiry, and no call was refused meanwhile


async def test_a_refused_call_is_sent_again_once_with_a_renewed_token(server: str) -> None:
    provider = Provider(bad=1)
    async with WellspringClient(server, token=provider) as client:
        with pytest.raises(NotFound):  # answered by the server: authenticated on the second attempt
            await client.users.get("nobody")
        assert provider.issued == 2
    hopeless = Provider(bad=10)
    async with WellspringClient(server, token=hopeless) as client:
        with pytest.raises(Unauthenticated):
            await client.users.get("nobody")
        assert hopeless.issued == 2  # once again, not more


async def test_a_fixed_token_is_one_identity_and_is_not_renewed(server: str) -> None:
    async with WellspringClient(server, token=token(sub="ada", scopes="read")) as client:
        with pytest.raises(NotFound):
            await client.users.get("nobody")
    async with WellspringClient(server, token=token(sub="ada", exp=int(time.time()) - 3600)) as client:
        with pytest.raises(Unauthenticated) as refused:
            await client.users.get("nobody")
        assert refused.value.reason == "TOKEN_EXPIRED"


def test_the_sync_client_takes_a_provider_too(server: str) -> None:
    provider = Provider(bad=1)
    with SyncWellspringClient(server, token=provider) as client:
        with pytest.raises(NotFound):
            client.users.get("nobody")
        assert provider.issued == 2


async def test_an_async_provider_is_awaited(server: str) -> None:
    issued = 0

    async def provider() -> str:
        nonlocal issued
        issued += 1
        await asyncio.sleep(0)
        return token(sub="ada", scopes="read")

    async with WellspringClient(server, token=provider) as client:
        with pytest.raises(NotFound):
            await client.users.get("nobody")
    assert issued == 1
