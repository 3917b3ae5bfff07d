"""Bearer tokens for the e2e tests of a server started with ``AUTH_ENV`` (HS256, the tests' own secret)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt

SECRET = secrets.token_hex(32)
ISSUER, AUDIENCE = "https://issuer.wellspring.test", "wellspring-test"
AUTH_ENV = {
    "WELLSPRING_AUTH": "jwt",
    "WELLSPRING_AUTH_HS256_SECRET": SECRET,
    "WELLSPRING_AUTH_ISSUER": ISSUER,
    "WELLSPRING_AUTH_AUDIENCE": AUDIENCE,
    "WELLSPRING_AUTH_LEEWAY_S": "5",
}


def token(key: str = SECRET, *, scopes: str = "admin", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "ada", "scope": scopes, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600} | claims
    return jwt.encode(body, key, algorithm="HS256")


def bearer(subject: str, scopes: str = "read write import") -> tuple[tuple[str, str]]:
    """The metadata of a call made by ``subject``."""
    return (("authorization", f"Bearer {token(sub=subject, scopes=scopes)}"),)
