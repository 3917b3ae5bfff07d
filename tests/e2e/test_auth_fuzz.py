"""Hypothesis against authentication on a real server: whatever the ``authorization`` header holds, and
whatever claims a token signed with the right key carries, a call ends in OK (only for a token that is
valid by every rule) or UNAUTHENTICATED with a named reason — never UNKNOWN, INTERNAL or anything else,
and never a success without a valid token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc

from service.bootstrap import App
from tests.conftest import sqlite_url_for, start_app
from tests.e2e.helpers import details

SECRET = "f" * 40
ISSUER, AUDIENCE = "https://issuer.fuzz", "fuzz"
EXAMPLES = int(60 * float(os.environ.get("WELLSPRING_FUZZ_SCALE", "1")))
REASONS = {
    "TOKEN_MISSING",
    "TOKEN_MALFORMED",
    "TOKEN_EXPIRED",
    "TOKEN_NOT_YET_VALID",
    "TOKEN_INVALID",
    "ISSUER_MISMATCH",
    "AUDIENCE_MISMATCH",
    "KEY_UNKNOWN",
}
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    tmp: Path = tmp_path_factory.mktemp("authfuzz")
    running = await start_app(
        sqlite_url_for(tmp),
        auth="jwt",
        auth_hs256_secret=SECRET.encode(),
        auth_issuer=ISSUER,
        auth_audience=AUDIENCE,
        auth_leeway_s=5.0,
    )
    try:
        yield running
    finally:
        await running.stop(0)


async def outcome(app: App, header: str | None) -> tuple[grpc.StatusCode, str | None]:
    metadata = (("authorization", header),) if header is not None else ()
    async with grpc.aio.insecure_channel(app.address) as channel:
        stub = user_service_pb2_grpc.UserServiceStub(channel)
        try:
            await stub.ListUsers(api.ListUsersRequest(page_size=1), metadata=metadata, timeout=10)
        except grpc.aio.AioRpcError as error:
            reason = details(error)["ErrorInfo"][0].reason if error.code() != grpc.StatusCode.OK else None
            return error.code(), reason
    return grpc.StatusCode.OK, None


# What a client can put in a header value: printable ASCII (gRPC refuses the rest before sending).
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300)


@FUZZ
@given(header=st.one_of(header_text, header_text.map(lambda t: f"Bearer {t}")))
async def test_any_header_is_refused_with_a_reason(app: App, header: str) -> None:
    code, reason = await outcome(app, header)
    assert code == grpc.StatusCode.UNAUTHENTICATED and reason in REASONS, (header, code, reason)


def signed(claims: dict[str, Any]) -> str:
    """An HS256 JWT of any claims (PyJWT's encoder refuses some of the odd ones a hostile client sends)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    body = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    mac = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{part(mac)}"


claim_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=20),
    st.lists(st.text(max_size=5)),
)


def valid(claims: dict[str, Any], now: float) -> bool | None:
    """Every rule the server applies, written out independently of it; None inside the clock leeway
    (5 s, plus a margin for the call), where either answer is right."""
    sub, exp, nbf = claims.get("sub"), claims.get("exp"), claims.get("nbf", None)
    scope = claims.get("scope", claims.get("scp", ""))
    scopes = scope.split() if isinstance(scope, str) else scope

    def number(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    rules = (
        isinstance(sub, str)
        and 0 < len(sub) <= 255
        and number(exp)
        and (nbf is None or number(nbf))
        and claims.get("iss") == ISSUER
        and claims.get("aud") == AUDIENCE
        and isinstance(scopes, list)
        and all(isinstance(s, str) for s in scopes)
        and ("read" in scopes or "admin" in scopes)
    )
    if not rules:
        return False
    if exp < now - 7 or (nbf is not None and nbf > now + 7):
        return False
    if exp < now + 7 or (nbf is not None and nbf > now - 7):
        return None
    return True


SHIFTED = st.integers(-3600, 3600).map(lambda d: int(time.time()) + d)  # a time around now
ODD = {
    "sub": st.one_of(st.text(max_size=300), claim_values),
    "exp": st.one_of(SHIFTED, SHIFTED, SHIFTED, claim_values),
    "nbf": st.one_of(SHIFTED, SHIFTED, SHIFTED, claim_values),
    "iss": st.sampled_from([ISSUER, "https://other"]) | claim_values,
    "aud": st.sampled_from([AUDIENCE, "other"]) | claim_values,
    "scope": st.sampled_from(["read", "admin", "write", "read write", ""]) | claim_values,
}


@st.composite
def claim_sets(draw: st.DrawFn) -> dict[str, Any]:
    """A valid claim set with some claims replaced by odd values or left out (often none or one, so
    that valid tokens are common too)."""
    claims: dict[str, Any] = {
        "sub": "ada",
        "exp": int(time.time()) + 300,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "scope": "read",
    }
    for name in draw(st.lists(st.sampled_from(sorted(ODD)), max_size=3, unique=True)):
        claims[name] = draw(ODD[name])
    return claims


@settings(FUZZ, max_examples=3 * EXAMPLES)
@given(data=claim_sets())
async def test_signed_claims_succeed_only_when_every_rule_holds(app: App, data: dict[str, Any]) -> None:
    claims = {k: v for k, v in data.items() if v is not None}
    token = signed(claims)
    now = time.time()
    code, reason = await outcome(app, f"Bearer {token}")
    note(f"claims={claims!r} now={now} valid={valid(claims, now)}")
    expected = valid(claims, now)
    if expected is None:
        assert code == grpc.StatusCode.OK or reason in ("TOKEN_EXPIRED", "TOKEN_NOT_YET_VALID"), (
            claims,
            code,
        )
    elif expected:
        assert code == grpc.StatusCode.OK, (claims, code, reason)
    else:
        assert code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), (claims, code)
        assert reason in REASONS | {"SCOPE_MISSING"}, (claims, reason)
