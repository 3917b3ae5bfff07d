"""The values the SDK hands out: frozen dataclasses, so a cached result can be shared by every caller
without anyone changing it under the others.

Each collection has a resource type (``User``, ``Post``, ``Comment``) and a filter (``UserFilter``…)
naming what its List and Export select by. Filters and the options every collection shares
(``GetOptions``, ``ListOptions``…) are ``TypedDict`` s, so a wrapper passes them on with ``**options``
and stays typed."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypedDict, TypeVar

T = TypeVar("T")

ChangeKind = Literal["created", "updated", "deleted"]


@dataclass(frozen=True, slots=True)
class User:
    """A user. ``create_time``, ``update_time`` and ``etag`` are set by the server."""

    id: str = ""
    email: str = ""  # required, unique case-insensitively
    display_name: str = ""  # required, 1-100 characters
    bio: str = ""  # at most 2000 characters
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
class Comment:
    """A comment by ``author_id`` (a user) on ``post_id``; the server sets the output-only fields."""

    id: str = ""
    post_id: str = ""  # required: an existing post; deleting it (with force) deletes its comments
    author_id: str = ""  # required: an existing user; deleting them (with force) deletes their comments
    body: str = ""  # required, 1-5000 characters
    create_time: datetime | None = None
    update_time: datetime | None = None
    etag: str = ""


Resource = User | Post | Comment  # what a ChangeEvent may carry
Items = Iterable[T] | AsyncIterable[T]  # what an import reads: any iterable, sync or async


class UserFilter(TypedDict, total=False):
    """Which users a List or Export returns: ``query`` is a prefix of the display name or email.
    Like every filter, make it by calling it (``UserFilter(query="ad")``); a key left out selects all."""

    query: str


class PostFilter(TypedDict, total=False):
    """Which posts a List or Export returns: by author, by tag, created after/before (exclusive)."""

    author_id: str
    tag: str
    create_time_after: datetime | None
    create_time_before: datetime | None


class CommentFilter(TypedDict, total=False):
    """Which comments a List or Export returns: those on ``post_id``, those by ``author_id``, or both."""

    post_id: str
    author_id: str


class ReadOptions(TypedDict, total=False):
    """What every read takes: the fields to return (None: all) and the caller's deadline in seconds."""

    read_mask: Sequence[str] | None
    timeout: float | None


class GetOptions(ReadOptions, total=False):
    """A get's options: ``allow_stale`` overrides the client's ``serve_stale_on_unavailable``."""

    allow_stale: bool | None


class ListOptions(ReadOptions, total=False):
    """A List's options besides its filter: ``page_size`` (0: the server's 50) and ``order_by``."""

    page_size: int
    order_by: str


class PageOptions(ListOptions, total=False):
    """One page's options: ``page_token`` is the previous page's ``next_page_token``."""

    page_token: str


class WriteOptions(TypedDict, total=False):
    """A create's options besides the id: the ``request_id`` that makes it idempotent (and so retried
    on UNAVAILABLE), and the deadline."""

    request_id: str
    timeout: float | None


class CreateOptions(WriteOptions, total=False):
    """A create's options: the ``id`` to give it (else ``item.id``, else the server's choice), …"""

    id: str


class UpdateOptions(TypedDict, total=False):
    """An update's options: ``update_mask`` (None: the fields that are set; ``["*"]``: all),
    ``allow_missing`` (create it if absent), ``optimistic`` (show the guess at once, roll it back on
    failure) and the deadline."""

    update_mask: Sequence[str] | None
    allow_missing: bool
    optimistic: bool
    timeout: float | None


class DeleteOptions(TypedDict, total=False):
    """A delete's options: the ``etag`` that must match, ``force`` (delete what the item owns too),
    ``allow_missing`` (a missing id succeeds) and the deadline."""

    etag: str
    force: bool
    allow_missing: bool
    timeout: float | None


class ImportOptions(TypedDict, total=False):
    """An import's options: items per stream message, and a deadline for the whole stream."""

    chunk_size: int
    timeout: float | None


# The keyword arguments of the per-collection names (``list_posts(author_id=…, page_size=…)``): a
# filter's keys and the options, in one typed ``**kwargs``.
class PostPageArgs(PostFilter, PageOptions, total=False): ...


class PostListArgs(PostFilter, ListOptions, total=False): ...


class PostExportArgs(PostFilter, ReadOptions, total=False): ...


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
    resource: Resource | None
