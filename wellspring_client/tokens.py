"""The client's identity: a bearer token, fixed or from a provider that is asked again before it expires.

A ``WellspringClient`` has exactly one identity for its whole life — its query cache holds what *that*
principal may read (another user's email is empty for it, its own is not), so a cache shared between
principals would answer one with what only the other may see. Make one client per principal.

``token=`` takes a string (sent as ``authorization: Bearer <token>`` with every call), a ``Token`` (with
its expiry), or a provider: a callable, plain or async, returning either. A provider's token is renewed
``refresh_before_s`` before it expires (its expiry is ``Token.expires_at``, else the JWT's ``exp``, read
without verifying: the server verifies), and once more when a call is answered UNAUTHENTICATED; that
call is then sent again, once (a client stream, which cannot be replayed, is not).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["Token", "TokenProvider", "TokenSource"]

REFRESH_BEFORE_S = 60.0
_RETRY_FAILED_REFRESH_S = 1.0


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token and when it expires (epoch seconds; None: its JWT ``exp``, or never)."""

    value: str
    expires_at: float | None = None


TokenProvider = Callable[[], "str | Token | Awaitable[str | Token]"]
TokenSource = str | Token | TokenProvider


def jwt_expiry(value: str) -> float | None:
    """The ``exp`` claim of a JWT, unverified; None when ``value`` is not a JWT with one."""
    parts = value.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


class Credentials:
    """The ``authorization`` metadata of each call, renewed from the provider (SDK-internal)."""

    def __init__(
        self,
        source: TokenSource,
        *,
        refresh_before_s: float = REFRESH_BEFORE_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._provider = source if callable(source) else None
        self._refresh_before_s = refresh_before_s
        self._clock = clock
        self._header: tuple[str, str] | None = None
        self._expires_at: float | None = None
        self._renewing: asyncio.Task[None] | None = None
        self._failed_at = -_RETRY_FAILED_REFRESH_S
        if not callable(source):
            self._take(source)
        self.renewals = 0  # tokens obtained from the provider

    @property
    def renews(self) -> bool:
        return self._provider is not None

    def _take(self, token: str | Token) -> None:
        value, expires = (token.value, token.expires_at) if isinstance(token, Token) else (token, None)
        if not isinstance(value, str) or not value:
            raise TypeError("a token is a non-empty string (or a Token holding one)")
        self._header = ("authorization", f"Bearer {value}")
        self._expires_at = expires if expires is not None else jwt_expiry(value)

    def current(self) -> tuple[str, str] | None:
        """The header to send now, or None when the provider must be asked first."""
        header, expires = self._header, self._expires_at
        if header is None:
            return None
        if self._provider is not None and expires is not None:
            if self._clock() >= expires - self._refresh_before_s:
                return None if self._clock() >= expires else self._early(header)
        return header

    def _early(self, header: tuple[str, str]) -> tuple[str, str]:
        """Close to expiry but still valid: renew in the background, send this one meanwhile."""
        if (self._renewing is None or self._renewing.done()) and self._may_retry():
            self._renewing = asyncio.ensure_future(self._renew_quietly())
        return header

    def _may_retry(self) -> bool:
        return self._clock() - self._failed_at >= _RETRY_FAILED_REFRESH_S

    async def _renew_quietly(self) -> None:
        try:
            await self._renew()
        except Exception:
            self._failed_at = self._clock()  # the current token stays; asked again in a second

    async def header(self) -> tuple[str, str]:
        """The header to send, asking the provider when there is none or it has expired."""
        found = self.current()
        if found is not None:
            return found
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.ensure_future(self._renew())
        await asyncio.shield(self._renewing)
        assert self._header is not None
        return self._header

    async def refused(self, sent: tuple[str, str]) -> bool:
        """A call with ``sent`` was answered UNAUTHENTICATED: renew (once for all calls that used it).
        True when a new token is there to send."""
        if self._provider is None:
            return False
        if self._header == sent:
            if self._renewing is None or self._renewing.done():
                self._renewing = asyncio.ensure_future(self._renew())
            await asyncio.shield(self._renewing)
        return self._header is not None and self._header != sent

    async def _renew(self) -> None:
        assert self._provider is not None
        token = self._provider()
        if inspect.isawaitable(token):
            token = await token
        self._take(token)
        self.renewals += 1
