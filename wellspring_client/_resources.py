"""What the client needs to know per collection: request types, method names and conversions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wellspring.v1 import post_service_pb2 as posts_api
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as users_api

from wellspring_client import _convert as convert


@dataclass(frozen=True, slots=True)
class Resource:
    collection: str  # "users"; also the repeated field of List/BatchGet/Import/Export messages
    singular: str  # "User": method names are Get{singular}, BatchGet{singular}s, …
    field: str  # "user": Create/Update carry the resource in this field
    api: Any  # the generated *_service_pb2 module
    message: Any  # the resource's message class
    from_pb: Callable[[Any], Any]
    to_pb: Callable[[Any], Any]

    def method(self, verb: str) -> str:
        plural = verb in ("BatchGet", "List", "Import", "Export")
        return f"{verb}{self.singular}{'s' if plural else ''}"

    def request(self, verb: str, **fields: Any) -> Any:
        return getattr(self.api, f"{self.method(verb)}Request")(**fields)

    def key(self, verb: str, request: Any) -> tuple[str, str, bytes]:
        return (self.collection, self.method(verb), request.SerializeToString(deterministic=True))

    def get_key(self, item_id: str) -> tuple[str, str, bytes]:
        return self.key("Get", self.request("Get", id=item_id))


USERS = Resource("users", "User", "user", users_api, pb.User, convert.user_from_pb, convert.user_to_pb)
POSTS = Resource("posts", "Post", "post", posts_api, pb.Post, convert.post_from_pb, convert.post_to_pb)
BY_COLLECTION = {r.collection: r for r in (USERS, POSTS)}

# Every write and what it does to the cache, in one table (nothing is left to the caller):
#   "store"       the written resource replaces its Get entry (read-your-writes, no extra RPC)
#   "remove"      the Get entry of the id goes
#   "collection"  every query of the collection is invalidated (an import touches unknown ids)
# and, for all three, every List/BatchGet of the collection is invalidated. The second column names
# collections invalidated as a whole, when the request field in the third is true (or always, for None):
# a forced DeleteUser deletes the user's posts. A write that fails ambiguously (it may have happened)
# invalidates the same things; a Conflict or NotFound removes the id's entry (the cached copy is stale).
WRITE_EFFECTS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "CreateUser": ("store", (), None),
    "UpdateUser": ("store", (), None),
    "DeleteUser": ("remove", ("posts",), "force"),
    "ImportUsers": ("collection", (), None),
    "CreatePost": ("store", (), None),
    "UpdatePost": ("store", (), None),
    "DeletePost": ("remove", (), None),
    "ImportPosts": ("collection", (), None),
}


def newer(new: Any, old: Any) -> bool:
    """Is ``new`` the same version as ``old`` or a later one? Unsure counts as no (the entry is dropped)."""
    if new.etag == old.etag:
        return True
    if new.update_time is None or old.update_time is None:
        return False
    return bool(new.update_time > old.update_time)
