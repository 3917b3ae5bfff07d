"""The layout of one cache entry, shared by both stores and by the Lua scripts.

    version  16 hex digits   the row version the entry describes (hybrid, monotonic per key)
    kind     1 byte          v = value, n = known absent, t = tombstone (unknown: read the database)
    expiry   12 hex digits   wall-clock ms when the entry goes stale (for early refresh, XFetch)
    delta    6 hex digits    µs the load took (XFetch weighs refreshes by it)
    payload  the rest        serialized protobuf of the resource (value entries only)

Stores compare only the version: an entry replaces another only if its version is not older. That one
rule closes the cache-aside race: a slow reader cannot overwrite a newer value or a write's tombstone.
"""

from __future__ import annotations

from typing import NamedTuple

VALUE = b"v"
ABSENT = b"n"
TOMBSTONE = b"t"
# Where each header field ends (the layout above); the payload follows the header.
_VERSION_END = 16
_KIND_END = _VERSION_END + 1
_EXPIRY_END = _KIND_END + 12
HEADER = _EXPIRY_END + 6


class Entry(NamedTuple):
    """A tuple: a BatchGet unpacks one per id, and a frozen dataclass costs ~1 µs more to build."""

    version: int
    kind: bytes
    expiry_ms: int
    delta_us: int
    payload: bytes


def pack(version: int, kind: bytes, expiry_ms: int, delta_us: int, payload: bytes = b"") -> bytes:
    return b"%016x%s%012x%06x" % (version, kind, expiry_ms, min(delta_us, 0xFFFFFF)) + payload


def unpack(blob: bytes) -> Entry:
    return Entry(
        int(blob[:_VERSION_END], 16),
        blob[_VERSION_END:_KIND_END],
        int(blob[_KIND_END:_EXPIRY_END], 16),
        int(blob[_EXPIRY_END:HEADER], 16),
        blob[HEADER:],
    )


def version_of(blob: bytes) -> int:
    return int(blob[:_VERSION_END], 16)


def kind_of(blob: bytes) -> bytes:
    return blob[_VERSION_END:_KIND_END]
