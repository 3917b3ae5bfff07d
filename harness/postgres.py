"""Fresh PostgreSQL databases: created on the server at ``ADMIN_URL`` (``WELLSPRING_TEST_POSTGRES_URL``,
default the local trust-auth server), dropped (with FORCE) at the end. Migrating them is the caller's
choice: in process (``service.repository.migrate.upgrade``) or by the CLI, as an operator would."""

from __future__ import annotations

import asyncio
import os
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.processes import HarnessError

ADMIN_URL = os.environ.get("WELLSPRING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CONNECT_TIMEOUT_S = 5.0


def _admin(sql: str) -> None:
    """One statement on the admin database, on a private loop in a worker thread (so it works from sync
    code and from inside a running loop alike)."""
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(ADMIN_URL.replace("+asyncpg", ""), timeout=CONNECT_TIMEOUT_S)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    with ThreadPoolExecutor(1) as pool:
        future: Any = pool.submit(asyncio.run, run())
        try:
            future.result()
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            raise HarnessError(f"PostgreSQL at {ADMIN_URL} ({type(error).__name__}: {error})") from error


def create_database(prefix: str = "wellspring_test") -> str:
    """A new, empty database ``{prefix}_{random}``; its URL. HarnessError when PostgreSQL cannot be had."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _admin(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.replace("+asyncpg", "").rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    """Drop the database ``url`` names, whoever is still connected to it."""
    _admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
