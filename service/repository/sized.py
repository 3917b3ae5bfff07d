"""Reading rows by the byte: sizes the database reports without sending the rows, and keyset pages that
read no more rows than fit in a byte budget (a page of large items is cut before it is read)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from service.domain.models import Cursor, Page, PageRequest
from service.repository.sql import Executor, keyset_page

T = TypeVar("T")


class byte_length(sa.sql.functions.GenericFunction[int]):
    """Bytes of a text column in UTF-8, computed by the database without sending the text: PostgreSQL's
    ``octet_length`` (read from the TOAST header, no detoasting); SQLite 3.40 has none, so there it is
    the length of the text cast to a blob."""

    type = sa.Integer()
    name = "octet_length"
    inherit_cache = True


@compiles(byte_length, "sqlite")
def _byte_length_sqlite(element: byte_length, compiler: Any, **kw: Any) -> str:
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


def within_budget(sizes: Sequence[int], max_bytes: int) -> int:
    """How many of the leading items fit in ``max_bytes`` together (always at least one)."""
    total = 0
    for n, size in enumerate(sizes):
        total += size
        if n and total > max_bytes:
            return n
    return len(sizes)


async def budgeted_page(
    ex: Executor,
    filtered: sa.Select[Any],
    id_column: sa.ColumnElement[str],
    sort_column: sa.ColumnElement[Any],
    size: sa.ColumnElement[int],
    page: PageRequest,
    fetch: Callable[[list[str]], Awaitable[Mapping[str, T]]],
) -> Page[T]:
    """A keyset page that reads about ``page.max_bytes`` of rows at most: first the ids, sort values and
    ``size`` of the limit + 1 candidates, then (``fetch``, by id) only the leading rows that fit. Cursors
    come from the first read, so paging stays exact if a row changes in between; a row deleted in between
    is just not in the page. Cut short, the page resumes after the last candidate that fitted."""
    assert page.max_bytes is not None
    light = filtered.with_only_columns(id_column, sort_column, size)
    candidates = (await ex.execute(keyset_page(light, id_column, sort_column, page))).all()
    head = candidates[: page.limit]
    kept = head[: within_budget([row[2] for row in head], page.max_bytes)]
    found = await fetch([row[0] for row in kept]) if kept else {}
    items, cursors = [], []
    for row_id, sort_value, _ in kept:
        if row_id in found:
            items.append(found[row_id])
            cursors.append(Cursor(sort_value, row_id))
    more = len(candidates) > len(kept)
    return Page(items, Cursor(kept[-1][1], kept[-1][0]) if more else None, cursors)
