"""Protobuf wire bytes assembled from already-serialized parts: the fast path of cached reads.

A cached resource is stored as its serialized bytes; a Get answers with them as they are, and a BatchGet,
List, Export or Watch response is the concatenation of its fields' encodings (protobuf's wire format is a
sequence of tagged fields, so a message is the sum of its fields). Field numbers and wire types are read
from the descriptors, never written down here; ``tests/unit/test_wire.py`` compares every shape with
``SerializeToString()`` of the same message.

Hand-written because no protobuf runtime offers "embed these serialized sub-messages": building the
message objects would decode and re-encode every cached byte (the cost this path exists to avoid).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar, final

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)

_LENGTH_DELIMITED = 2
_VARINT = 0


@final
class Encoded(Generic[M]):
    """A message of type ``M`` as its wire bytes: what a servicer answers when it has the bytes already.
    The interceptor sends ``data`` as it is (``interceptors._passthrough``)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __repr__(self) -> str:
        return f"Encoded({len(self.data)} bytes)"


def varint(n: int) -> bytes:
    """``n`` (non-negative) as a protobuf base-128 varint."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# The varints of the lengths most payloads have, made once: a BatchGet frames one per item.
_SMALL_VARINTS = [varint(n) for n in range(4096)]


def _tag(number: int, wire_type: int) -> bytes:
    return varint((number << 3) | wire_type)


class Shape(Generic[M]):
    """The wire layout of a response made of a repeated message field (``items``) and, optionally, one
    scalar (``extra``: a string such as ``next_page_token`` or a non-negative int64 such as ``revision``).
    Precomputes the tags once per message type."""

    __slots__ = ("_extra_is_text", "_extra_tag", "_items_tag")

    def __init__(self, message: type[M], items: str, extra: str | None = None) -> None:
        fields = message.DESCRIPTOR.fields_by_name
        self._items_tag = _tag(fields[items].number, _LENGTH_DELIMITED)
        self._extra_tag = b""
        self._extra_is_text = False
        if extra is not None:
            field = fields[extra]
            self._extra_is_text = field.type == FieldDescriptor.TYPE_STRING
            self._extra_tag = _tag(field.number, _LENGTH_DELIMITED if self._extra_is_text else _VARINT)

    def items(self, payloads: Sequence[bytes]) -> bytes:
        tag, small, size = self._items_tag, _SMALL_VARINTS, len(_SMALL_VARINTS)
        return b"".join(tag + (small[n] if (n := len(p)) < size else varint(n)) + p for p in payloads)

    def extra(self, value: str | int) -> bytes:
        """The scalar's encoding; nothing for its default ("" or 0), as protobuf does."""
        if not value:
            return b""
        if self._extra_is_text:
            data = str(value).encode()
            return self._extra_tag + varint(len(data)) + data
        return self._extra_tag + varint(int(value))

    def encode(self, payloads: Sequence[bytes], extra: str | int = 0) -> Encoded[M]:
        return Encoded(self.items(payloads) + self.extra(extra))


def embedded(descriptor: Descriptor, field_name: str, payload: bytes) -> bytes:
    """One sub-message field (by name) holding ``payload`` as it is."""
    number = descriptor.fields_by_name[field_name].number
    return _tag(number, _LENGTH_DELIMITED) + varint(len(payload)) + payload
