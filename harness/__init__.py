"""The processes tests and benchmarks start, in one place: the server (``python -m service serve``) on a
free loopback port, a redis-server of their own, and fresh PostgreSQL databases.

Hand-written on purpose, and small: mirakuru and pytest-postgresql/pytest-redis would cover parts of it,
but the server's readiness is its gRPC health answer (which no generic executor checks), the bench is not
a pytest session, and what the tests need of each process — kill -9 and restart on the same port, SIGSTOP,
the log of a child that died — is a few lines over ``subprocess``. ``HarnessError`` says why a process
could not be had; tests turn it into a failure or a skip (``REQUIRE_SERVICES``), the bench into its own
error.
"""

from harness.postgres import ADMIN_URL, create_database, drop_database
from harness.processes import (
    ROOT,
    HarnessError,
    RedisServer,
    ServerProcess,
    cpu_seconds,
    free_port,
    memory_kb,
)

__all__ = [
    "ADMIN_URL",
    "ROOT",
    "HarnessError",
    "RedisServer",
    "ServerProcess",
    "cpu_seconds",
    "create_database",
    "drop_database",
    "free_port",
    "memory_kb",
]
