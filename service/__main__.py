"""``python -m service [serve|migrate|seed]`` (``make run`` / ``make migrate``)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys

from service.config import ConfigError, Settings


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
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    # Alembic announces each of its plugins at INFO on every start; the migrations it runs stay logged.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _health(settings: Settings) -> int:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    if settings.tls_cert_file:  # trusts the server's own certificate chain (self-signed or its CA's)
        with open(settings.tls_cert_file, "rb") as cert:
            channel = grpc.secure_channel(settings.addr, grpc.ssl_channel_credentials(cert.read()))
    else:
        channel = grpc.insecure_channel(settings.addr)
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.RpcError as error:
            print(f"unhealthy: {error.code().name}", file=sys.stderr)
            return 1
    serving = response.status == health_pb2.HealthCheckResponse.SERVING
    print("SERVING" if serving else health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
    return 0 if serving else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wellspring", description="The Wellspring gRPC data service")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the server (default)")
    serve_cmd.add_argument(
        "--seed-demo", action="store_true", help="add demo data when the database is empty"
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser(
        "health", help="exit 0 if the server on WELLSPRING_ADDR reports SERVING (container probes)"
    )
    opts = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    if opts.command == "health":
        return _health(settings)
    _logging(settings.log_level)
    if opts.command == "migrate":
        from service.repository.migrate import upgrade

        upgrade(settings.database_url)
        return 0
    from service.bootstrap import ListenError, serve

    try:
        return asyncio.run(serve(settings, seed_demo=getattr(opts, "seed_demo", False)))
    except (ListenError, ConfigError) as error:
        print(error, file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
