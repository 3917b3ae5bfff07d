"""What the use cases are asked to do, as plain values built by the servicers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from service.domain.errors import DomainError
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
    """``user_id`` is the client-chosen id (AIP-133); ``id_in_body`` the ``user.id`` the request's resource
    carries, taken as the chosen id when ``user_id`` is empty (see ``handlers.common.chosen_id``)."""

    fields: UserFields
    user_id: str = ""
    request_id: str = ""
    id_in_body: str = ""


@dataclass(frozen=True, slots=True)
class CreatePost:
    """Like ``CreateUser``: ``post_id``, else ``id_in_body`` (``post.id``), else a server-chosen id."""

    fields: PostFields
    post_id: str = ""
    request_id: str = ""
    id_in_body: str = ""


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


F = TypeVar("F", UserFields, PostFields)


@dataclass(frozen=True, slots=True)
class ImportItem(Generic[F]):
    """One item of an Import stream: its position in the whole stream, the id, the full resource and an
    optional etag (then it must match the stored one)."""

    index: int
    id: str
    fields: F
    etag: str = ""


@dataclass(frozen=True, slots=True)
class ImportFailure:
    index: int
    error: DomainError


@dataclass(slots=True)
class ImportResult:
    """Counts over the whole stream; ``failures`` keeps the first ``MAX_REPORTED`` of them (in order), so
    the answer stays small however many items fail."""

    MAX_REPORTED: ClassVar[int] = 1000

    created: int = 0
    updated: int = 0
    failed: int = 0
    failures: list[ImportFailure] = field(default_factory=list)

    def fail(self, index: int, error: DomainError) -> None:
        self.failed += 1
        if len(self.failures) < self.MAX_REPORTED:
            self.failures.append(ImportFailure(index, error))


@dataclass(frozen=True, slots=True)
class Watch:
    """Follow ``collections`` (empty: all), optionally only ``ids``, from ``start_revision`` on (inclusive;
    0 means from now)."""

    collections: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    start_revision: int = 0
