"""The collections, each declared once (DESIGN §7, STYLE 15): one ``CollectionSpec`` holds what every layer
needs to know of a collection — its names, fields, orderings, filters, validation, owner and references —
and ``REGISTRY`` lists them. The use cases, the SQL repository (with its table spec), the servicers, the
change feed, the cache tier and the generic tests all read these; none of them names a collection.

Adding a collection: a proto message and service, a table and migration, a spec here (and its table spec
in ``repository/tables.py``, its proto binding in ``api/bindings.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar

from service.domain.errors import FieldViolation, InvalidInput
from service.domain.models import (
    Comment,
    CommentFields,
    FilterValues,
    Post,
    PostFields,
    User,
    UserFields,
)
from service.domain.validation import (
    MAX_BIO,
    MAX_BODY,
    MAX_COMMENT,
    MAX_DISPLAY_NAME,
    MAX_EMAIL,
    MAX_QUERY,
    MAX_TAG,
    MAX_TAGS,
    MAX_TITLE,
    check_comment,
    check_filter_text,
    check_id,
    check_post,
    check_time_us,
    check_user,
    normalize_comment,
    normalize_post,
    normalize_text,
    normalize_user,
    raise_if,
)


class Resource(Protocol):
    """What every stored resource has besides its own fields."""

    @property
    def id(self) -> str: ...
    @property
    def create_time_us(self) -> int: ...
    @property
    def update_time_us(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def etag(self) -> str: ...


R = TypeVar("R", bound=Resource)
PUBLIC = "~public"  # the suffix of a filter's variant that leaves out private fields
F = TypeVar("F")


class FilterKind(Enum):
    EQUALS = "equals"  # the field is the value (an id)
    PREFIX = "prefix"  # one of the fields starts with the value, compared case-insensitively
    HAS = "has"  # the value is one of the field's items (a tag)
    AFTER = "after"  # the field (a time, µs) is strictly later than the value
    BEFORE = "before"  # the field (a time, µs) is strictly earlier than the value


@dataclass(frozen=True, slots=True)
class Filter:
    """One filter of List and Export: the request field ``name`` and what it tests. A time filter's
    field is the resource's ``{field}_us``."""

    name: str
    kind: FilterKind
    fields: tuple[str, ...]
    max_len: int = 0  # text filters: the longest value accepted

    @property
    def is_time(self) -> bool:
        return self.kind in (FilterKind.AFTER, FilterKind.BEFORE)


@dataclass(frozen=True, slots=True)
class Reference:
    """``field`` names a resource of ``collection``, which must exist when the field is written (else
    INVALID_ARGUMENT with ``reason``). Deleting that resource is refused while anything refers to it,
    unless forced: then what refers to it is deleted with it (and so on down)."""

    field: str
    collection: str
    reason: str


@dataclass(frozen=True, eq=False)
class CollectionSpec(Generic[R, F]):
    """One collection. ``model`` is the stored resource (``id``, the fields of ``fields`` in order, then
    ``create_time_us``, ``update_time_us``, ``version``); ``fields`` the client-writable part.
    ``orderings`` maps each allow-listed ``order_by`` field to the type of its sort value (the first is
    the default); ``unique`` names fields unique case-insensitively; ``owner_field`` names the field
    holding the owner's user id (``id``: the resource is its own owner). ``private`` names fields shown
    only to the owner and to admins (everyone else reads them empty, and a filter matches them only for
    those who may see them: its ``public`` variant leaves them out)."""

    collection: str
    resource: str
    model: Callable[..., R]  # the dataclass: called with the values of its fields, in order
    fields: type[F]
    normalize: Callable[[F], F]
    check: Callable[[F, str], list[FieldViolation]]
    orderings: Mapping[str, type]
    filters: tuple[Filter, ...] = ()
    owner_field: str = "id"
    references: tuple[Reference, ...] = ()
    unique: tuple[str, ...] = ()
    max_item_bytes: int | None = None  # the most one serialized resource can take
    output_only: tuple[str, ...] = ("id", "create_time", "update_time", "etag")
    private: tuple[str, ...] = ()
    writable: tuple[str, ...] = field(init=False)
    _public_filters: dict[str, Filter] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "writable", tuple(f.name for f in dataclasses.fields(self.fields)))  # type: ignore[arg-type]
        wrong = [name for name in self.private if name not in self.writable or name == self.owner_field]
        if wrong:
            raise ValueError(f"{self.collection}: private fields must be writable and not the owner: {wrong}")
        public: dict[str, Filter] = {}
        for flt in self.filters:
            shown = tuple(f for f in flt.fields if f not in self.private)
            if shown != flt.fields:
                if not shown:
                    raise ValueError(f"{self.collection}: filter {flt.name!r} matches only private fields")
                name = f"{flt.name}{PUBLIC}"
                public[name] = dataclasses.replace(flt, name=name, fields=shown)
        object.__setattr__(self, "_public_filters", public)

    @property
    def default_ordering(self) -> str:
        return next(iter(self.orderings))

    def fields_of(self, item: R) -> F:
        return self.fields(*attribute_getter(self.writable)(item))

    def new(self, item_id: str, fields: F, now_us: int, version: int) -> R:
        return self.model(item_id, *attribute_getter(self.writable)(fields), now_us, now_us, version)

    def changed(self, item: R, fields: F, now_us: int, version: int) -> R:
        values = attribute_getter(self.writable)(fields)
        return self.model(item.id, *values, item.create_time_us, now_us, version)

    def owner_of(self, item: R) -> str:
        return str(getattr(item, self.owner_field))

    def filter(self, name: str) -> Filter:
        """A filter by name: one of ``filters``, or the public variant ``public_filter`` named."""
        return next((f for f in self.filters if f.name == name), None) or self._public_filters[name]

    def public_filter(self, name: str) -> str:
        """The name of the filter ``name`` as it runs for someone who may not see private fields."""
        public = f"{name}{PUBLIC}"
        return public if public in self._public_filters else name


@functools.cache
def attribute_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The named attributes of a value as a tuple, read in one C call (cached per tuple of names)."""
    get = operator.attrgetter(*names)
    return get if len(names) > 1 else lambda value: (get(value),)


def compiled(expression: str, argument: str, **names: Any) -> Callable[[Any], Any]:
    """``lambda {argument}: {expression}``, compiled once per collection — the way ``dataclasses`` builds
    ``__init__`` — for the conversions every item of an Export or Import goes through, so that they cost
    what a hand-written one does (a loop over the field names per item made every Export ~15 % slower).
    The expression sees ``names``, ``tuple`` and ``list`` and no other builtin, and a dunder name in it is
    refused: its words are field names of a spec, of its message or of its table."""
    words = expression
    for mark in "()[]{},:=.*'":
        words = words.replace(mark, " ")
    if any(word.startswith("__") or not (word.isidentifier() or word.isdigit()) for word in words.split()):
        raise ValueError(f"not a conversion of field names: {expression}")
    scope = {"__builtins__": {}, "tuple": tuple, "list": list, **names}
    function: Callable[[Any], Any] = eval(f"lambda {argument}: {expression}", scope)
    return function


class Registry:
    """The collections in declaration order, by name, with who refers to whom."""

    def __init__(self, *specs: CollectionSpec[Any, Any]) -> None:
        self._specs = {s.collection: s for s in specs}
        for spec in specs:
            for ref in spec.references:
                if ref.collection not in self._specs:
                    raise ValueError(f"{spec.collection}.{ref.field} refers to unknown {ref.collection!r}")

    def __getitem__(self, collection: str) -> CollectionSpec[Any, Any]:
        return self._specs[collection]

    def __contains__(self, collection: object) -> bool:
        return collection in self._specs

    def __iter__(self) -> Iterator[CollectionSpec[Any, Any]]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def referrers(self, collection: str) -> list[tuple[CollectionSpec[Any, Any], Reference]]:
        """Every (collection, reference) that points at ``collection``: what a delete must check."""
        return [(s, r) for s in self for r in s.references if r.collection == collection]


def reference_error(spec: CollectionSpec[Any, Any], ref: Reference, value: str) -> InvalidInput:
    """What a write whose ``ref.field`` names nothing is told."""
    target = REGISTRY[ref.collection].resource if ref.collection in REGISTRY else ref.collection
    return InvalidInput.of(
        f"{spec.resource}.{ref.field}", f"no {target} with id {value!r}", reason=ref.reason
    )


def check_filters(spec: CollectionSpec[Any, Any], given: tuple[tuple[str, Any], ...]) -> FilterValues:
    """A List's or Export's filters as the repository takes them: validated, text in NFC (what stored
    text is in), unset ones ("" or None) left out, in the spec's order; INVALID_ARGUMENT naming each bad
    one. A time range whose end is not after its start is refused too (it could match nothing)."""
    values = dict(given)
    violations: list[FieldViolation] = []
    kept: list[tuple[str, str | int]] = []
    for flt in spec.filters:
        value = values.get(flt.name)
        if value is None or value == "":
            continue
        if flt.kind is FilterKind.EQUALS:
            violations += check_id(value, flt.name)
        elif flt.is_time:
            violations += check_time_us(value, flt.name)
        else:
            violations += check_filter_text(value, flt.name, flt.max_len)
            value = normalize_text(value)
        kept.append((flt.name, value))
    violations += _empty_ranges(spec, dict(kept))
    raise_if(violations)
    return tuple(kept)


def _empty_ranges(spec: CollectionSpec[Any, Any], values: dict[str, Any]) -> list[FieldViolation]:
    after = {f.fields: f.name for f in spec.filters if f.kind is FilterKind.AFTER and f.name in values}
    violations = []
    for flt in spec.filters:
        start = after.get(flt.fields)
        if flt.kind is FilterKind.BEFORE and flt.name in values and start is not None:
            if values[start] >= values[flt.name]:
                violations.append(FieldViolation(flt.name, f"must be later than {start}"))
    return violations


# UTF-8 takes at most 4 bytes a character; the rest (ids, times, etag, framing) stays under the constant.
USERS: CollectionSpec[User, UserFields] = CollectionSpec(
    collection="users",
    resource="user",
    model=User,
    fields=UserFields,
    normalize=normalize_user,
    check=check_user,
    orderings={"create_time": int, "display_name": str},
    filters=(Filter("query", FilterKind.PREFIX, ("display_name", "email"), MAX_QUERY),),
    owner_field="id",
    unique=("email",),
    private=("email",),
    max_item_bytes=4 * (MAX_EMAIL + MAX_DISPLAY_NAME + MAX_BIO) + 200,
)

POSTS: CollectionSpec[Post, PostFields] = CollectionSpec(
    collection="posts",
    resource="post",
    model=Post,
    fields=PostFields,
    normalize=normalize_post,
    check=check_post,
    orderings={"create_time": int, "title": str},
    filters=(
        Filter("author_id", FilterKind.EQUALS, ("author_id",)),
        Filter("tag", FilterKind.HAS, ("tags",), MAX_TAG),
        Filter("create_time_after", FilterKind.AFTER, ("create_time",)),
        Filter("create_time_before", FilterKind.BEFORE, ("create_time",)),
    ),
    owner_field="author_id",
    references=(Reference("author_id", "users", "AUTHOR_NOT_FOUND"),),
    max_item_bytes=4 * (MAX_TITLE + MAX_BODY + MAX_TAGS * MAX_TAG) + 400,
)

COMMENTS: CollectionSpec[Comment, CommentFields] = CollectionSpec(
    collection="comments",
    resource="comment",
    model=Comment,
    fields=CommentFields,
    normalize=normalize_comment,
    check=check_comment,
    orderings={"create_time": int},
    filters=(
        Filter("post_id", FilterKind.EQUALS, ("post_id",)),
        Filter("author_id", FilterKind.EQUALS, ("author_id",)),
    ),
    owner_field="author_id",
    references=(
        Reference("post_id", "posts", "POST_NOT_FOUND"),
        Reference("author_id", "users", "AUTHOR_NOT_FOUND"),
    ),
    max_item_bytes=4 * MAX_COMMENT + 400,
)

REGISTRY = Registry(USERS, POSTS, COMMENTS)
