"""Reading AIP-193 error details off a failed call; making valid resources of any registered collection."""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from typing import Any

import grpc
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from harness import HarnessError
from service.api.bindings import BINDINGS
from service.domain.specs import REGISTRY, CollectionSpec


def missing_tool(error: HarnessError, hint: str = "install the Debian package") -> None:
    """A harness tool the test needs is not installed: a skip, or a failure under REQUIRE_SERVICES; any
    other harness error fails."""
    if hint in str(error) and os.environ.get("REQUIRE_SERVICES") != "1":
        pytest.skip(str(error))
    pytest.fail(str(error))


def details(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """ErrorInfo, BadRequest, PreconditionFailure, ResourceInfo… unpacked by type name."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "every error carries google.rpc.Status details"
    found: dict[str, Any] = {}
    for any_detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ResourceInfo,
            error_details_pb2.RetryInfo,
        ):
            if any_detail.Is(kind.DESCRIPTOR):
                message = kind()
                any_detail.Unpack(message)
                found.setdefault(kind.DESCRIPTOR.name, []).append(message)
    info = found["ErrorInfo"][0]
    assert info.domain == "wellspring" and info.reason
    return found


async def fails(call: Any, code: grpc.StatusCode) -> dict[str, Any]:
    """Await ``call``, expect ``code``, return its details."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, (error.code(), error.details())
        return details(error)
    raise AssertionError(f"expected {code}, the call succeeded")


def violated_fields(found: dict[str, Any]) -> list[str]:
    return [v.field for br in found.get("BadRequest", []) for v in br.field_violations]


# --------------------------------------------------------------------------------------------------------
# Every registered collection, through its generated messages and stubs (DESIGN §7): the generic tests
# (fuzz, history checker, watch checker) iterate the registry with these instead of naming collections.


def parents_first() -> list[CollectionSpec[Any, Any]]:
    """The registered collections, each after every collection it refers to (creates need parents)."""
    ordered: list[CollectionSpec[Any, Any]] = []

    def visit(spec: CollectionSpec[Any, Any]) -> None:
        if spec not in ordered:
            for ref in spec.references:
                visit(REGISTRY[ref.collection])
            ordered.append(spec)

    for spec in REGISTRY:
        visit(spec)
    return ordered


def stubs(channel: grpc.aio.Channel) -> dict[str, Any]:
    """Each collection's generated ``{Resource}ServiceStub`` on ``channel``, by collection."""
    found = {}
    for spec in REGISTRY:
        binding = BINDINGS[spec.collection]
        found[spec.collection] = getattr(binding.rpc, f"{binding.service.name}Stub")(channel)
    return found


def _text_candidates(tag: str, flavour: str) -> tuple[str, ...]:
    """What a text field may get, most interesting first; the spec's own check picks the first it takes."""
    return (f"{flavour}{tag}", tag, f"{tag}@example.com", f"{tag}@x.io")


def valid_fields(
    spec: CollectionSpec[Any, Any], parents: Mapping[str, str], tag: str, flavour: str = ""
) -> Any:
    """Fields of ``spec`` its validation accepts, derived from the spec alone: each reference names
    ``parents[its collection]``, every other field carries ``tag`` (unique per call, so unique fields
    stay unique), with ``flavour`` (odd but valid text) where the field takes it. A field whose shape
    the spec's check wants (an email, say) gets the first candidate the check does not refuse."""
    references = {ref.field: parents[ref.collection] for ref in spec.references}
    chosen: dict[str, Any] = {}
    for f in dataclasses.fields(spec.fields):
        if f.name in references:
            chosen[f.name] = references[f.name]
            continue
        as_list = isinstance(f.default, tuple)
        candidates = [(c, "common") if as_list else c for c in _text_candidates(tag, flavour)]
        chosen[f.name] = next(
            (c for c in candidates if _accepted(spec, {**chosen, f.name: c}, f.name)), candidates[0]
        )
    return spec.fields(**chosen)


def _accepted(spec: CollectionSpec[Any, Any], values: dict[str, Any], name: str) -> bool:
    fields = spec.normalize(spec.fields(**values))
    path = f"{spec.resource}.{name}"
    return not any(
        v.field == path or v.field.startswith(f"{path}[") for v in spec.check(fields, spec.resource)
    )


def changeable(spec: CollectionSpec[Any, Any]) -> str:
    """The field an update of ``spec`` changes: free text, neither a reference nor unique."""
    fixed = {ref.field for ref in spec.references} | set(spec.unique)
    return next(name for name in spec.writable if name not in fixed)


def resource_message(collection: str, fields: Any, item_id: str = "", etag: str = "") -> Message:
    """The collection's resource message with ``fields`` (a spec's fields value) set."""
    binding = BINDINGS[collection]
    values = {name: getattr(fields, name) for name in binding.spec.writable}
    return binding.message(id=item_id, etag=etag, **values)


def create_request(collection: str, fields: Any, chosen_id: str = "", request_id: str = "") -> Message:
    binding = BINDINGS[collection]
    resource = binding.spec.resource
    return binding.request("Create")(
        **{resource: resource_message(collection, fields), f"{resource}_id": chosen_id},
        request_id=request_id,
    )


def update_request(
    collection: str, item_id: str, values: Mapping[str, Any], paths: tuple[str, ...] | None = None
) -> Message:
    """An Update of the named fields of ``item_id`` (``paths``: the update mask; None: the fields set)."""
    binding = BINDINGS[collection]
    request = binding.request("Update")(**{binding.spec.resource: binding.message(id=item_id, **values)})
    if paths is not None:
        request.update_mask.paths.extend(paths)
    return request


def delete_request(collection: str, item_id: str, force: bool = False) -> Message:
    """A Delete; ``force`` where the collection's Delete has it (only referred-to collections do)."""
    cls = BINDINGS[collection].request("Delete")
    return cls(id=item_id, force=force) if "force" in cls.DESCRIPTOR.fields_by_name else cls(id=item_id)


def update_time_us(resource: Message) -> int:
    """A resource's update_time in µs: its version as the history and watch checkers compare it."""
    stamp = resource.update_time  # type: ignore[attr-defined]
    return int(stamp.seconds) * 1_000_000 + int(stamp.nanos) // 1000


async def create_with_parents(
    stubs_: Mapping[str, Any],
    collection: str,
    tag: str,
    parents: Mapping[str, str] | None = None,
    chosen_id: str = "",
    timeout_s: float = 10,
) -> dict[str, str]:
    """Create one ``collection`` resource, first creating one of each referenced collection ``parents``
    does not name (and so on up). Returns {collection: id} of the new resource and every parent used."""
    ids = dict(parents or {})
    spec = REGISTRY[collection]
    for ref in spec.references:
        if ref.collection not in ids:
            ids.update(await create_with_parents(stubs_, ref.collection, tag, ids, timeout_s=timeout_s))
    fields = valid_fields(spec, ids, f"{tag}-{secrets.token_hex(4)}")
    create = getattr(stubs_[collection], BINDINGS[collection].method("Create"))
    created = await create(create_request(collection, fields, chosen_id), timeout=timeout_s)
    ids[collection] = created.id
    return ids
