"""Bearer tokens for the e2e tests of a server started with ``AUTH_ENV`` (HS256, the tests' own secret)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

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


# RS256 against a JWKS file: what tests of key ids (kid) use.
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks_env(path: Path) -> dict[str, str]:
    """Write a JWKS file holding ``RSA_KEY`` as kid ``k1``; the settings of a server trusting it."""
    jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key())) | {"kid": "k1", "use": "sig"}
    path.write_text(json.dumps({"keys": [jwk]}))
    return {
        **{k: v for k, v in AUTH_ENV.items() if k != "WELLSPRING_AUTH_HS256_SECRET"},
        "WELLSPRING_AUTH_JWKS": str(path),
    }


def rs_token(key: Any = RSA_KEY, *, kid: str = "k1", scopes: str = "admin", **claims: Any) -> str:
    now = int(time.time())
    body = {"sub": "ada", "scope": scopes, "iss": ISSUER, "aud": AUDIENCE, "exp": now + 600} | claims
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def rs_bearer(subject: str, scopes: str = "read write import") -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {rs_token(sub=subject, scopes=scopes)}"),)
