"""Keys from a JWKS served over HTTPS (a local TLS server with a trustme certificate, trusted through
SSL_CERT_FILE as a system store would be): a new kid is fetched when a token first names it; a key gone
from the set stops verifying once the cached set has lapsed; tokens with made-up kids cost at most one
fetch per cooldown, not one per call."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from service.auth.tokens import TokenVerifier
from tests.unit.test_auth_tokens import _jwk, reason, token


class Keys:
    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0


@pytest.fixture
def jwks_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Keys]]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # what urllib's default context trusts
    served = Keys()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            body = json.dumps({"keys": served.keys}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{httpd.server_address[1]}/.well-known/jwks.json", served
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_keys_rotate_over_https_without_a_restart(jwks_url: tuple[str, Keys]) -> None:
    url, served = jwks_url
    old = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    new = ec.generate_private_key(ec.SECP256R1())
    served.keys = [_jwk(old, "k1")]
    v = TokenVerifier(jwks=url, leeway_s=5, jwks_lifespan_s=0.5, jwks_cooldown_s=0.0)
    assert (await v.verify(f"Bearer {token(old, 'RS256', 'k1', iss=None, aud=None)}")).subject == "ada"
    served.keys = [_jwk(old, "k1"), _jwk(new, "k2")]  # the issuer publishes a new key
    assert (
        await v.verify(f"Bearer {token(new, 'ES256', 'k2', sub='bob', iss=None, aud=None)}")
    ).subject == "bob"
    served.keys = [_jwk(new, "k2")]  # and retires the old one
    retired = f"Bearer {token(old, 'RS256', 'k1', sub='carol', iss=None, aud=None)}"
    deadline = time.monotonic() + 10
    while True:  # verifies until the cached set lapses (lifespan 0.5 s), then never again
        try:
            await v.verify(retired)
        except Exception:
            break
        assert time.monotonic() < deadline, "a retired key still verifies"
        retired = (
            f"Bearer {token(old, 'RS256', 'k1', sub='carol', jti=str(time.monotonic()), iss=None, aud=None)}"
        )
    assert await reason(v, retired) == "KEY_UNKNOWN"


async def test_made_up_key_ids_cost_one_fetch_per_cooldown(jwks_url: tuple[str, Keys]) -> None:
    url, served = jwks_url
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    served.keys = [_jwk(key, "k1")]
    v = TokenVerifier(jwks=url, leeway_s=5, jwks_cooldown_s=30.0)
    assert (await v.verify(f"Bearer {token(key, 'RS256', 'k1', iss=None, aud=None)}")).subject == "ada"
    before = served.fetches
    for n in range(50):
        forged = token(key, "RS256", f"made-up-{n}", iss=None, aud=None)
        assert await reason(v, f"Bearer {forged}") == "KEY_UNKNOWN"
    assert served.fetches - before <= 1
