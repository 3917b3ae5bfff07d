"""Bearer tokens: JWTs verified with PyJWT — HS256 with a shared secret (development), RS256/ES256
against a JWKS (a file, re-read when it changes, or an HTTPS URL through PyJWT's ``PyJWKClient``, which
caches the keys and fetches them again for an unknown ``kid``: key rotation needs no restart).

``iss``, ``aud``, ``exp``, ``nbf`` are checked with ``leeway_s``; ``exp`` and ``sub`` are required. The
principal is ``sub``; scopes come from ``scope`` (space-separated) or ``scp`` (a list or a string).
A verified token is kept (by its SHA-256, until its ``exp``) in a cache bounded in entries and bytes, so a
repeated call costs a hash and a dict lookup, not a signature check.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import jwt

from service.domain.errors import Unauthenticated
from service.domain.models import Principal

MAX_TOKEN_BYTES = 8192  # a JWT in a header; anything longer is refused before it is parsed
_ENTRY_OVERHEAD = 200  # bytes a cached principal costs besides its token's hash and scopes


class _JwksFile:
    """The keys of a JWKS file by ``kid``, read again whenever the file's mtime or size changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: tuple[float, int] | None = None
        self._keys: dict[str, Any] = {}

    def key(self, kid: str | None) -> Any:
        stat = os.stat(self.path)
        if (stat.st_mtime, stat.st_size) != self._stamp:
            with open(self.path) as file:
                keys = jwt.PyJWKSet.from_json(file.read())
            self._keys = {k.key_id: k for k in keys.keys if k.key_id}
            self._stamp = (stat.st_mtime, stat.st_size)
        found = self._keys.get(kid or "")
        if found is None:
            raise Unauthenticated("KEY_UNKNOWN", "the token's key id is not among the server's keys")
        return found.key


class TokenVerifier:
    """``await verify(authorization_header)`` -> Principal, or Unauthenticated with a reason."""

    def __init__(
        self,
        *,
        secret: bytes | None = None,
        jwks: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_s: float = 30.0,
        max_cached: int = 10_000,
        max_cached_bytes: int = 8 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
        jwks_lifespan_s: float = 300.0,
        jwks_cooldown_s: float = 30.0,
    ) -> None:
        if secret is None and jwks is None:
            raise ValueError("a TokenVerifier needs a secret or a JWKS")
        self._secret = secret
        self._jwks_url = jwks if jwks is not None and jwks.startswith("https://") else None
        self._jwks_file = _JwksFile(jwks) if jwks is not None and self._jwks_url is None else None
        # PyJWKClient keeps the key set for ``lifespan`` and fetches it again for an unknown kid, at most
        # once per ``cooldown_duration``: tokens with made-up kids cannot make the server fetch per call.
        # Not ``cache_keys``: that memoizes each kid's key for good, so a key the issuer retired would
        # verify forever (found by tests/integration/test_jwks_https.py).
        self._client = (
            jwt.PyJWKClient(
                self._jwks_url,
                cache_keys=False,
                lifespan=jwks_lifespan_s,
                cooldown_duration=jwks_cooldown_s,
                timeout=5,
            )
            if self._jwks_url
            else None
        )
        self._algorithms = ["HS256"] if secret is not None else ["RS256", "ES256"]
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_s
        self._require = ["exp", "sub", *(["iss"] if issuer else []), *(["aud"] if audience else [])]
        self._clock = clock
        self._cache: OrderedDict[bytes, Principal] = OrderedDict()
        self._cached_bytes = 0
        self._max_cached = max_cached
        self._max_cached_bytes = max_cached_bytes

    def cached(self, header: str | None) -> Principal | None:
        """The principal of an already verified, unexpired token, without a coroutine (the hot path);
        None: ask ``verify``."""
        if not header or len(header) > MAX_TOKEN_BYTES + 16 or header[:7].lower() != "bearer ":
            return None
        return self._lookup(hashlib.sha256(header[7:].strip().encode()).digest())

    async def verify(self, header: str | None) -> Principal:
        token = _bearer(header)
        digest = hashlib.sha256(token.encode()).digest()
        principal = self._lookup(digest)
        if principal is None:
            principal = await self._verified(token)
            if principal.expires_at > self._clock():
                self._keep(digest, principal)
        return principal

    def _lookup(self, digest: bytes) -> Principal | None:
        """The cached principal of a token by its hash, while it has not expired."""
        principal = self._cache.get(digest)
        return principal if principal is not None and principal.expires_at > self._clock() else None

    async def _verified(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            if algorithm not in self._algorithms:
                raise Unauthenticated("TOKEN_INVALID", f"tokens signed with {algorithm!r} are not accepted")
            key = await self._key(header.get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": self._require},
            )
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as error:
            raise _failure(error) from None
        return _principal(claims)

    async def _key(self, kid: Any) -> Any:
        if self._secret is not None:
            return self._secret
        if not (kid is None or isinstance(kid, str)):
            raise Unauthenticated("TOKEN_MALFORMED", "the token's key id is not a string")
        if self._jwks_file is not None:
            return self._jwks_file.key(kid)
        assert self._client is not None
        if kid is None:
            raise Unauthenticated("KEY_UNKNOWN", "the token names no key id (kid)")
        found = await asyncio.to_thread(self._client.get_signing_key, kid)  # may fetch the JWKS
        return found.key

    def _keep(self, digest: bytes, principal: Principal) -> None:
        self._forget(digest)  # an expired entry, or one a concurrent verification of the token kept first
        self._cache[digest] = principal
        self._cached_bytes += _cost(principal)
        while len(self._cache) > self._max_cached or self._cached_bytes > self._max_cached_bytes:
            self._forget(next(iter(self._cache)))

    def _forget(self, digest: bytes) -> None:
        principal = self._cache.pop(digest, None)
        if principal is not None:
            self._cached_bytes -= _cost(principal)


# Why a token did not verify, most specific first (each class's subclasses come before it).
_FAILURES: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "TOKEN_EXPIRED", "the token has expired"),
    (jwt.ImmatureSignatureError, "TOKEN_NOT_YET_VALID", "the token is not valid yet (nbf/iat)"),
    (jwt.InvalidIssuerError, "ISSUER_MISMATCH", "the token's issuer is not the one this server trusts"),
    (jwt.InvalidAudienceError, "AUDIENCE_MISMATCH", "the token is not meant for this service (aud)"),
    (jwt.MissingRequiredClaimError, "TOKEN_INVALID", "the token lacks a required claim (exp, sub, iss, aud)"),
    (jwt.PyJWKClientError, "KEY_UNKNOWN", "the token's key id is not among the server's keys"),
    (jwt.InvalidSignatureError, "TOKEN_INVALID", "the token's signature does not verify"),
    (jwt.DecodeError, "TOKEN_MALFORMED", "the token is not a well-formed JWT"),
)


def _failure(error: Exception) -> Unauthenticated:
    for kind, reason, message in _FAILURES:
        if isinstance(error, kind):
            return Unauthenticated(reason, message)
    return Unauthenticated("TOKEN_INVALID", "the token does not verify")


def _cost(principal: Principal) -> int:
    return _ENTRY_OVERHEAD + len(principal.subject) + sum(len(s) + 50 for s in principal.scopes)


def _bearer(header: str | None) -> str:
    if not header:
        raise Unauthenticated(
            "TOKEN_MISSING", "this method needs a bearer token in the authorization metadata"
        )
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("TOKEN_MALFORMED", "the authorization metadata must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_BYTES:
        raise Unauthenticated("TOKEN_MALFORMED", f"the token is longer than {MAX_TOKEN_BYTES} bytes")
    return token


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise Unauthenticated(
            "TOKEN_INVALID", "the token's subject (sub) must be a string of 1-255 characters"
        )
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        scopes = raw.split()
    elif isinstance(raw, list) and all(isinstance(s, str) for s in raw):
        scopes = raw
    else:
        raise Unauthenticated("TOKEN_INVALID", "the token's scopes must be a string or a list of strings")
    for name in ("exp", "nbf", "iat"):  # NumericDates: PyJWT takes true/false for 1/0
        value = claims.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Unauthenticated("TOKEN_INVALID", f"the token's {name} is not a number")
    return Principal(subject, frozenset(scopes), float(claims["exp"]))


def hs256_token(secret: bytes, subject: str, scopes: list[str], ttl_s: float, **claims: Any) -> str:
    """A development token, signed with the shared secret (``wellspring token``, tests)."""
    now = int(time.time())
    body = {"sub": subject, "scope": " ".join(scopes), "iat": now, "exp": now + int(ttl_s), **claims}
    return jwt.encode(body, secret, algorithm="HS256")


__all__ = ["MAX_TOKEN_BYTES", "TokenVerifier", "hs256_token"]
