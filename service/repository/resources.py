"""One SQL repository for every collection, built from its table spec (``tables.TABLES``). Statements are
built once per collection, when the repository's table spec is first used, and executed with parameters."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from service.domain.errors import AlreadyExists, DomainError, InvalidInput
from service.domain.models import FilterValues, Page, PageRequest
from service.domain.specs import (
    CollectionSpec,
    Filter,
    FilterKind,
    Reference,
    Resource,
    compiled,
    reference_error,
)
from service.repository.sized import budgeted_page, byte_length
from service.repository.sql import ConstraintError, Executor, keyset_page, prefix_range, to_page

R = TypeVar("R", bound=Resource)
_IN_CHUNK = 1000  # ids per IN (...) list: far below every driver's limit on bound parameters


def fold(text: str) -> str:
    """The case-insensitive form stored for uniqueness, prefix search and ordering (Unicode case folding:
    "STRASSE" and "straße" are the same email)."""
    return text.casefold()


@dataclass(frozen=True, eq=False)
class TableSpec(Generic[R]):
    """How a collection is stored. The table has a column per field of the spec's model, by name, plus:
    ``folded`` — for a field, the column holding its case-folded form (what unique checks, prefix search
    and ordering by that field use); ``json_fields`` — tuple fields stored as a JSON array of strings;
    ``item_tables`` — for a tuple field, a table of (owner id, item) rows indexed for the ``HAS`` filter
    (``tables`` declares their columns as ``{collection singular}_id`` and the field's singular).
    ``size_overhead``: what a serialized resource adds to its text columns (ids, times, etag, framing)."""

    spec: CollectionSpec[R, Any]
    table: sa.Table
    folded: Mapping[str, str] = field(default_factory=dict)
    json_fields: tuple[str, ...] = ()
    item_tables: Mapping[str, sa.Table] = field(default_factory=dict)
    size_overhead: int = 200

    @functools.cached_property
    def statements(self) -> _Statements:
        return _Statements(self)


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for at in range(0, len(ids), _IN_CHUNK):
        yield list(ids[at : at + _IN_CHUNK])


class _Statements:
    """The collection's statements and row codecs, built once."""

    def __init__(self, ts: TableSpec[Any]) -> None:
        spec, t = ts.spec, ts.table
        self.spec, self.table, self.ts = spec, t, ts
        self.names = ("id", *spec.writable, "create_time_us", "update_time_us", "version")
        self.id = t.c.id
        self.select = sa.select(*(t.c[n] for n in self.names))
        self.get = self.select.where(t.c.id == sa.bindparam("id"))
        self.get_for_update = self.get.with_for_update()
        self.get_many = self.select.where(t.c.id.in_(sa.bindparam("ids", expanding=True)))
        self.get_many_for_update = self.get_many.order_by(t.c.id).with_for_update()  # one lock order
        self.insert = t.insert()
        written = [n for n in t.c.keys() if n not in ("id", "create_time_us")]
        self.update = (
            t.update()
            .where(t.c.id == sa.bindparam("b_id"), t.c.version == sa.bindparam("b_version"))
            .values({n: sa.bindparam(n) for n in written})
        )
        self.delete = t.delete().where(t.c.id == sa.bindparam("id"))
        self.delete_many = t.delete().where(t.c.id.in_(sa.bindparam("ids", expanding=True)))
        text = [c for c in t.c if isinstance(c.type, sa.String) and c.name in self.names and c.name != "id"]
        self.size = sum((byte_length(c) for c in text), sa.literal(ts.size_overhead))
        self.sizes = sa.select(t.c.id, self.size).where(t.c.id.in_(sa.bindparam("ids", expanding=True)))
        self.item_owner = {f: next(iter(it.c)) for f, it in ts.item_tables.items()}
        self.unique = {
            f: sa.select(t.c[ts.folded.get(f, f)], t.c.id).where(
                t.c[ts.folded.get(f, f)].in_(sa.bindparam("values", expanding=True))
            )
            for f in spec.unique
        }

    def sort_column(self, ordering: str) -> sa.ColumnElement[Any]:
        return self.table.c[
            self.ts.folded.get(ordering, f"{ordering}_us" if ordering.endswith("_time") else ordering)
        ]

    def sort_value(self, ordering: str) -> Callable[[Any], str | int]:
        if ordering.endswith("_time"):
            name = f"{ordering}_us"
            return lambda item: getattr(item, name)
        if ordering in self.ts.folded:
            return lambda item: fold(getattr(item, ordering))
        return lambda item: getattr(item, ordering)

    def item(self, row: Sequence[Any]) -> Any:
        """The domain item of a row of ``select`` (JSON text fields decoded)."""
        return self._item(row)

    def row(self, item: Any) -> dict[str, Any]:
        """The column values of an item (JSON text fields encoded, folded copies computed)."""
        return self._row(item)

    @functools.cached_property
    def _item(self) -> Callable[[Sequence[Any]], Any]:
        json_fields = self.ts.json_fields
        if not json_fields:
            model = self.spec.model
            return lambda row: model(*row)
        read = [f"tuple(loads(r[{i}]))" if n in json_fields else f"r[{i}]" for i, n in enumerate(self.names)]
        return compiled(f"M({', '.join(read)})", "r", M=self.spec.model, loads=json.loads)

    @functools.cached_property
    def _row(self) -> Callable[[Any], dict[str, Any]]:
        values = [
            f"'{n}': dumps(list(i.{n}), ensure_ascii=False)" if n in self.ts.json_fields else f"'{n}': i.{n}"
            for n in self.names
        ]
        values += [f"'{column}': fold(i.{name})" for name, column in self.ts.folded.items()]
        return compiled(f"{{{', '.join(values)}}}", "i", dumps=json.dumps, fold=fold)

    def where(self, flt: Filter, value: str | int) -> sa.ColumnElement[bool]:
        t = self.table
        if flt.kind is FilterKind.EQUALS:
            return t.c[flt.fields[0]] == value
        if flt.kind is FilterKind.PREFIX:
            prefix = fold(str(value))
            return sa.or_(*(prefix_range(t.c[self.ts.folded.get(f, f)], prefix) for f in flt.fields))
        if flt.kind is FilterKind.HAS:
            items = self.ts.item_tables[flt.fields[0]]
            owner, item = list(items.c)[:2]
            return sa.select(owner).where(item == value, owner == t.c.id).exists()
        column = t.c[f"{flt.fields[0]}_us"]
        return column > value if flt.kind is FilterKind.AFTER else column < value

    def filtered(self, flt: FilterValues) -> sa.Select[Any]:
        stmt = self.select
        for name, value in flt:
            stmt = stmt.where(self.where(self.spec.filter(name), value))
        return stmt


class SqlRepository(Generic[R]):
    """A collection's rows, spoken of as domain values (``repository.base.Repository``)."""

    __slots__ = ("_ex", "_s")

    def __init__(self, table: TableSpec[R], executor: Executor) -> None:
        self._ex = executor
        self._s = table.statements

    async def get(self, item_id: str, *, for_update: bool = False) -> R | None:
        s = self._s
        row = (await self._ex.execute(s.get_for_update if for_update else s.get, {"id": item_id})).first()
        return None if row is None else s.item(row)

    async def get_many(self, ids: Sequence[str], *, for_update: bool = False) -> dict[str, R]:
        stmt = self._s.get_many_for_update if for_update else self._s.get_many
        rows = (await self._ex.execute(stmt, {"ids": list(set(ids))})).all()
        return {row[0]: self._s.item(row) for row in rows}

    async def list_page(self, flt: FilterValues, page: PageRequest) -> Page[R]:
        s = self._s
        stmt = s.filtered(flt)
        sort_column = s.sort_column(page.ordering.field)
        if page.max_bytes is not None:
            return await budgeted_page(self._ex, stmt, s.id, sort_column, s.size, page, self.get_many)
        rows = (await self._ex.execute(keyset_page(stmt, s.id, sort_column, page))).all()
        return to_page([s.item(r) for r in rows], page.limit, s.sort_value(page.ordering.field), _id)

    async def sizes(self, ids: Sequence[str]) -> dict[str, int]:
        """About how many bytes each existing item takes serialized, read without reading the items."""
        rows = (await self._ex.execute(self._s.sizes, {"ids": list(set(ids))})).all()
        return {row[0]: row[1] for row in rows}

    async def scan(self, flt: FilterValues, after_id: str, limit: int) -> list[R]:
        """Up to ``limit`` matching items with ids above ``after_id``, in id order (Export)."""
        s = self._s
        stmt = s.filtered(flt).where(s.id > after_id).order_by(s.id).limit(limit)
        return [s.item(r) for r in (await self._ex.execute(stmt)).all()]

    async def add(self, item: R) -> None:
        await self.add_many([item])

    async def add_many(self, batch: Sequence[R]) -> None:
        """Insert all or none; a conflict names the first item (callers retry one by one)."""
        try:
            await self._ex.execute(self._s.insert, [self._s.row(i) for i in batch])
            await self._write_items(batch)
        except ConstraintError as error:
            raise await self._conflict(error, batch[0]) from None

    async def update(self, item: R, expected_version: int) -> bool:
        """Write ``item`` over the row if it is still at ``expected_version``; False if it is not."""
        try:
            result = await self._ex.execute(self._s.update, self._update_params(item, expected_version))
            if result.rowcount != 1:
                return False
            await self._rewrite_items([item])
        except ConstraintError as error:
            raise await self._conflict(error, item) from None
        return True

    async def update_many(self, batch: Sequence[tuple[R, int]]) -> None:
        """Update (item, expected version) pairs whose rows the caller has locked."""
        try:
            await self._ex.execute(self._s.update, [self._update_params(i, v) for i, v in batch])
            await self._rewrite_items([i for i, _ in batch])
        except ConstraintError as error:
            raise await self._conflict(error, batch[0][0]) from None

    async def delete(self, item_id: str) -> bool:
        await self._delete_items([item_id])
        result = await self._ex.execute(self._s.delete, {"id": item_id})
        return bool(result.rowcount == 1)

    async def delete_many(self, ids: Sequence[str]) -> None:
        for part in _chunks(ids):
            await self._delete_items(part)
            await self._ex.execute(self._s.delete_many, {"ids": part})

    async def referring(
        self, field_name: str, ids: Sequence[str], *, limit: int | None = None
    ) -> list[tuple[str, int]]:
        """(id, version) of the items whose ``field_name`` is one of ``ids``, locked (at most ``limit``:
        to know whether there are any)."""
        column = self._s.table.c[field_name]
        found: list[tuple[str, int]] = []
        for part in _chunks(ids):
            stmt = sa.select(self._s.id, self._s.table.c.version).where(column.in_(part))
            if limit is not None:
                stmt = stmt.limit(limit)
            else:
                stmt = stmt.order_by(self._s.id).with_for_update()
            found += [(r[0], r[1]) for r in (await self._ex.execute(stmt)).all()]
        return found

    async def conflicts(self, writes: Sequence[R]) -> dict[str, DomainError]:
        """The items among ``writes`` (new or updated, ids distinct, written in this order, each one that
        fails skipped) that a constraint would reject, with the error the write itself would raise: a
        reference to nothing (one query per reference), a unique field another item holds by then (one
        query per unique field for its stored holders, the rest in memory)."""
        found: dict[str, DomainError] = {}
        for ref in self._s.spec.references:
            wanted = list({getattr(w, ref.field) for w in writes})
            existing = await self._existing(ref, wanted)
            found.update(
                {
                    w.id: _missing(self._s.spec, ref, w)
                    for w in writes
                    if getattr(w, ref.field) not in existing
                }
            )
        for name in self._s.spec.unique:
            kept = [w for w in writes if w.id not in found]
            found.update(await self._taken(name, kept))
        return found

    async def _existing(self, ref: Reference, ids: list[str]) -> set[str]:
        target = self._s.table.metadata.tables[ref.collection]
        present: set[str] = set()
        for part in _chunks(ids):
            present.update(
                (await self._ex.execute(sa.select(target.c.id).where(target.c.id.in_(part)))).scalars()
            )
        return present

    async def _taken(self, name: str, writes: Sequence[R]) -> dict[str, DomainError]:
        values = list({fold(getattr(w, name)) for w in writes})
        owner: dict[str, str] = dict((await self._ex.execute(self._s.unique[name], {"values": values})).all())
        held = {item_id: value for value, item_id in owner.items()}
        found: dict[str, DomainError] = {}
        for write in writes:
            value = fold(getattr(write, name))
            if owner.get(value, write.id) != write.id:
                found[write.id] = AlreadyExists(self._s.spec.resource, name, getattr(write, name))
                continue
            released = held.get(write.id)
            if released is not None and released != value:  # an update frees the value it had
                del owner[released]
            owner[value], held[write.id] = write.id, value
        return found

    async def _conflict(self, error: ConstraintError, item: R) -> DomainError:
        """The domain error of a rejected write: which reference names nothing (by the constraint's name
        where the driver gives it, else by asking: SQLite only says "FOREIGN KEY constraint failed"),
        which unique field is taken, else the id."""
        spec, detail = self._s.spec, error.detail
        if "foreign key" in detail.lower():
            table = self._s.table.name
            named = [r for r in spec.references if f"fk_{table}_{r.field}_" in detail]
            if named or len(spec.references) == 1:
                return _missing(spec, (named or list(spec.references))[0], item)
            for ref in spec.references:
                if getattr(item, ref.field) not in await self._existing(ref, [getattr(item, ref.field)]):
                    return _missing(spec, ref, item)
        for name in spec.unique:
            if self._s.ts.folded.get(name, name) in detail:
                return AlreadyExists(spec.resource, name, getattr(item, name))
        return AlreadyExists(spec.resource, "id", item.id)

    def _update_params(self, item: R, expected_version: int) -> dict[str, Any]:
        params = self._s.row(item) | {"b_id": item.id, "b_version": expected_version}
        del params["id"], params["create_time_us"]
        return params

    async def _write_items(self, batch: Sequence[R]) -> None:
        for name, items in self._s.ts.item_tables.items():
            rows = [
                dict(zip(items.c.keys(), (i.id, v), strict=True)) for i in batch for v in getattr(i, name)
            ]
            if rows:
                await self._ex.execute(items.insert(), rows)

    async def _rewrite_items(self, batch: Sequence[R]) -> None:
        if self._s.ts.item_tables:
            await self._delete_items([i.id for i in batch])
            await self._write_items(batch)

    async def _delete_items(self, ids: Sequence[str]) -> None:
        for name, items in self._s.ts.item_tables.items():
            owner = self._s.item_owner[name]
            await self._ex.execute(
                items.delete().where(owner.in_(sa.bindparam("ids", expanding=True))), {"ids": list(ids)}
            )


def _id(item: Any) -> str:
    return item.id  # type: ignore[no-any-return]


def _missing(spec: CollectionSpec[Any, Any], ref: Reference, item: Any) -> InvalidInput:
    return reference_error(spec, ref, getattr(item, ref.field))
