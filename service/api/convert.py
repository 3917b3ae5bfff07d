"""Protobuf <-> domain values, field masks and timestamps. Pure functions, no I/O."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import watch_service_pb2 as watch_pb

from service.api.errors import lookup
from service.api.wire import embedded
from service.domain.commands import ImportFailure, ImportItem, ImportResult
from service.domain.errors import InvalidInput
from service.domain.models import ChangeKind
from service.domain.specs import REGISTRY
from service.domain.validation import MAX_TIME_US, MIN_TIME_US

_EVENT = watch_pb.ChangeEvent.DESCRIPTOR
# The domain's change kinds as the API's enum, one by one (never by number: either side may grow).
_KINDS = {
    ChangeKind.CREATED: watch_pb.ChangeEvent.KIND_CREATED,
    ChangeKind.UPDATED: watch_pb.ChangeEvent.KIND_UPDATED,
    ChangeKind.DELETED: watch_pb.ChangeEvent.KIND_DELETED,
}


def encode_event(
    revision: int, kind: ChangeKind, collection: str, resource_id: str, payload: bytes | None
) -> bytes:
    """A ChangeEvent from a change-log row; the stored resource bytes go in as they are, in the oneof
    field named after the collection's resource (``user``, ``post``, ``comment``)."""
    header = watch_pb.ChangeEvent(
        revision=revision,
        kind=_KINDS[ChangeKind(kind)],
        collection=collection,
        id=resource_id,
    ).SerializeToString()
    if payload is None:
        return header
    return header + embedded(_EVENT, REGISTRY[collection].resource, payload)


async def import_stream(
    requests: AsyncIterator[Any], field: str, to_fields: Callable[[Any], Any], context: Any
) -> AsyncIterator[ImportItem[Any]]:
    """The items of an Import request stream, numbered across messages. A cancelled call ends its request
    stream like a finished one; when that is already known, the stream raises instead of ending."""
    index = 0
    async for request in requests:
        for resource in getattr(request, field):
            yield ImportItem(index, resource.id, to_fields(resource), resource.etag)
            index += 1
    if context.cancelled():
        raise asyncio.CancelledError


def import_reply(result: ImportResult) -> dict[str, Any]:
    """The fields of an Import response (the same for every collection)."""
    return {
        "created_count": result.created,
        "updated_count": result.updated,
        "failed_count": result.failed,
        "errors": [import_error(f) for f in result.failures],
    }


def import_error(failure: ImportFailure) -> pb.ImportError:
    """One rejected import item: its index, status code, message and (for a bad field) the field."""
    code, _ = lookup(failure.error)
    violations = getattr(failure.error, "violations", [])
    field = violations[0].field if violations and isinstance(failure.error, InvalidInput) else ""
    return pb.ImportError(
        index=failure.index, code=code.value[0], message=failure.error.message[:300], field=field
    )


def check_response_size(payloads: list[bytes], max_bytes: int) -> None:
    """A BatchGet cannot be cut short like a List page: refuse it before building what cannot be sent."""
    total = sum(len(p) + 6 for p in payloads)
    if total > max_bytes:
        raise InvalidInput.of(
            "ids",
            f"the response would be {total} bytes, above the {max_bytes}-byte limit; "
            "request fewer ids per call or a read_mask",
            reason="RESPONSE_TOO_LARGE",
        )


# With a read_mask, a BatchGet may read this many times the response limit of whole resources (the mask
# then shrinks them); without one, what it reads is the response.
MASKED_READ_FACTOR = 4


def read_allowance(max_response_bytes: int, mask: object | None) -> int:
    """The bytes of whole resources a BatchGet may read (it is refused before reading more)."""
    return max_response_bytes if mask is None else MASKED_READ_FACTOR * max_response_bytes


def deadline_of(context: Any) -> float | None:
    """The call's deadline on the monotonic clock, for bounding cache calls; None when the call has none."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


def time_us(ts: timestamp_pb2.Timestamp, field: str, *, round_up: bool = False) -> int:
    """A Timestamp as microseconds (stored times are whole µs; an exclusive upper bound rounds up so
    nothing below it is dropped); INVALID_ARGUMENT outside years 0001-9999 or with bad nanos."""
    if not 0 <= ts.nanos < 1_000_000_000:
        raise InvalidInput.of(field, "nanos must be in [0, 999999999]")
    us = ts.seconds * 1_000_000 + (-(-ts.nanos // 1000) if round_up else ts.nanos // 1000)
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise InvalidInput.of(field, "timestamp out of range (years 0001-9999)")
    return us


def optional_time_us(request: Message, field: str, *, round_up: bool = False) -> int | None:
    return time_us(getattr(request, field), field, round_up=round_up) if request.HasField(field) else None


def read_mask(
    request: Message, descriptor: Descriptor | Any, field: str = "read_mask"
) -> field_mask_pb2.FieldMask | None:
    """The request's read mask, validated; None means every field (absent, empty or ``*``)."""
    if not request.HasField(field):
        return None
    mask: field_mask_pb2.FieldMask = getattr(request, field)
    paths = list(mask.paths)
    if not paths or paths == ["*"]:
        return None
    if "*" in paths or not mask.IsValidForDescriptor(descriptor):
        raise InvalidInput.of(
            field, f"unknown field in read mask; fields: {', '.join(descriptor.fields_by_name)}"
        )
    return mask


def masked(message: Message, mask: field_mask_pb2.FieldMask | None) -> Message:
    if mask is None:
        return message
    out = type(message)()
    mask.MergeMessage(message, out)
    return out


def update_mask(request: Message, field: str = "update_mask") -> tuple[str, ...] | None:
    if not request.HasField(field):
        return None
    return tuple(getattr(request, field).paths) or None


def mask_paths(mask: field_mask_pb2.FieldMask | None) -> tuple[str, ...]:
    return () if mask is None else tuple(mask.paths)
