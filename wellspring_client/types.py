"""The values the SDK hands out: frozen dataclasses, so a cached result can be shared by every caller
without anyone changing it under the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

ChangeKind = Literal["created", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class User:
    """A user. ``create_time``, ``update_time`` and ``etag`` are set by the server."""

    id: str = ""
    email: str = ""
    display_name: str = ""
    bio: str = ""
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Post:
    """A post by ``author_id``. ``create_time``, ``update_time`` and ``etag`` are set by the server."""

    id: str = ""
    author_id: str = ""
    title: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a List call; an empty ``next_page_token`` is the last page."""

    items: tuple[T, ...]
    next_page_token: str = ""


@dataclass(frozen=True, slots=True)
class ImportFailure:
    """An item the server refused: its zero-based index in the stream, status code name, message, field."""

    index: int
    code: str
    message: str
    field: str = ""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an Import did. ``failures`` lists at most the first 1000 refused items."""

    created: int
    updated: int
    failed: int
    failures: tuple[ImportFailure, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One committed change: ``resource`` is the new value, None for a delete."""

    revision: int
    kind: ChangeKind
    collection: str
    id: str
    resource: User | Post | None
