"""Optional persistence of cached users and posts to a local SQLite file, so a restarted process starts
warm. Restored entries are stale: they are served at once and revalidated in the background."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS wellspring_cache (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    payload BLOB NOT NULL,
    fetched_at REAL NOT NULL,
    PRIMARY KEY (collection, id)
)
"""


class CachePersistence:
    """Rows of (collection, id, serialized resource, wall-clock time fetched). Called off the event loop."""

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(mode=0o600, exist_ok=True)  # cached users carry emails: this user's only
        conn = sqlite3.connect(self.path, timeout=5)
        conn.execute(_SCHEMA)
        return conn

    def save(self, rows: list[tuple[str, str, bytes, float]]) -> None:
        """Replace the file's contents with ``rows`` of (collection, id, payload, age in seconds)."""
        now = time.time()
        conn = self._connect()
        try:
            with conn:
                conn.execute("DELETE FROM wellspring_cache")
                conn.executemany(
                    "INSERT INTO wellspring_cache VALUES (?, ?, ?, ?)",
                    [(c, i, p, now - age) for c, i, p, age in rows],
                )
        finally:
            conn.close()

    def load(self, max_age_s: float) -> list[tuple[str, str, bytes, float]]:
        """(collection, id, payload, age in seconds) of the rows fetched less than ``max_age_s`` ago."""
        if not self.path.exists():
            return []
        now = time.time()
        conn = self._connect()
        try:
            cursor = conn.execute(
                "SELECT collection, id, payload, fetched_at FROM wellspring_cache WHERE fetched_at > ?",
                (now - max_age_s,),
            )
            return [(c, i, bytes(p), max(0.0, now - at)) for c, i, p, at in cursor]
        finally:
            conn.close()
