"""Bearer-token verification (service/auth/tokens.py) against tokens PyJWT signs here: every way a token
can fail has its reason, a verified token is cached until its exp, and a JWKS file's keys rotate without
a restart. The method table (service/auth/scopes.py) is checked over every served method."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from service.auth.scopes import ADMIN, BY_VERB, required_scope
from service.auth.tokens import MAX_TOKEN_BYTES, TokenVerifier
from service.bootstrap import SERVICE_NAMES
from service.domain.errors import Unauthenticated

SECRET = b"s" * 32
ISSUER, AUDIENCE = "https://issuer.example", "wellspring"


def token(key: Any = SECRET, algorithm: str = "HS256", kid: str | None = None, **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "ada", "scope": "read write", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600} | claims
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def verifier(**options: Any) -> TokenVerifier:
    defaults: dict[str, Any] = {"secret": SECRET, "issuer": ISSUER, "audience": AUDIENCE, "leeway_s": 5}
    return TokenVerifier(**(defaults | options))


async def reason(v: TokenVerifier, header: str | None) -> str:
    with pytest.raises(Unauthenticated) as failed:
        await v.verify(header)
    assert "eyJ" not in failed.value.message  # never the token itself
    return failed.value.reason


async def test_a_good_token_gives_its_subject_and_scopes() -> None:
    principal = await verifier().verify(f"Bearer {token()}")
    assert principal.subject == "ada" and principal.scopes == {"read", "write"}
    assert principal.may("write") and not principal.may("import") and not principal.admin
    scp = await verifier().verify(f"bearer {token(scope=None, scp=['read', 'admin'])}")
    assert scp.admin and scp.may("import")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "TOKEN_MISSING"),
        ("", "TOKEN_MISSING"),
        ("Basic YWRhOnB3", "TOKEN_MALFORMED"),
        ("Bearer", "TOKEN_MALFORMED"),
        ("Bearer not.a.jwt", "TOKEN_MALFORMED"),
        ("Bearer " + "a" * (MAX_TOKEN_BYTES + 1), "TOKEN_MALFORMED"),
    ],
)
async def test_headers_that_hold_no_usable_token(header: str | None, expected: str) -> None:
    assert await reason(verifier(), header) == expected


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        # exp and nbf in seconds from when the test runs (not from collection: a long suite outlives 600 s)
        ({"exp": -60}, "TOKEN_EXPIRED"),
        ({"nbf": 600}, "TOKEN_NOT_YET_VALID"),
        ({"iss": "https://someone.else"}, "ISSUER_MISMATCH"),
        ({"aud": "another-service"}, "AUDIENCE_MISMATCH"),
        ({"exp": None}, "TOKEN_INVALID"),
        ({"sub": None}, "TOKEN_INVALID"),
        ({"sub": ""}, "TOKEN_INVALID"),
        ({"scope": 7}, "TOKEN_INVALID"),
    ],
)
async def test_claims_that_do_not_verify(claims: dict[str, Any], expected: str) -> None:
    now = int(time.time())
    claims = {k: now + v if k in ("exp", "nbf") and isinstance(v, int) else v for k, v in claims.items()}
    assert await reason(verifier(), f"Bearer {token(**claims)}") == expected


async def test_a_bad_signature_or_a_foreign_algorithm_is_invalid() -> None:
    assert await reason(verifier(), f"Bearer {token(key=b'x' * 32)}") == "TOKEN_INVALID"
    unsigned = jwt.encode({"sub": "ada", "exp": int(time.time()) + 60}, None, algorithm="none")
    assert await reason(verifier(), f"Bearer {unsigned}") == "TOKEN_INVALID"


async def test_a_verified_token_is_cached_until_its_exp() -> None:
    now = [time.time()]
    v = verifier(clock=lambda: now[0])
    good = token(exp=int(now[0]) + 120)
    first = await v.verify(f"Bearer {good}")
    assert await v.verify(f"Bearer {good}") is first  # from the cache: no second decode
    assert v.cached(f"Bearer {good}") is first and v.cached(f"bearer {good}") is first
    assert v.cached(f"Basic {good}") is None and v.cached(None) is None
    assert v.cached(f"Bearer {token()}") is None  # never verified
    now[0] += 200  # past exp by the server's clock: verified again, and PyJWT says expired
    assert v.cached(f"Bearer {good}") is None
    v._verified = _expired  # type: ignore[method-assign]
    assert await reason(v, f"Bearer {good}") == "TOKEN_EXPIRED"


async def _expired(_token: str) -> Any:
    raise Unauthenticated("TOKEN_EXPIRED", "the token has expired")


async def test_the_cache_is_bounded_in_entries_and_bytes() -> None:
    v = verifier(max_cached=3)
    for n in range(10):
        await v.verify(f"Bearer {token(sub=f'user{n}')}")
    assert len(v._cache) == 3
    small = verifier(max_cached_bytes=1000)
    for n in range(10):
        await small.verify(f"Bearer {token(sub=f'user{n}')}")
    assert 0 < small._cached_bytes <= 1000 and len(small._cache) < 10


async def test_keeping_a_token_twice_counts_its_bytes_once() -> None:
    """Two verifications of one new token may both miss (a JWKS fetch yields): the second keep replaces
    the first, and the byte count stays that of one entry."""
    v = verifier()
    principal = await v.verify(f"Bearer {token()}")
    once = v._cached_bytes
    digest = next(iter(v._cache))
    v._keep(digest, principal)
    assert v._cached_bytes == once and len(v._cache) == 1


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
    jwk = json.loads(algorithm.to_jwk(key.public_key()))
    return jwk | {"kid": kid, "use": "sig"}


async def test_jwks_file_keys_rotate_without_a_restart(tmp_path: Path) -> None:
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [_jwk(old, "k1")]}))
    v = verifier(secret=None, jwks=str(path))
    assert (await v.verify(f"Bearer {token(old, 'RS256', 'k1')}")).subject == "ada"
    assert await reason(v, f"Bearer {token(new, 'ES256', 'k2', sub='bob')}") == "KEY_UNKNOWN"
    assert await reason(v, f"Bearer {token(SECRET, 'HS256', 'k1', sub='eve')}") == "TOKEN_INVALID"
    path.write_text(json.dumps({"keys": [_jwk(new, "k2")]}))  # k2 in, k1 out
    assert (await v.verify(f"Bearer {token(new, 'ES256', 'k2', sub='bob')}")).subject == "bob"
    assert await reason(v, f"Bearer {token(old, 'RS256', 'k1', sub='carol')}") == "KEY_UNKNOWN"


def test_every_served_method_has_its_scope_from_the_table() -> None:
    from google.protobuf import descriptor_pool

    pool = descriptor_pool.Default()
    for service in SERVICE_NAMES:
        for method in pool.FindServiceByName(service).methods:
            verb = next(v for v in sorted(BY_VERB, key=len, reverse=True) if method.name.startswith(v))
            assert required_scope(f"/{service}/{method.name}", reflection_open=False) == BY_VERB[verb]
    assert required_scope("/grpc.health.v1.Health/Check", reflection_open=False) is None
    reflect = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    assert required_scope(reflect, reflection_open=True) is None
    assert required_scope(reflect, reflection_open=False) == ADMIN
    assert required_scope("/wellspring.v1.UserService/PurgeEverything", reflection_open=False) == ADMIN
    assert required_scope("/some.Other/Get", reflection_open=False) == ADMIN
