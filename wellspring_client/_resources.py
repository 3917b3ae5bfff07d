"""The SDK's registry of collections: one ``Resource`` per collection says everything the client needs to
know about it — names, generated modules, dataclass and filter types, and which collections own its items.
Every layer of the SDK reads it: the ``ResourceClient``, the cache's index, the write effects, the Watch
decoding, persistence and the transport's stubs. Adding a collection is one entry in ``RESOURCES`` (and
its dataclass and filter in ``types``).

Wire names follow from ``singular``: ``Get{S}``, ``BatchGet{S}s``, ``List{S}s``, ``Create{S}`` (with the
resource in the field ``{s}`` and the chosen id in ``{s}_id``), ``Update{S}``, ``Delete{S}``,
``Import{S}s``, ``Export{S}s``; the List/BatchGet/Import/Export messages carry the items in a repeated
field named ``collection``, and a Watch event carries the resource in the oneof field ``{s}``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from wellspring.v1 import (
    comment_service_pb2,
    comment_service_pb2_grpc,
    post_service_pb2,
    post_service_pb2_grpc,
    user_service_pb2,
    user_service_pb2_grpc,
)
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import watch_service_pb2 as watch_pb

from wellspring_client import _convert as convert
from wellspring_client._cache import Key
from wellspring_client.types import (
    ChangeEvent,
    Comment,
    CommentFilter,
    Post,
    PostFilter,
    User,
    UserFilter,
)

T = TypeVar("T")
F = TypeVar("F", bound=Mapping[str, Any])
_PLURAL_VERBS = ("BatchGet", "List", "Import", "Export")


@dataclass(frozen=True, slots=True)
class Owner:
    """An item's reference to what owns it: ``field`` holds the id of an item of ``collection``. The
    owner must exist, a delete of it is refused while it owns items, and a forced one deletes them."""

    field: str
    collection: str


@dataclass(frozen=True, slots=True, eq=False)
class Resource(Generic[T, F]):
    """One collection. ``owners`` are what an item belongs to (a comment: its post and its author): a
    forced delete of an owner deletes the items it owns, so the cache drops those collections too."""

    collection: str  # "users"; also the repeated field of List/BatchGet/Import/Export messages
    singular: str  # "User": method names are Get{singular}, BatchGet{singular}s, …
    api: ModuleType  # the generated *_service_pb2 module
    grpc_api: ModuleType  # the generated *_service_pb2_grpc module
    kind: type[T]  # the SDK's dataclass
    filter: type[F]  # what List and Export select by
    owners: tuple[Owner, ...] = ()
    field: str = dataclasses.field(
        init=False
    )  # "user": Create/Update and Watch events carry the resource in it
    message: type[Message] = dataclasses.field(init=False)
    converter: convert.Converter[T] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        message = getattr(pb, self.singular)
        object.__setattr__(self, "field", self.singular.lower())
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "converter", convert.Converter(self.kind, message))

    def method(self, verb: str) -> str:
        return f"{verb}{self.singular}{'s' if verb in _PLURAL_VERBS else ''}"

    def request(self, verb: str, **fields: Any) -> Any:
        return getattr(self.api, f"{self.method(verb)}Request")(**fields)

    def key(self, verb: str, request: Any) -> Key:
        return (self.collection, self.method(verb), request.SerializeToString(deterministic=True))

    def get_key(self, item_id: str) -> Key:
        return self.key("Get", self.request("Get", id=item_id))

    def from_pb(self, message: Any) -> T:
        return self.converter.from_pb(message)

    def to_pb(self, value: T) -> Any:
        return self.converter.to_pb(value)

    def items(self, response: Any) -> list[T]:
        """The resources a List/BatchGet/Export response carries."""
        return [self.converter.from_pb(m) for m in getattr(response, self.collection)]

    def stub(self, channel: Any) -> Any:
        """The generated service stub on ``channel``."""
        return getattr(self.grpc_api, f"{self.singular}ServiceStub")(channel)

    @property
    def can_force_delete(self) -> bool:
        """Does its Delete take ``force`` (it owns items of other collections)?"""
        return "force" in self.request("Delete").DESCRIPTOR.fields_by_name


USERS: Resource[User, UserFilter] = Resource(
    "users", "User", user_service_pb2, user_service_pb2_grpc, User, UserFilter
)
POSTS: Resource[Post, PostFilter] = Resource(
    "posts",
    "Post",
    post_service_pb2,
    post_service_pb2_grpc,
    Post,
    PostFilter,
    owners=(Owner("author_id", "users"),),
)
COMMENTS: Resource[Comment, CommentFilter] = Resource(
    "comments",
    "Comment",
    comment_service_pb2,
    comment_service_pb2_grpc,
    Comment,
    CommentFilter,
    owners=(Owner("post_id", "posts"), Owner("author_id", "users")),
)
RESOURCES: tuple[Resource[Any, Any], ...] = (USERS, POSTS, COMMENTS)
BY_COLLECTION: dict[str, Resource[Any, Any]] = {r.collection: r for r in RESOURCES}
_BY_EVENT_FIELD: dict[str, Resource[Any, Any]] = {r.field: r for r in RESOURCES}


def owned(collection: str) -> tuple[str, ...]:
    """The collections whose items a forced delete in ``collection`` deletes, directly or through them
    (a user's posts, and the comments on them and by the user), in registry order."""
    found: set[str] = set()
    frontier = {collection}
    while frontier:
        frontier = {r.collection for r in RESOURCES if frontier & {o.collection for o in r.owners}} - found
        found |= frontier
    return tuple(r.collection for r in RESOURCES if r.collection in found)


# --- what each write does to the cache ---------------------------------------------------------------------


class Effect(enum.Enum):
    """What a write does to the Get entry of the id it wrote (and, always, to every List/BatchGet of the
    collection, which is invalidated)."""

    STORE = "store"  # the written resource replaces its Get entry (read-your-writes, no extra RPC)
    REMOVE = "remove"  # the Get entry of the id goes
    COLLECTION = "collection"  # every query of the collection is invalidated (an import touches unknown ids)


@dataclass(frozen=True, slots=True)
class WriteEffect:
    """One write method's effect on the cache. ``cascade`` names collections invalidated as a whole when
    the request field ``when`` is true (or always, for None): a forced DeleteUser deletes the user's posts
    and comments. A write that fails ambiguously (it may have happened) invalidates the same things; a
    Conflict or NotFound removes the id's entry (the cached copy is stale)."""

    effect: Effect
    cascade: tuple[str, ...] = ()
    when: str | None = None

    def cascades(self, request: Any) -> tuple[str, ...]:
        """The collections to invalidate whole after ``request`` (None: its outcome is unknown)."""
        if self.when is None or request is None or getattr(request, self.when):
            return self.cascade
        return ()


def _effects(resource: Resource[Any, Any]) -> dict[str, WriteEffect]:
    deletes = WriteEffect(Effect.REMOVE, owned(resource.collection), "force")
    return {
        resource.method("Create"): WriteEffect(Effect.STORE),
        resource.method("Update"): WriteEffect(Effect.STORE),
        resource.method("Delete"): deletes if resource.can_force_delete else WriteEffect(Effect.REMOVE),
        resource.method("Import"): WriteEffect(Effect.COLLECTION),
    }


# Every write and what it does to the cache, in one table (nothing is left to the caller).
WRITE_EFFECTS: dict[str, WriteEffect] = {m: e for r in RESOURCES for m, e in _effects(r).items()}


# --- Watch events ------------------------------------------------------------------------------------------


def change_event(m: watch_pb.ChangeEvent) -> ChangeEvent:
    """A Watch event as the SDK's value; the resource is decoded by the registry entry its oneof names
    (an unknown, newer collection's resource is left out)."""
    which = m.WhichOneof("resource")
    resource = _BY_EVENT_FIELD.get(which) if which is not None else None
    value = resource.from_pb(getattr(m, which)) if resource is not None and which is not None else None
    return ChangeEvent(m.revision, convert.kind(m.kind), m.collection, m.id, value)


def newer(new: Any, old: Any) -> bool:
    """Is ``new`` the same version as ``old`` or a later one? Unsure counts as no (the entry is dropped)."""
    if new.etag == old.etag:
        return True
    if new.update_time is None or old.update_time is None:
        return False
    return bool(new.update_time > old.update_time)
