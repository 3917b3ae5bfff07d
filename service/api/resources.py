"""The servicers of every collection: protobuf in, one use case, protobuf out — written once.

``ResourceApi`` translates the eight standard methods of one collection (its binding says which messages);
``servicer`` makes an instance of the generated ``{Resource}ServiceServicer`` base class whose PascalCase
methods are each one line calling it, so grpc's idiom (and reflection, and the generated registration
function) stays as the generated code expects it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf import empty_pb2
from google.protobuf.message import Message

from service.api.auth import current_principal
from service.api.bindings import Binding
from service.api.convert import (
    check_response_size,
    deadline_of,
    import_reply,
    import_stream,
    mask_paths,
    masked,
    optional_time_us,
    read_allowance,
    read_mask,
    update_mask,
)
from service.api.grpc_types import Context
from service.api.privacy import PrivateFields, private_fields
from service.api.wire import Encoded, Shape
from service.domain import commands
from service.domain.models import Principal
from service.domain.specs import FilterKind
from service.handlers.exports import exporting
from service.handlers.resource import ResourceHandlers

Reply = Message | Encoded[Message]


class ResourceApi:
    """One collection's standard methods, from request message to response message."""

    def __init__(
        self,
        binding: Binding,
        handlers: ResourceHandlers[Any, Any],
        *,
        max_response_bytes: int,
        export_max_s: float,
    ) -> None:
        self._b = binding
        self._h = handlers
        self._message = binding.message
        self._descriptor = binding.message.DESCRIPTOR
        self._max_response_bytes = max_response_bytes
        self._export_max_s = export_max_s
        self._field = binding.spec.resource  # Create/Update carry the resource in this field
        self._items = binding.spec.collection  # BatchGet/List/Import/Export carry items in this field
        self._batch = Shape(binding.response("BatchGet"), self._items)
        self._page = Shape(binding.response("List"), self._items, "next_page_token")
        self._list_response = binding.response("List")
        self._chunk = Shape(binding.response("Export"), self._items, "revision")
        self._import_response = binding.response("Import")
        self._has_force = "force" in binding.request("Delete").DESCRIPTOR.fields_by_name
        self._private = private_fields(binding.spec, binding.message)

    def _viewer(self) -> tuple[PrivateFields, Principal] | None:
        """The collection's private fields and the caller, when what the caller is shown depends on who
        it is (None: everything is shown — no private fields, an admin, or authentication off)."""
        if self._private is None:
            return None
        viewer = current_principal()
        return None if viewer is None or viewer.admin else (self._private, viewer)

    async def get(self, request: Any, context: Context) -> Reply:
        mask = read_mask(request, self._descriptor)
        payload = await self._h.get_encoded(request.id, deadline_of(context))
        privacy = self._viewer()
        if privacy is not None:
            private, viewer = privacy
            if not (private.owns_id and request.id == viewer.subject):  # the owner's own: nothing to read
                payload = private.view(payload, viewer)
        return Encoded(payload) if mask is None else self._masked(payload, mask)

    async def batch_get(self, request: Any, context: Context) -> Reply:
        mask = read_mask(request, self._descriptor)
        allowance = read_allowance(self._max_response_bytes, mask)
        payloads = await self._h.batch_get_encoded(list(request.ids), deadline_of(context), allowance)
        privacy = self._viewer()
        if privacy is not None:
            private, viewer = privacy
            own = viewer.subject if private.owns_id else None
            view = private.view
            payloads = [
                p if i == own else view(p, viewer) for i, p in zip(request.ids, payloads, strict=True)
            ]
        if mask is not None:
            payloads = [self._masked(p, mask).SerializeToString() for p in payloads]
        check_response_size(payloads, self._max_response_bytes)
        return self._batch.encode(payloads)

    async def list_page(self, request: Any, context: Context) -> Reply:
        mask = read_mask(request, self._descriptor)
        privacy = self._viewer()
        cmd = commands.ListItems(
            request.page_size,
            request.page_token,
            self._filters(request),
            request.order_by,
            mask_paths(mask),
            search_private=privacy is None,
        )
        payloads, token = await self._h.list_encoded(cmd, self._max_response_bytes, deadline_of(context))
        if privacy is not None:
            payloads = privacy[0].views(payloads, privacy[1])
        if mask is None:
            return self._page.encode(payloads, token)
        shown = [self._masked(p, mask) for p in payloads]
        return self._list_response(**{self._items: shown, "next_page_token": token})

    async def create(self, request: Any, context: Context) -> Reply:
        given = getattr(request, self._field)
        chosen = getattr(request, f"{self._field}_id")
        fields = self._b.fields(given)
        cmd = commands.CreateItem(fields, chosen, request.request_id, given.id, current_principal())
        return self._b.to_proto(await self._h.create(cmd, deadline_of(context)))

    async def update(self, request: Any, context: Context) -> Reply:
        given = getattr(request, self._field)
        cmd = commands.UpdateItem(
            given.id,
            self._b.fields(given),
            update_mask(request),
            given.etag,
            request.allow_missing,
            current_principal(),
        )
        return self._b.to_proto(await self._h.update(cmd, deadline_of(context)))

    async def delete(self, request: Any, context: Context) -> Reply:
        force = self._has_force and request.force
        cmd = commands.DeleteItem(request.id, request.etag, force, request.allow_missing, current_principal())
        await self._h.delete(cmd, deadline_of(context))
        return empty_pb2.Empty()

    async def import_items(self, requests: AsyncIterator[Any], context: Context) -> Reply:
        items = import_stream(requests, self._items, self._b.fields, context)
        result = await self._h.import_items(items, deadline_of(context), current_principal())
        return self._import_response(**import_reply(result))

    async def export(self, request: Any, context: Context) -> AsyncIterator[Reply]:
        mask = read_mask(request, self._descriptor)
        privacy = self._viewer()
        cmd = commands.ListItems(
            filters=self._filters(request), read_mask=mask_paths(mask), search_private=privacy is None
        )
        chunks = self._h.export_encoded(cmd, self._max_response_bytes - 64)
        # Ends the snapshot transaction at once when the call is cancelled, stalls or runs too long.
        async with exporting(chunks, max_s=self._export_max_s) as progress:
            async for chunk in progress:
                payloads = chunk.payloads
                if privacy is not None:
                    payloads = privacy[0].views(payloads, privacy[1])
                if mask is not None:
                    payloads = [self._masked(p, mask).SerializeToString() for p in payloads]
                yield self._chunk.encode(payloads, chunk.revision)

    def _filters(self, request: Any) -> tuple[tuple[str, commands.FilterValue], ...]:
        """The spec's filters as the request sets them (times as µs; an exclusive end rounds up)."""
        found: list[tuple[str, commands.FilterValue]] = []
        for flt in self._b.spec.filters:
            if flt.is_time:
                value = optional_time_us(request, flt.name, round_up=flt.kind is FilterKind.BEFORE)
            else:
                value = getattr(request, flt.name)
            found.append((flt.name, value))
        return tuple(found)

    def _masked(self, payload: bytes, mask: Any) -> Message:
        return masked(self._message.FromString(payload), mask)


def servicer(binding: Binding, api: ResourceApi) -> Any:
    """An instance of the collection's generated servicer base class, each method one line into ``api``
    (Export an async generator, as the interceptor streams those)."""

    def unary(call: Callable[[Any, Context], Any]) -> Callable[..., Any]:
        async def method(self: Any, request: Any, context: Context) -> Reply:
            return await call(request, context)  # type: ignore[no-any-return]

        return method

    # Export is ``api.export`` itself, not a generator re-yielding it: the interceptor throws a stall
    # into the generator it streams, and only ``api.export`` holds the ``exporting`` block that answers it.
    export = property(lambda self: api.export)

    methods: dict[str, Any] = {
        binding.method("Get"): unary(api.get),
        binding.method("BatchGet"): unary(api.batch_get),
        binding.method("List"): unary(api.list_page),
        binding.method("Create"): unary(api.create),
        binding.method("Update"): unary(api.update),
        binding.method("Delete"): unary(api.delete),
        binding.method("Import"): unary(api.import_items),
        binding.method("Export"): export,
    }
    base = getattr(binding.rpc, f"{binding.singular}ServiceServicer")
    return type(f"{binding.singular}Servicer", (base,), methods)()


def add_to_server(binding: Binding, api: ResourceApi, server: grpc.aio.Server) -> None:
    """Register the collection's service with the generated registration function."""
    getattr(binding.rpc, f"add_{binding.singular}ServiceServicer_to_server")(servicer(binding, api), server)
