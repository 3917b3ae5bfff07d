"""Each registered collection's protobuf side: its message, its service module and generated stubs. The
rest follows the API's naming rules (DESIGN §2): ``{Resource}Service``, ``Get{Resource}Request``,
``BatchGet{Resource}s…``, the resource in a field named ``{resource}``, ``{resource}_id`` on Create,
the items in a field named after the collection."""

from __future__ import annotations

import functools
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

from service.domain.specs import REGISTRY, CollectionSpec

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

    @functools.cached_property
    def _repeated(self) -> frozenset[str]:
        fields = self.message.DESCRIPTOR.fields_by_name
        return frozenset(n for n in self.spec.writable if fields[n].is_repeated)

    def to_proto(self, item: Any) -> Message:
        values = {n: getattr(item, n) for n in ("id", *self.spec.writable)}
        for name in _TIMES:
            values[name] = _ts(getattr(item, f"{name}_us"))
        return self.message(**values, etag=item.etag)

    def encode(self, item: Any) -> bytes:
        return self.to_proto(item).SerializeToString()

    def fields(self, message: Any) -> Any:
        """The client-writable fields a resource message carries, as the spec's fields value."""
        repeated = self._repeated
        return self.spec.fields(
            *(
                tuple(getattr(message, n)) if n in repeated else getattr(message, n)
                for n in self.spec.writable
            )
        )


BINDINGS: dict[str, Binding] = {
    "users": Binding(REGISTRY["users"], resources_pb2.User, user_service_pb2, user_rpc),
    "posts": Binding(REGISTRY["posts"], resources_pb2.Post, post_service_pb2, post_rpc),
    "comments": Binding(REGISTRY["comments"], resources_pb2.Comment, comment_service_pb2, comment_rpc),
}
