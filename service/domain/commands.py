"""What the use cases are asked to do, as plain values built by the servicers."""

from __future__ import annotations

from dataclasses import dataclass

from service.domain.models import PostFields, UserFields


@dataclass(frozen=True, slots=True)
class ListUsers:
    page_size: int = 0
    page_token: str = ""
    query: str = ""
    order_by: str = ""
    read_mask: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ListPosts:
    page_size: int = 0
    page_token: str = ""
    author_id: str = ""
    tag: str = ""
    create_time_after_us: int | None = None
    create_time_before_us: int | None = None
    order_by: str = ""
    read_mask: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CreateUser:
    fields: UserFields
    user_id: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class CreatePost:
    fields: PostFields
    post_id: str = ""
    request_id: str = ""


@dataclass(frozen=True, slots=True)
class UpdateUser:
    id: str
    fields: UserFields
    # None: the fields that are set (non-empty); ("*",): replace every writable field.
    update_mask: tuple[str, ...] | None = None
    etag: str = ""
    allow_missing: bool = False


@dataclass(frozen=True, slots=True)
class UpdatePost:
    id: str
    fields: PostFields
    update_mask: tuple[str, ...] | None = None
    etag: str = ""
    allow_missing: bool = False


@dataclass(frozen=True, slots=True)
class DeleteUser:
    id: str
    etag: str = ""
    force: bool = False
    allow_missing: bool = False


@dataclass(frozen=True, slots=True)
class DeletePost:
    id: str
    etag: str = ""
    allow_missing: bool = False
