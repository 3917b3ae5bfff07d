"""Each registered collection's protobuf side: its message, its service module and generated stubs. The
rest follows the API's naming rules (DESIGN §2): ``{Resource}Service``, ``Get{Resource}Request``,
``BatchGet{Resource}s…``, the resource in a field named ``{resource}``, ``{resource}_id`` on Create,
the items in a field named after the collection."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from wellspring.v1 import comment_service_pb2, post_service_pb2, resources_pb2, user_service_pb2
from wellspring.v1 import comment_service_pb2_grpc as comment_rpc
from wellspring.v1 import post_service_pb2_grpc as post_rpc
from wellspring.v1 import user_service_pb2_grpc as user_rpc

from service.domain.specs import REGISTRY, CollectionSpec, compiled

_TIMES = ("create_time", "update_time")


def _ts(us: int) -> Timestamp:
    seconds, micros = divmod(us, 1_000_000)
    return Timestamp(seconds=seconds, nanos=micros * 1000)


@dataclass(frozen=True, eq=False)
class Binding:
    """One collection's messages and stubs, and its domain <-> protobuf conversions."""

    spec: CollectionSpec[Any, Any]
    message: type[Message]
    api: ModuleType  # the generated *_service_pb2 module
    rpc: ModuleType  # the generated *_service_pb2_grpc module

    @property
    def singular(self) -> str:
        return self.message.DESCRIPTOR.name

    @property
    def service(self) -> ServiceDescriptor:
        descriptor: ServiceDescriptor = self.api.DESCRIPTOR.services_by_name[f"{self.singular}Service"]
        return descriptor

    def method(self, verb: str) -> str:
        plural = verb in ("BatchGet", "List", "Import", "Export")
        return f"{verb}{self.singular}{'s' if plural else ''}"

    def request(self, verb: str) -> type[Message]:
        cls: type[Message] = getattr(self.api, f"{self.method(verb)}Request")
        return cls

    def response(self, verb: str) -> type[Message]:
        cls: type[Message] = getattr(self.api, f"{self.method(verb)}Response")
        return cls

    def to_proto(self, item: Any) -> Message:
        """The resource message of a domain item (the hot path of every Export and write)."""
        return self._to_proto(item)

    def encode(self, item: Any) -> bytes:
        return self._to_proto(item).SerializeToString()

    def fields(self, message: Any) -> Any:
        """The client-writable fields a resource message carries, as the spec's fields value."""
        return self._fields(message)

    @functools.cached_property
    def _to_proto(self) -> Callable[[Any], Message]:
        names = ("id", *self.spec.writable)
        times = ", ".join(f"{t}=_ts(item.{t}_us)" for t in _TIMES)
        return compiled(
            f"M({', '.join(f'{n}=item.{n}' for n in names)}, {times}, etag=item.etag)",
            "item",
            M=self.message,
            _ts=_ts,
        )

    @functools.cached_property
    def _fields(self) -> Callable[[Any], Any]:
        by_name = self.message.DESCRIPTOR.fields_by_name
        read = [f"tuple(m.{n})" if by_name[n].is_repeated else f"m.{n}" for n in self.spec.writable]
        return compiled(f"F({', '.join(read)})", "m", F=self.spec.fields)


BINDINGS: dict[str, Binding] = {
    "users": Binding(REGISTRY["users"], resources_pb2.User, user_service_pb2, user_rpc),
    "posts": Binding(REGISTRY["posts"], resources_pb2.Post, post_service_pb2, post_rpc),
    "comments": Binding(REGISTRY["comments"], resources_pb2.Comment, comment_service_pb2, comment_rpc),
}
