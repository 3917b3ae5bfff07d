"""The SDK's token source on a fake clock: a fixed token is sent as it is; a provider's is renewed in the
background shortly before it expires (the old one still sent meanwhile), awaited once it has expired,
renewed once for all the calls refused UNAUTHENTICATED with it, and kept when the provider fails while it
is still valid."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from wellspring_client.tokens import Credentials, Token, jwt_expiry


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def jwt(exp: float | bool | None, sub: str = "ada") -> str:
    claims = {"sub": sub} if exp is None else {"sub": sub, "exp": exp}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJIUzI1NiJ9.{body}.c2ln"


class Provider:
    def __init__(self, clock: Clock, ttl_s: float = 600.0) -> None:
        self.clock, self.ttl_s, self.calls, self.fail = clock, ttl_s, 0, False

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.sleep(0)
        if self.fail:
            raise OSError("the identity provider is down")
        return jwt(self.clock.now + self.ttl_s, sub=f"ada{self.calls}")


def test_the_expiry_is_read_from_a_jwt_and_only_from_one() -> None:
    assert jwt_expiry(jwt(1234)) == 1234.0
    for value in (jwt(None), jwt(True), "opaque-token", "a.b.c"):
        assert jwt_expiry(value) is None


async def test_a_fixed_token_is_sent_as_it_is_and_never_renewed() -> None:
    credentials = Credentials(Token("opaque", expires_at=5.0), clock=Clock())
    assert await credentials.header() == ("authorization", "Bearer opaque")
    assert not await credentials.refused(("authorization", "Bearer opaque"))


async def test_a_providers_token_is_renewed_before_it_expires() -> None:
    clock = Clock()
    provider = Provider(clock)
    credentials = Credentials(provider, refresh_before_s=60, clock=clock)
    first = await credentials.header()
    assert provider.calls == 1 and credentials.current() == first
    clock.now += 600 - 59  # inside the refresh window: the old one goes out, the new one is on its way
    assert credentials.current() == first
    await asyncio.sleep(0.01)
    assert provider.calls == 2 and credentials.current() not in (None, first)
    clock.now += 10_000  # expired with no renewal in between: the next call waits for one
    assert credentials.current() is None
    assert (await credentials.header())[1].startswith("Bearer ") and provider.calls == 3


async def test_calls_refused_with_one_token_renew_it_once() -> None:
    clock = Clock()
    provider = Provider(clock)
    credentials = Credentials(provider, clock=clock)
    sent = await credentials.header()
    renewed = await asyncio.gather(*(credentials.refused(sent) for _ in range(5)))
    assert renewed == [True] * 5 and provider.calls == 2
    assert await credentials.header() != sent


async def test_a_failing_provider_keeps_the_token_while_it_is_valid() -> None:
    clock = Clock()
    provider = Provider(clock)
    credentials = Credentials(provider, refresh_before_s=60, clock=clock)
    first = await credentials.header()
    provider.fail = True
    clock.now += 560
    assert credentials.current() == first
    await asyncio.sleep(0.01)
    assert credentials.current() == first and provider.calls == 2  # asked again only after a second
    clock.now += 100  # expired: now the failure is the caller's
    with pytest.raises(OSError):
        await credentials.header()


def test_a_token_must_be_text() -> None:
    with pytest.raises(TypeError):
        Credentials("")
