"""gRPC's C core writes its own lines to file descriptor 2 (absl logging: ``E1202 03:55:29.592814 31425
add_port.cc:83] Failed to add port …``): bind failures, TLS handshake errors, transport trouble. They
would break "one JSON object per line" on stderr, and silencing them (GRPC_VERBOSITY=NONE) would hide
exactly what an operator needs. So fd 2 becomes a pipe, and a thread turns each line written to it into
a log record (logger ``grpc.core``, the level from absl's first letter, ``source`` the C++ file:line);
a line that is JSON already passes as it is, any other text becomes a ``stderr`` record at ERROR.

Python itself keeps writing straight to the real stderr (``real``): the JSON log, ``sys.stderr`` (the
one-line start-up errors, tracebacks printed at exit), and faulthandler's dump of a crash — none of them
waits on the thread.

The pipe's writing end is non-blocking: if core writes faster than the thread relays (GRPC_TRACE), the
pipe (64 KiB) fills and further lines are dropped (their write fails with EAGAIN) instead of blocking
core's threads in write(2), perhaps while they hold locks the event loop needs. That flag belongs to the
pipe only; the real stderr that Python writes to stays as it was.

The relay must not lose the last lines: it is a ``logging.Handler`` (never attached to a logger) so that
``logging.shutdown()`` — at interpreter exit, and in the shutdown watchdog right before ``os._exit`` —
closes it, and closing drains the pipe first. What it cannot save: lines written in the instant before a
hard crash (an abort() in the C core), which die in the pipe with the process.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from typing import IO

# absl's prefix: severity letter, MMDD, time, thread id, file:line, "] ".
_ABSL = re.compile(r"^([IWEF])\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ ([^\]\s]+)\] ?(.*)$")
_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
_DRAIN_S = 2.0


def _is_json(text: str) -> bool:
    if not text.startswith("{"):
        return False
    try:
        return isinstance(json.loads(text), dict)
    except ValueError:
        return False


def record_of(text: str) -> logging.LogRecord:
    """The log record for one line of foreign stderr output."""
    found = _ABSL.match(text)
    if found is None:
        return logging.LogRecord("stderr", logging.ERROR, "", 0, text, None, None)
    letter, source, message = found.groups()
    record = logging.LogRecord("grpc.core", _LEVELS[letter], source, 0, message, None, None)
    record.fields = {"source": source}
    return record


class StderrRelay(logging.Handler):
    """Owns fd 2 from construction until ``close``; ``real`` is the process's real stderr."""

    def __init__(self) -> None:
        super().__init__()
        self._real_fd = os.dup(2)
        self.real: IO[str] = open(  # lives as long as the process
            self._real_fd, "w", buffering=1, encoding="utf-8", errors="backslashreplace", closefd=False
        )
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)  # a full pipe drops core's lines rather than stall its threads
        os.dup2(write_fd, 2)
        os.close(write_fd)  # fd 2 is now the only writing end: restoring it ends the relay (EOF)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._relay, args=(read_fd,), name="stderr relay", daemon=True
        )
        self._thread.start()

    def _relay(self, read_fd: int) -> None:
        with open(read_fd, "rb") as pipe:
            for raw in pipe:
                try:
                    self._forward(raw.decode("utf-8", "backslashreplace").rstrip("\r\n"))
                except Exception:  # keep reading whatever happens: a full pipe would block core's threads
                    pass

    def _forward(self, text: str) -> None:
        if not text.strip():
            return
        if _is_json(text):
            self.real.write(text + "\n")
            return
        record = record_of(text)
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Never attached to a logger: a Handler only to be closed by ``logging.shutdown``."""

    def close(self) -> None:
        """Give fd 2 back to the real stderr (later writers reach it directly) and relay what is left."""
        thread, self._thread = self._thread, None
        if thread is not None:
            os.dup2(self._real_fd, 2)
            thread.join(_DRAIN_S)
        super().close()
