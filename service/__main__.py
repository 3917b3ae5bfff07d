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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wellspring", description="The Wellspring gRPC data service")
    sub = parser.add_subparsers(dest="command")
    serve_cmd = sub.add_parser("serve", help="run the server (default)")
    serve_cmd.add_argument("--seed-demo", action="store_true", help="add demo data when the database is empty")
    sub.add_parser("migrate", help="apply database migrations and exit")
    opts = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    _logging(settings.log_level)
    if opts.command == "migrate":
        from service.repository.migrate import upgrade

        upgrade(settings.database_url)
        return 0
    from service.bootstrap import serve

    asyncio.run(serve(settings, seed_demo=getattr(opts, "seed_demo", False)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
