"""Pieces shared by the SQL repositories: the executor port and keyset pagination."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from service.domain.models import Cursor, Page, PageRequest, SortDirection

T = TypeVar("T")
_MAX_CODE_POINT = 0x10FFFF
_SURROGATES = range(0xD800, 0xE000)  # never in stored text: UTF-8 cannot encode them


Params = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None  # one row's values, or many rows'


class Executor(Protocol):
    async def execute(self, stmt: Any, params: Params = None) -> Any: ...


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


def prefix_successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``, in code-point order: the prefix
    with its last code point incremented, dropping trailing U+10FFFF (which cannot be incremented);
    None when there is none (empty, or nothing but U+10FFFF). ``prefix + U+10FFFF`` is not such a bound:
    ``prefix + U+10FFFF + "x"`` sorts above it."""
    stem = prefix.rstrip(chr(_MAX_CODE_POINT))
    if not stem:
        return None
    last = ord(stem[-1]) + 1
    if last in _SURROGATES:
        last = _SURROGATES.stop
    return stem[:-1] + chr(last)


def prefix_range(column: sa.ColumnElement[str], prefix: str) -> sa.ColumnElement[bool]:
    """``column`` starts with ``prefix``, as an index range. Needs code-point order: SQLite's BINARY and
    PostgreSQL's "C" collation (tables.py) compare UTF-8 bytes, which sort as code points do."""
    end = prefix_successor(prefix)
    if end is None:
        return column >= prefix
    return sa.and_(column >= prefix, column < end)
