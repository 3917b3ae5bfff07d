"""Protobuf <-> the SDK's dataclasses. The only module that knows both."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import field_mask_pb2, timestamp_pb2
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import watch_service_pb2 as watch_pb

from wellspring_client.types import ChangeEvent, ImportFailure, ImportResult, Post, User

_CODES = {status.value[0]: status.name for status in grpc.StatusCode}
_KINDS = {
    watch_pb.ChangeEvent.KIND_CREATED: "created",
    watch_pb.ChangeEvent.KIND_UPDATED: "updated",
    watch_pb.ChangeEvent.KIND_DELETED: "deleted",
}


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


def user_from_pb(m: pb.User) -> User:
    return User(
        m.id, m.email, m.display_name, m.bio, _time(m, "create_time"), _time(m, "update_time"), m.etag
    )


def user_to_pb(u: User) -> pb.User:
    return pb.User(
        id=u.id,
        email=u.email,
        display_name=u.display_name,
        bio=u.bio,
        create_time=timestamp(u.create_time),
        update_time=timestamp(u.update_time),
        etag=u.etag,
    )


def post_from_pb(m: pb.Post) -> Post:
    return Post(
        m.id,
        m.author_id,
        m.title,
        m.body,
        tuple(m.tags),
        _time(m, "create_time"),
        _time(m, "update_time"),
        m.etag,
    )


def post_to_pb(p: Post) -> pb.Post:
    return pb.Post(
        id=p.id,
        author_id=p.author_id,
        title=p.title,
        body=p.body,
        tags=list(p.tags),
        create_time=timestamp(p.create_time),
        update_time=timestamp(p.update_time),
        etag=p.etag,
    )


def mask(paths: list[str] | tuple[str, ...] | None) -> field_mask_pb2.FieldMask | None:
    return None if paths is None else field_mask_pb2.FieldMask(paths=list(paths))


def import_result(m: Any) -> ImportResult:
    failures = tuple(ImportFailure(e.index, _code_name(e.code), e.message, e.field) for e in m.errors)
    return ImportResult(m.created_count, m.updated_count, m.failed_count, failures)


def _code_name(code: int) -> str:
    return _CODES.get(code, str(code))


def change_event(m: watch_pb.ChangeEvent) -> ChangeEvent:
    which = m.WhichOneof("resource")
    resource: User | Post | None = None
    if which == "user":
        resource = user_from_pb(m.user)
    elif which == "post":
        resource = post_from_pb(m.post)
    return ChangeEvent(m.revision, _KINDS.get(m.kind, "updated"), m.collection, m.id, resource)  # type: ignore[arg-type]
