"""Pieces shared by the SQL repositories: the executor port and keyset pagination."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from service.domain.models import Cursor, Page, PageRequest, SortDirection

T = TypeVar("T")
# Upper bound of a prefix range: every string starting with p sorts below p + U+10FFFF in code-point order.
PREFIX_END = "\U0010ffff"


class Executor(Protocol):
    async def execute(
        self, stmt: Any, params: Mapping[str, Any] | list[Mapping[str, Any]] | None = None
    ) -> Any: ...


class ConstraintError(Exception):
    """A unique or foreign-key constraint rejected a write; ``detail`` names it (never shown to clients)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def keyset_page(
    stmt: sa.Select[Any],
    id_column: sa.ColumnElement[str],
    sort_column: sa.ColumnElement[Any],
    page: PageRequest,
) -> sa.Select[Any]:
    """Order by (sort, id) and start strictly after the cursor; fetch one extra row to see if more follow."""
    descending = page.ordering.direction is SortDirection.DESC
    if page.cursor is not None:
        key = sa.tuple_(sort_column, id_column)
        start = sa.tuple_(sa.literal(page.cursor.sort_value), sa.literal(page.cursor.last_id))
        stmt = stmt.where(key < start if descending else key > start)
    if descending:
        stmt = stmt.order_by(sort_column.desc(), id_column.desc())
    else:
        stmt = stmt.order_by(sort_column.asc(), id_column.asc())
    return stmt.limit(page.limit + 1)


def to_page(
    items: Sequence[T], limit: int, sort_value: Callable[[T], str | int], item_id: Callable[[T], str]
) -> Page[T]:
    kept = list(items[:limit])
    cursors = [Cursor(sort_value(i), item_id(i)) for i in kept]
    return Page(kept, cursors[-1] if len(items) > limit else None, cursors)


def prefix_range(column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    return sa.and_(column >= prefix, column < prefix + PREFIX_END)
