"""Opaque page tokens: the keyset cursor, bound to the query that produced it and signed (HMAC-SHA256).

A token only works with the same collection, filters, order and read mask (AIP-158); anything else, and
any tampering, is INVALID_ARGUMENT.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from service.domain.errors import InvalidInput
from service.domain.models import Cursor

_MAC_BYTES = 16
_MAX_TOKEN = 2048


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _bad(description: str) -> InvalidInput:
    return InvalidInput.of("page_token", description, reason="INVALID_PAGE_TOKEN")


class PageTokens:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        # Identifies the secret without revealing it: cached pages (and their tokens) are only shared
        # between replicas that would accept each other's tokens.
        self.fingerprint = hashlib.sha256(b"wellspring-page-token:" + secret).hexdigest()[:16]

    def _binding(self, query: dict[str, Any]) -> str:
        canonical = json.dumps(query, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, query: dict[str, Any], cursor: Cursor) -> str:
        payload = json.dumps(
            {"q": self._binding(query), "s": cursor.sort_value, "i": cursor.last_id}
        ).encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def decode(self, token: str, query: dict[str, Any], sort_type: type) -> Cursor:
        """The cursor inside ``token``; INVALID_ARGUMENT if forged, damaged or issued for another query."""
        if len(token) > _MAX_TOKEN or token.count(".") != 1:
            raise _bad("malformed page token")
        body, mac = token.split(".")
        try:
            payload, signature = _unb64(body), _unb64(mac)
        except (binascii.Error, ValueError):
            raise _bad("malformed page token") from None
        if not hmac.compare_digest(signature, self._mac(payload)):
            raise _bad("page token was not issued by this service or was altered")
        data = json.loads(payload)
        if data.get("q") != self._binding(query):
            raise _bad("page token belongs to a request with other parameters")
        if type(data.get("s")) is not sort_type or not isinstance(data.get("i"), str):
            raise _bad("malformed page token")
        return Cursor(data["s"], data["i"])
