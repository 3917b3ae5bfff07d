"""Resources and query values as plain dataclasses. Times are integer microseconds since the epoch (UTC)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Generic, TypeVar

T = TypeVar("T")


class Stored:
    """What every stored resource derives from its id, creation time and version: its etag. (A mixin
    without fields: each resource is a dataclass whose fields are ``id``, its own, then the times and
    version, in that order.)"""

    __slots__ = ()
    id: str
    create_time_us: int
    version: int

    @property
    def etag(self) -> str:
        return make_etag(self.id, self.create_time_us, self.version)


@dataclass(frozen=True, slots=True)
class User(Stored):
    id: str
    email: str
    display_name: str
    bio: str
    create_time_us: int
    update_time_us: int
    version: int


@dataclass(frozen=True, slots=True)
class Post(Stored):
    id: str
    author_id: str
    title: str
    body: str
    tags: tuple[str, ...]
    create_time_us: int
    update_time_us: int
    version: int


@dataclass(frozen=True, slots=True)
class Comment(Stored):
    id: str
    post_id: str
    author_id: str
    body: str
    create_time_us: int
    update_time_us: int
    version: int


def make_etag(resource_id: str, create_time_us: int, version: int) -> str:
    """Opaque and different for every (incarnation, version): a re-created id never reuses an old etag."""
    digest = hashlib.blake2b(
        f"{resource_id}\0{create_time_us}\0{version}".encode(), digest_size=9
    ).hexdigest()
    return digest


@dataclass(frozen=True, slots=True)
class UserFields:
    """The client-writable fields of a user, as given on Create or Update."""

    email: str = ""
    display_name: str = ""
    bio: str = ""


@dataclass(frozen=True, slots=True)
class PostFields:
    """The client-writable fields of a post, as given on Create or Update."""

    author_id: str = ""
    title: str = ""
    body: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommentFields:
    """The client-writable fields of a comment, as given on Create or Update."""

    post_id: str = ""
    author_id: str = ""
    body: str = ""


class ChangeKind(IntEnum):
    """What a committed write did to one resource (a change-log row's ``kind``; stored as this int)."""

    CREATED = 1
    UPDATED = 2
    DELETED = 3


class SortDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class Ordering:
    """An allow-listed sort key; the id always breaks ties in the same direction."""

    field: str
    direction: SortDirection = SortDirection.ASC


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a keyset page starts: strictly after (sort value, id)."""

    sort_value: str | int
    last_id: str


# A List's or Export's validated filters: (filter name, value) in the spec's order, only those that are set.
FilterValues = tuple[tuple[str, str | int], ...]


@dataclass(frozen=True, slots=True)
class PageRequest:
    """What the repository needs to fetch one page: the filter, the order, the start and the size."""

    ordering: Ordering
    limit: int
    cursor: Cursor | None = None
    # Read no more than about this many bytes of rows (the page then ends early, with a cursor): a page
    # of large items is cut before it is read, not after. None: the size of the rows cannot matter.
    max_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Cursor | None = field(default=None)
    # cursors[i] resumes right after items[i]: a caller may cut the page short (AIP-158 allows it)
    cursors: list[Cursor] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who makes a call: ``subject`` (a token's ``sub``, or a client certificate's SAN), the scopes it was
    granted, and until when (epoch seconds) that holds. ``admin`` may do anything to anyone's resources."""

    subject: str
    scopes: frozenset[str]
    expires_at: float

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def may(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def sees_private_of(self, owner: str) -> bool:
        """Whether the private fields (a user's email) of a resource ``owner`` owns are shown to it."""
        return owner == self.subject or "admin" in self.scopes
