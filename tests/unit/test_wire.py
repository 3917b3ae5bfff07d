"""The responses the servicers assemble from already-serialized bytes (``api.wire``) are byte for byte what
``SerializeToString()`` makes of the same message: every binding's BatchGet, List and Export response,
the WatchResponse and every collection's ChangeEvent. Payloads cross the varint length boundaries (one,
two, three and four bytes of length); tokens and ids carry non-ASCII text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf.message import Message
from wellspring.v1 import watch_service_pb2 as watch_pb

from service.api.bindings import BINDINGS, Binding
from service.api.convert import encode_event
from service.api.resources import ResourceApi
from service.api.watch import WatchServicer
from service.api.wire import Encoded, Shape, embedded, varint
from service.changes.feed import WatchBatch
from service.domain.specs import REGISTRY
from service.handlers.exports import ExportChunk
from service.repository.base import CREATED, DELETED, UPDATED
from tests.unit.test_resource_handlers import sample, text_field

BINDING = pytest.mark.parametrize("binding", list(BINDINGS.values()), ids=list(BINDINGS))
# Text lengths whose encodings need length prefixes of 1, 2, 3 and 4 bytes (> 127, > 16383, > 2**21 - 1).
SIZES = (0, 1, 200, 20_000, 2_200_000)
TOKENS = ("", "t", "ünïcødé-𝄞-トークン", "x" * 300)
REVISIONS = (0, 1, 127, 128, 16_384, 2**35, 2**63 - 1)


def message(binding: Binding, n: int, text_len: int) -> Message:
    """A resource of the binding's collection whose free text field holds ``text_len`` characters (some
    multi-byte), its other fields sampled."""
    spec = binding.spec
    fields = spec.fields(**{name: sample(spec, name, n) for name in spec.writable})
    item = spec.new(f"id-{n}", fields, 1_700_000_000_000_000 + n, n + 1)
    proto = binding.to_proto(item)
    setattr(proto, text_field(spec), ("aé𝄞" * text_len)[:text_len])
    return proto


def resources(binding: Binding) -> list[Message]:
    return [message(binding, n, size) for n, size in enumerate(SIZES)]


class _Context:
    """What the servicers ask of a gRPC context here: no deadline, a peer."""

    def time_remaining(self) -> float | None:
        return None

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    def cancelled(self) -> bool:
        return False


class _Serving:
    """Stands in for ResourceHandlers: answers every read with the given serialized resources."""

    def __init__(self, payloads: list[bytes], token: str = "", revision: int = 0) -> None:
        self.payloads, self.token, self.revision = payloads, token, revision

    async def batch_get_encoded(self, ids: Any, deadline: Any, max_bytes: Any) -> list[bytes]:
        return self.payloads

    async def list_encoded(self, cmd: Any, max_bytes: Any, deadline: Any) -> tuple[list[bytes], str]:
        return self.payloads, self.token

    async def export_encoded(self, cmd: Any, max_bytes: Any) -> AsyncIterator[ExportChunk]:
        yield ExportChunk(self.payloads, self.revision, "last")


def _api(binding: Binding, serving: _Serving) -> ResourceApi:
    return ResourceApi(binding, serving, max_response_bytes=1 << 30, export_max_s=60.0)  # type: ignore[arg-type]


def _data(reply: Any) -> bytes:
    assert isinstance(reply, Encoded), f"expected assembled bytes, got {type(reply).__name__}"
    return reply.data


@BINDING
@pytest.mark.parametrize("count", [0, 1, len(SIZES)])
async def test_batch_get_response(binding: Binding, count: int) -> None:
    items = resources(binding)[:count]
    api = _api(binding, _Serving([m.SerializeToString() for m in items]))
    request = binding.request("BatchGet")(ids=[m.id for m in items])  # type: ignore[attr-defined]
    got = _data(await api.batch_get(request, _Context()))
    expected = binding.response("BatchGet")(**{binding.spec.collection: items})
    assert got == expected.SerializeToString()


@BINDING
@pytest.mark.parametrize("token", TOKENS)
async def test_list_response_with_and_without_a_token(binding: Binding, token: str) -> None:
    items = resources(binding)
    api = _api(binding, _Serving([m.SerializeToString() for m in items], token=token))
    got = _data(await api.list_page(binding.request("List")(), _Context()))
    expected = binding.response("List")(**{binding.spec.collection: items, "next_page_token": token})
    assert got == expected.SerializeToString()


@BINDING
async def test_an_empty_list_page(binding: Binding) -> None:
    api = _api(binding, _Serving([], token="more"))
    got = _data(await api.list_page(binding.request("List")(), _Context()))
    assert got == binding.response("List")(next_page_token="more").SerializeToString()


@BINDING
@pytest.mark.parametrize("revision", REVISIONS)
async def test_export_response_at_every_revision(binding: Binding, revision: int) -> None:
    items = resources(binding)
    api = _api(binding, _Serving([m.SerializeToString() for m in items], revision=revision))
    replies = [r async for r in api.export(binding.request("Export")(), _Context())]
    expected = binding.response("Export")(**{binding.spec.collection: items, "revision": revision})
    assert [_data(r) for r in replies] == [expected.SerializeToString()]


@BINDING
def test_every_response_shape_against_protobuf(binding: Binding) -> None:
    """The shapes as the servicers declare them, for each verb that has one, directly."""
    items = resources(binding)
    payloads = [m.SerializeToString() for m in items]
    c = binding.spec.collection
    for verb, extra, values in (("BatchGet", None, [0]), ("List", "next_page_token", TOKENS)):
        shape = Shape(binding.response(verb), c, extra)
        for value in values:
            kwargs = {c: items} | ({extra: value} if extra else {})
            assert shape.encode(payloads, value).data == binding.response(verb)(**kwargs).SerializeToString()
    shape = Shape(binding.response("Export"), c, "revision")
    for revision in REVISIONS:
        expected = binding.response("Export")(**{c: items, "revision": revision})
        assert shape.encode(payloads, revision).data == expected.SerializeToString()


def _event(revision: int, kind: int, collection: str, resource_id: str, item: Message | None) -> bytes:
    fields: dict[str, Any] = {"revision": revision, "kind": kind, "collection": collection, "id": resource_id}
    if item is not None:
        fields[REGISTRY[collection].resource] = item
    return watch_pb.ChangeEvent(**fields).SerializeToString()


@BINDING
@pytest.mark.parametrize("revision", [1, 300, 2**40])
def test_encode_event_with_and_without_a_payload(binding: Binding, revision: int) -> None:
    c = binding.spec.collection
    for kind, item in [(DELETED, None), *((k, m) for k in (CREATED, UPDATED) for m in resources(binding))]:
        payload = None if item is None else item.SerializeToString()
        for resource_id in ("a", "ïd-𝄞"):
            expected = _event(revision, kind, c, resource_id, item)
            assert encode_event(revision, kind, c, resource_id, payload) == expected


def test_every_registered_collection_has_its_event_field() -> None:
    """encode_event puts the payload in the ChangeEvent field named after the resource: it must exist."""
    fields = watch_pb.ChangeEvent.DESCRIPTOR.fields_by_name
    for spec in REGISTRY:
        assert spec.resource in fields and fields[spec.resource].containing_oneof is not None


def _events() -> tuple[list[bytes], list[bytes]]:
    """Encoded events of every collection (as the feed holds them) and the same as protobuf built them."""
    wires, expected = [], []
    for binding in BINDINGS.values():
        c = binding.spec.collection
        for n, item in enumerate(resources(binding)):
            wires.append(encode_event(n + 1, UPDATED, c, item.id, item.SerializeToString()))
            expected.append(_event(n + 1, UPDATED, c, item.id, item))
        wires.append(encode_event(99, DELETED, c, "gone", None))
        expected.append(_event(99, DELETED, c, "gone", None))
    return wires, expected


class _Feed:
    def __init__(self, batches: list[WatchBatch]) -> None:
        self._batches = batches

    async def watch(self, cmd: Any, connection: str = "") -> AsyncIterator[WatchBatch]:
        for batch in self._batches:
            yield batch


@pytest.mark.parametrize("revision", REVISIONS)
async def test_watch_response_with_events_and_progress(revision: int) -> None:
    wires, expected_events = _events()
    batches = [WatchBatch(wires, revision), WatchBatch([], revision), WatchBatch(wires[:1], revision)]
    servicer = WatchServicer(_Feed(batches))  # type: ignore[arg-type]
    got = [_data(r) async for r in servicer.Watch(watch_pb.WatchRequest(), _Context())]  # type: ignore[arg-type]
    events = [watch_pb.ChangeEvent.FromString(e) for e in expected_events]
    expected = [
        watch_pb.WatchResponse(events=events, revision=revision),
        watch_pb.WatchResponse(revision=revision),
        watch_pb.WatchResponse(events=events[:1], revision=revision),
    ]
    assert got == [m.SerializeToString() for m in expected]


@pytest.mark.parametrize("n", [0, 1, 127, 128, 255, 16_383, 16_384, 2**21 - 1, 2**21, 2**28, 2**63 - 1])
def test_varint_is_protobuf_s(n: int) -> None:
    """An int64 field (WatchResponse.revision, field 2) is its tag (0x10) then protobuf's varint."""
    encoded = watch_pb.WatchResponse(revision=n).SerializeToString()
    assert encoded == (b"" if n == 0 else b"\x10" + varint(n))


@pytest.mark.parametrize("size", SIZES)
def test_embedded_is_a_sub_message_field(size: int) -> None:
    item = message(BINDINGS["users"], 1, size)
    wrapped = embedded(watch_pb.ChangeEvent.DESCRIPTOR, "user", item.SerializeToString())
    assert wrapped == watch_pb.ChangeEvent(user=item).SerializeToString()  # type: ignore[arg-type]


def test_compiled_conversions_see_only_what_they_are_given() -> None:
    """The per-collection conversions are compiled from field names; nothing else gets through."""
    from service.domain.specs import compiled

    assert compiled("F(m.a, tuple(m.b))", "m", F=lambda *v: v)(SimpleNamespace(a=1, b=[2])) == (1, (2,))
    for hostile in ("__import__('os')", "m.__class__", "m + 1", "open('x')"):
        with pytest.raises((ValueError, NameError)):
            compiled(hostile, "m")(SimpleNamespace())
