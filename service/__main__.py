"""``python -m service [serve|migrate|seed]`` (``make run`` / ``make migrate``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from service.config import ConfigError, Settings

if TYPE_CHECKING:
    from service.cache.tier import CacheTier

CacheFactory = Callable[[Settings], "CacheTier | None"]


class JsonFormatter(logging.Formatter):
    """One JSON object per line; the access log's structured fields are top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


def _logging(level: str) -> None:
    """JSON lines on stderr, gRPC core's own lines included (service/stderr_relay.py)."""
    import faulthandler

    from service.stderr_relay import StderrRelay

    relay = StderrRelay()
    sys.stderr = relay.real  # fd 2 is the relay's now; Python's own writes go straight out
    faulthandler.enable(relay.real)  # a hard crash's stacks reach the operator without the relay
    handler = logging.StreamHandler(relay.real)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    logging.captureWarnings(True)
    # An uncaught exception is one JSON line (its traceback in "exception"), not a page of plain text.
    sys.excepthook = lambda kind, error, trace: logging.getLogger("wellspring").critical(
        "uncaught %s", kind.__name__, exc_info=(kind, error, trace)
    )
    # Alembic announces each of its plugins at INFO on every start; the migrations it runs stay logged.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _health(settings: Settings, addr: str | None, service: str = "") -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    addr = addr or settings.addr
    if settings.tls_cert_file:  # trusts the server's own certificate chain (self-signed or its CA's)
        with open(settings.tls_cert_file, "rb") as cert:
            channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(cert.read()))
    else:
        channel = grpc.insecure_channel(addr)
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=3
            )
        except grpc.RpcError as error:
            print(f"unhealthy: {error.code().name}", file=sys.stderr)
            return 1
    serving = response.status == health_pb2.HealthCheckResponse.SERVING
    print("SERVING" if serving else health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
    return 0 if serving else 1


def _parser() -> argparse.ArgumentParser:
    from service import __version__

    parser = argparse.ArgumentParser(prog="wellspring", description="The Wellspring gRPC data service")
    parser.add_argument("--version", action="version", version=f"wellspring {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{serve,migrate,health,token}")
    serve_cmd = sub.add_parser("serve", help="run the server on WELLSPRING_ADDR")
    serve_cmd.add_argument(
        "--seed-demo", action="store_true", help="add demo data when the database is empty"
    )
    sub.add_parser("migrate", help="apply database migrations to WELLSPRING_DATABASE_URL and exit")
    health_cmd = sub.add_parser("health", help="exit 0 if the server reports SERVING (container probes)")
    health_cmd.add_argument("--addr", help="HOST:PORT to ask (default: WELLSPRING_ADDR)")
    health_cmd.add_argument(
        "--service",
        default="",
        help="a health service name: '' (the server), wellspring.cache (Redis answering), or an API service",
    )
    token_cmd = sub.add_parser(
        "token", help="print a development token signed with WELLSPRING_AUTH_HS256_SECRET (HS256)"
    )
    token_cmd.add_argument("subject", help="the principal (sub): a user id such as ada")
    token_cmd.add_argument("--scopes", default="read,write", help="comma-separated: read,write,import,admin")
    token_cmd.add_argument("--ttl-s", type=float, default=3600.0, help="seconds until it expires (3600)")
    return parser


def _token(settings: Settings, subject: str, scopes: str, ttl_s: float) -> int:
    from service.auth.tokens import hs256_token

    if settings.auth_hs256_secret is None:
        print("wellspring token: set WELLSPRING_AUTH_HS256_SECRET (the server's secret)", file=sys.stderr)
        return 2
    claims = {k: v for k, v in (("iss", settings.auth_issuer), ("aud", settings.auth_audience)) if v}
    granted = [s.strip() for s in scopes.split(",") if s.strip()]
    print(hs256_token(settings.auth_hs256_secret, subject, granted, ttl_s, **claims))
    return 0


def _database_error(error: Exception) -> int:
    """One line: 2 when no retry can fix it (a configuration mistake), 1 when the database is only
    unreachable for now (``migrate`` with PostgreSQL down)."""
    from service.repository.database import DatabaseProblem, MissingDirectory

    missing = isinstance(error, MissingDirectory)
    hint = "; create it, or set WELLSPRING_SQLITE_CREATE_DIRS=1" if missing else ""
    print(f"WELLSPRING_DATABASE_URL: {error}{hint}", file=sys.stderr)
    return 2 if isinstance(error, DatabaseProblem) and error.permanent else 1


def _migrate(settings: Settings) -> int:
    from service.repository.database import DatabaseProblem
    from service.repository.migrate import upgrade

    try:
        upgrade(settings.database_url, create_dirs=settings.sqlite_create_dirs)
    except DatabaseProblem as error:
        return _database_error(error)
    return 0


def _loop_factory(settings: Settings) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop with ``WELLSPRING_UVLOOP=1`` where uvloop is installed, else asyncio's own.
    grpc.aio runs on either: it hands its completion queue to the loop as a file descriptor to read."""
    if not settings.uvloop:
        return None
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        raise ConfigError("WELLSPRING_UVLOOP=1 but uvloop is not installed here; unset it") from None
    return uvloop.new_event_loop


def _serve(settings: Settings, seed_demo: bool, cache_for: CacheFactory | None) -> int:
    from service.bootstrap import ListenError, serve
    from service.repository.database import DatabaseProblem

    try:
        with asyncio.Runner(loop_factory=_loop_factory(settings)) as runner:
            return runner.run(serve(settings, seed_demo=seed_demo, cache_for=cache_for))
    except (ListenError, ConfigError) as error:
        print(error, file=sys.stderr)
        return 2
    except DatabaseProblem as error:
        return _database_error(error)


def main(argv: list[str] | None = None, *, cache_for: CacheFactory | None = None) -> int:
    """The command line. ``cache_for`` builds the cache tier from the settings instead of the default
    (tests wrap its store to inject faults: tests/faulty_server.py)."""
    parser = _parser()
    opts = parser.parse_args(argv)
    if opts.command is None:  # a bare `wellspring` used to start a server: say what it can do instead
        parser.print_help(sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if opts.command == "health":
        return _health(settings, opts.addr, opts.service)
    if opts.command == "token":
        return _token(settings, opts.subject, opts.scopes, opts.ttl_s)
    _logging(settings.log_level)
    if opts.command == "migrate":
        return _migrate(settings)
    return _serve(settings, opts.seed_demo, cache_for)


if __name__ == "__main__":
    raise SystemExit(main())
