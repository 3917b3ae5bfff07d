"""Private fields (a user's email) cut from serialized resources for everyone but their owner and admins,
on every read path (Get, BatchGet, List, Export, Watch), from the cached bytes as they are.

The caches and the change log keep each resource whole, once, whoever reads it; what a caller is shown is
decided per call. ``PrivateFields.view`` reads only the tags it needs: the owner (to compare it with the
caller) and the private fields' spans (to leave them out), never decoding the resource. For the owner's
own Get or BatchGet nothing is read at all when the owner field is the id (``owns_id``).

Hand-written because no protobuf runtime offers "find field N in these bytes": decoding the message to
clear one field would cost what the cached-bytes path exists to avoid. Fast path: our payloads come from
``SerializeToString``, which writes known fields in field-number order, so when the owner field has the
lowest number and the private fields the next ones (users: ``id`` = 1, ``email`` = 2) they are the first
fields of the payload and the cut reads two tags. Any other layout is scanned field by field (the same
answer, tested against each other and against the decoded message in ``tests/unit/test_privacy.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from service.domain.models import Principal
from service.domain.specs import CollectionSpec

Spans = tuple[tuple[int, int], ...]

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, at: int) -> tuple[int, int]:
    """The varint at ``at`` and the position after it."""
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _after_value(data: bytes, at: int, wire_type: int) -> int:
    if wire_type == _LENGTH_DELIMITED:
        size, at = _varint(data, at)
        return at + size
    if wire_type == _VARINT:
        return _varint(data, at)[1]
    if wire_type == _FIXED64:
        return at + 8
    if wire_type == _FIXED32:
        return at + 4
    raise ValueError(f"wire type {wire_type} is not used by this API")


def _tag(number: int) -> bytes:
    tag, out = (number << 3) | _LENGTH_DELIMITED, bytearray()
    while tag > 0x7F:
        out.append((tag & 0x7F) | 0x80)
        tag >>= 7
    out.append(tag)
    return bytes(out)


class PrivateFields:
    """One collection's private fields in its serialized resources. The owner field and the private
    fields are strings (length-delimited); a spec with other kinds is refused at construction."""

    __slots__ = ("_fast", "_owner_number", "_owner_tag", "_private_numbers", "_private_tags", "owns_id")

    def __init__(self, spec: CollectionSpec[Any, Any], message: type[Message]) -> None:
        descriptor = message.DESCRIPTOR
        fields = descriptor.fields_by_name
        owner = fields[spec.owner_field]
        private = sorted((fields[name] for name in spec.private), key=lambda f: f.number)
        for f in (owner, *private):
            if f.type != FieldDescriptor.TYPE_STRING or f.is_repeated:
                raise ValueError(f"{descriptor.name}.{f.name}: an owner or private field must be a string")
        self._owner_number = owner.number
        self._owner_tag = _tag(owner.number)
        self._private_numbers = frozenset(f.number for f in private)
        self._private_tags = tuple(_tag(f.number) for f in private)
        numbers = sorted(f.number for f in descriptor.fields)
        self._fast = numbers[: 1 + len(private)] == [owner.number, *(f.number for f in private)]
        self.owns_id = spec.owner_field == "id"  # a Get by id is the owner's when the id is the caller's

    def locate(self, payload: bytes) -> tuple[str, Spans]:
        """The owner, and the (start, end) spans of the private fields in ``payload`` (none: nothing to
        cut)."""
        if self._fast and payload.startswith(self._owner_tag):
            size, at = _varint(payload, len(self._owner_tag))
            end = at + size
            owner = payload[at:end].decode()
            start = end
            for tag in self._private_tags:
                if payload.startswith(tag, end):
                    size, at = _varint(payload, end + len(tag))
                    end = at + size
            return owner, ((start, end),) if end > start else ()
        return self._scan(payload)

    def _scan(self, payload: bytes) -> tuple[str, Spans]:
        owner, spans, at = "", [], 0
        while at < len(payload):
            start = at
            tag, at = _varint(payload, at)
            number, wire_type = tag >> 3, tag & 7
            value_at = at
            at = _after_value(payload, at, wire_type)
            if number == self._owner_number and wire_type == _LENGTH_DELIMITED:
                owner = payload[_varint(payload, value_at)[1] : at].decode()
            elif number in self._private_numbers:
                spans.append((start, at))
        return owner, tuple(spans)

    def view(self, payload: bytes, viewer: Principal) -> bytes:
        """``payload`` as ``viewer`` may see it: whole for the owner and admins, else without the private
        fields (they read as empty)."""
        owner, spans = self.locate(payload)
        if not spans or viewer.sees_private_of(owner):
            return payload
        return cut(payload, spans)

    def views(self, payloads: Sequence[bytes], viewer: Principal) -> list[bytes]:
        return [self.view(p, viewer) for p in payloads]

    def public(self, payload: bytes) -> tuple[str, bytes] | None:
        """The owner and the payload without its private fields; None when it has none (the change feed
        encodes the public variant of an event once, beside the whole one)."""
        owner, spans = self.locate(payload)
        return (owner, cut(payload, spans)) if spans else None


def cut(payload: bytes, spans: Spans) -> bytes:
    if len(spans) == 1:
        (start, end) = spans[0]
        return payload[:start] + payload[end:]
    parts, at = [], 0
    for start, end in spans:
        parts.append(payload[at:start])
        at = end
    parts.append(payload[at:])
    return b"".join(parts)


def private_fields(spec: CollectionSpec[Any, Any], message: type[Message]) -> PrivateFields | None:
    """The collection's ``PrivateFields``, or None when its spec names no private field."""
    return PrivateFields(spec, message) if spec.private else None


def public_parts(
    by_collection: Mapping[str, PrivateFields],
) -> Callable[[str, bytes], tuple[str, bytes] | None]:
    """``PrivateFields.public`` of each collection that has private fields (the change feed's hook)."""

    def public_part(collection: str, payload: bytes) -> tuple[str, bytes] | None:
        private = by_collection.get(collection)
        return None if private is None else private.public(payload)

    return public_part
