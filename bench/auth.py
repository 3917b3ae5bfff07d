"""The cost of authentication on the read path: a third server, the embedded default with bearer tokens
on (``WELLSPRING_AUTH_HS256_SECRET``), measured in the same alternating rounds as the others.

* ``auth_get_vs_noop``: a warm GetUser carrying a verified token ÷ health Check (open: no token) on it;
* ``auth_overhead``: ``auth_get_vs_noop`` ÷ ``get_vs_noop`` — GetUser with authentication ÷ without, each
  against the no-op of its own server process, so that what differs between two processes (where the
  scheduler puts them) cancels out;
* ``auth_overhead_direct``: the same GetUser pair measured across the two processes directly (noisier:
  it reads 1.14-1.20 where ``auth_overhead`` reads ~1.07; an A/B of 12 x 1000 calls put the token's
  metadata at ~30 µs a call and the interceptor at ~10 µs);
* ``auth_control_noop_vs_noop``: its control pair;
* ``ratelimit_overhead``: the same warm GetUser by a principal whose calls pay the rate limit ÷ by one
  exempt from it (``WELLSPRING_RATE_LIMIT_EXEMPT``), on this one server: the limit's own cost per call,
  measured within one process. The budget (1,000,000/second) never refuses; its exemptions keep
  ``bench`` and the loopback peer (the no-op Check) out of it, so the figures above stay as they were.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import jwt

from bench import client as c
from bench.pairs import Pair
from bench.server import Backend, ServerProcess, running_server

AUTH_CONTROL = "auth_control_noop_vs_noop"
AUTH_GET = "auth_get_vs_noop"
AUTH_OVERHEAD = "auth_overhead"
AUTH_OVERHEAD_DIRECT = "auth_overhead_direct"
RATELIMIT_OVERHEAD = "ratelimit_overhead"


@dataclass
class AuthServer:
    server: ServerProcess
    client: c.Client
    limited: c.Client  # calls paying the rate limit
    ids: list[str] = field(default_factory=list)


@contextmanager
def auth_deployment(workdir: Path) -> Iterator[AuthServer]:
    """The server with authentication and rate limits on, a client whose every call carries an admin
    token exempt from the limits, and one whose calls pay them."""
    secret = secrets.token_hex(32)
    settings = (
        ("WELLSPRING_AUTH", "jwt"),
        ("WELLSPRING_AUTH_HS256_SECRET", secret),
        ("WELLSPRING_RATE_LIMIT", "1000000/second"),
        ("WELLSPRING_RATE_LIMIT_EXEMPT", "sub:bench,peer:ipv4:127.0.0.1"),
    )
    backend = Backend(f"sqlite:///{workdir / 'auth.sqlite3'}", settings=settings)
    exp = int(time.time()) + 3 * 3600

    def bearer(sub: str) -> tuple[tuple[str, str]]:
        token = jwt.encode({"sub": sub, "scope": "admin", "exp": exp}, secret, algorithm="HS256")
        return (("authorization", f"Bearer {token}"),)

    with running_server(workdir, backend, name="auth") as server:
        client = c.connect(server.address, metadata=bearer("bench"))
        limited = c.connect(server.address, metadata=bearer("bench-limited"))
        try:
            yield AuthServer(server, client, limited)
        finally:
            client.close()
            limited.close()


def auth_pairs(side: AuthServer, plain: c.Client, plain_ids: list[str], calls: int) -> list[Pair]:
    """Its control, GetUser with a token against Check on it, and against GetUser without auth."""
    check = c.check_op(side.client)
    get = c.get_user_op(side.client, side.ids)
    return [
        Pair(AUTH_CONTROL, c.check_op(side.client), c.check_op(side.client), calls),
        Pair(AUTH_GET, get, check, calls),
        Pair(
            AUTH_OVERHEAD_DIRECT, c.get_user_op(side.client, side.ids), c.get_user_op(plain, plain_ids), calls
        ),
        Pair(
            RATELIMIT_OVERHEAD,
            c.get_user_op(side.limited, side.ids),
            c.get_user_op(side.client, side.ids),
            calls,
        ),
    ]
