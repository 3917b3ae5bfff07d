"""Protobuf <-> the SDK's dataclasses. The only module that knows both.

A resource's dataclass and its message share field names, so one ``Converter`` per collection, planned
once from the two declarations, converts both ways: timestamps become ``datetime`` (unset: None),
repeated fields tuples, everything else is copied."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from wellspring.v1 import watch_service_pb2 as watch_pb

from wellspring_client.types import ChangeKind, ImportFailure, ImportResult

T = TypeVar("T")
W = TypeVar("W", bound=Mapping[str, Any])  # a filter

_CODES = {status.value[0]: status.name for status in grpc.StatusCode}
_KINDS: dict[int, ChangeKind] = {
    watch_pb.ChangeEvent.KIND_CREATED: "created",
    watch_pb.ChangeEvent.KIND_UPDATED: "updated",
    watch_pb.ChangeEvent.KIND_DELETED: "deleted",
}
_TIMESTAMP = timestamp_pb2.Timestamp.DESCRIPTOR.full_name


def _time(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    ts = getattr(message, name)
    return datetime.fromtimestamp(ts.seconds, UTC).replace(microsecond=ts.nanos // 1000)


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _reader(field: FieldDescriptor) -> Callable[[Any], Any]:
    """How a dataclass field is read from the message (by the same name)."""
    name = field.name
    if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
        return lambda m: _time(m, name)
    if field.is_repeated:
        return lambda m: tuple(getattr(m, name))
    return lambda m: getattr(m, name)


def _writer(field: FieldDescriptor) -> Callable[[Any], Any]:
    """How a dataclass value becomes the message field's (None for an unset timestamp)."""
    if field.message_type is not None and field.message_type.full_name == _TIMESTAMP:
        return timestamp
    if field.is_repeated:
        return list
    return lambda value: value


class Converter(Generic[T]):
    """``from_pb``/``to_pb`` between ``kind`` (a dataclass) and ``message`` (a protobuf class) whose fields
    have the same names; planned once, when the registry is built."""

    def __init__(self, kind: type[T], message: type[Message]) -> None:
        names = [f.name for f in dataclasses.fields(kind)]  # type: ignore[arg-type]
        by_name: Mapping[str, FieldDescriptor] = message.DESCRIPTOR.fields_by_name  # type: ignore[assignment]
        missing = [n for n in names if n not in by_name]
        if missing:
            raise TypeError(f"{message.DESCRIPTOR.full_name} has no field {missing}")
        self.kind = kind
        self.message = message
        self._readers = [_reader(by_name[n]) for n in names]
        self._writers = [(n, _writer(by_name[n])) for n in names]

    def from_pb(self, message: Any) -> T:
        return self.kind(*[read(message) for read in self._readers])

    def to_pb(self, value: T) -> Any:
        return self.message(**{name: write(getattr(value, name)) for name, write in self._writers})


def request_fields(where: Mapping[str, Any] | None) -> dict[str, Any]:
    """A filter (a ``TypedDict``) as request fields, datetimes as timestamps; None selects everything."""
    if not where:
        return {}
    return {n: timestamp(v) if isinstance(v, datetime) else v for n, v in where.items()}


def split(kind: type[W], args: Mapping[str, Any]) -> tuple[W, dict[str, Any]]:
    """``args`` as (the keys of the filter ``kind``, the rest): a per-collection name's keyword
    arguments as a ``ResourceClient`` takes them."""
    keys = kind.__annotations__.keys()
    where = {k: v for k, v in args.items() if k in keys}
    return cast(W, where), {k: v for k, v in args.items() if k not in keys}


def mask(paths: Sequence[str] | None) -> field_mask_pb2.FieldMask | None:
    return None if paths is None else field_mask_pb2.FieldMask(paths=list(paths))


def import_result(m: Any) -> ImportResult:
    failures = tuple(ImportFailure(e.index, _code_name(e.code), e.message, e.field) for e in m.errors)
    return ImportResult(m.created_count, m.updated_count, m.failed_count, failures)


def _code_name(code: int) -> str:
    return _CODES.get(code, str(code))


def kind(value: int) -> ChangeKind:
    """A ChangeEvent's kind as the SDK names it (an unknown, newer kind counts as an update)."""
    return _KINDS.get(value, "updated")
