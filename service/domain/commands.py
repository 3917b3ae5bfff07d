"""What the use cases are asked to do, as plain values built by the servicers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from service.domain.errors import DomainError
from service.domain.models import Principal

F = TypeVar("F")
# A filter's value as the request gave it: text, or a time in µs (None or "": not set).
FilterValue = str | int | None


@dataclass(frozen=True, slots=True)
class ListItems:
    """A List (or, without the paging fields, an Export): ``filters`` are (name, value) pairs of the
    collection spec's filters, unvalidated."""

    page_size: int = 0
    page_token: str = ""
    filters: tuple[tuple[str, FilterValue], ...] = ()
    order_by: str = ""
    read_mask: tuple[str, ...] = ()
    search_private: bool = True  # filters may match private fields (admins; all with authentication off)


@dataclass(frozen=True, slots=True)
class CreateItem(Generic[F]):
    """``chosen_id`` is the client-chosen id (AIP-133's ``{resource}_id``); ``id_in_body`` the id the
    request's resource carries, taken as the chosen id when ``chosen_id`` is empty (see
    ``handlers.common.chosen_id``)."""

    fields: F
    chosen_id: str = ""
    request_id: str = ""
    id_in_body: str = ""
    actor: Principal | None = None  # who asks (None: authentication is off)


@dataclass(frozen=True, slots=True)
class UpdateItem(Generic[F]):
    id: str
    fields: F
    # None: the fields that are set (non-empty); ("*",): replace every writable field.
    update_mask: tuple[str, ...] | None = None
    etag: str = ""
    allow_missing: bool = False
    actor: Principal | None = None


@dataclass(frozen=True, slots=True)
class DeleteItem:
    """``force``: also delete what refers to the resource (else its presence refuses the delete)."""

    id: str
    etag: str = ""
    force: bool = False
    allow_missing: bool = False
    actor: Principal | None = None


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
    viewer: Principal | None = None  # who watches: private fields of others' resources are left out
