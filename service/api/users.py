"""UserService: protobuf in, one use case, protobuf out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api
from wellspring.v1 import user_service_pb2_grpc as rpc

from service.api.convert import (
    check_response_size,
    deadline_of,
    import_reply,
    import_stream,
    int_field_2,
    mask_paths,
    masked,
    read_allowance,
    read_mask,
    repeated_field_1,
    string_field_2,
    update_mask,
    user_fields,
    user_to_proto,
)
from service.domain import commands
from service.handlers.exports import exporting
from service.handlers.users import UserHandlers

_USER = pb.User.DESCRIPTOR
Context = grpc.aio.ServicerContext


class UserServicer(rpc.UserServiceServicer):
    def __init__(
        self, users: UserHandlers, *, max_response_bytes: int = 4 * 1024 * 1024, export_max_s: float = 900.0
    ) -> None:
        self._users = users
        self._max_response_bytes = max_response_bytes
        self._export_max_s = export_max_s

    async def GetUser(self, request: api.GetUserRequest, context: Context) -> pb.User | bytes:
        mask = read_mask(request, _USER)
        payload = await self._users.get_encoded(request.id, deadline_of(context))
        return payload if mask is None else masked(pb.User.FromString(payload), mask)  # type: ignore[return-value]

    async def BatchGetUsers(
        self, request: api.BatchGetUsersRequest, context: Context
    ) -> api.BatchGetUsersResponse | bytes:
        mask = read_mask(request, _USER)
        allowance = read_allowance(self._max_response_bytes, mask)
        payloads = await self._users.batch_get_encoded(list(request.ids), deadline_of(context), allowance)
        if mask is None:
            check_response_size(payloads, self._max_response_bytes)
            return repeated_field_1(payloads)
        shown = [masked(pb.User.FromString(p), mask).SerializeToString() for p in payloads]
        check_response_size(shown, self._max_response_bytes)
        return repeated_field_1(shown)

    async def ListUsers(self, request: api.ListUsersRequest, context: Context) -> api.ListUsersResponse:
        mask = read_mask(request, _USER)
        cmd = commands.ListUsers(
            request.page_size, request.page_token, request.query, request.order_by, mask_paths(mask)
        )
        payloads, token = await self._users.list_encoded(cmd, self._max_response_bytes, deadline_of(context))
        if mask is None:
            return repeated_field_1(payloads) + string_field_2(token)
        return api.ListUsersResponse(
            users=[masked(pb.User.FromString(x), mask) for x in payloads], next_page_token=token
        )

    async def CreateUser(self, request: api.CreateUserRequest, context: Context) -> pb.User:
        user = request.user
        cmd = commands.CreateUser(user_fields(user), request.user_id, request.request_id, user.id)
        return user_to_proto(await self._users.create(cmd, deadline_of(context)))

    async def UpdateUser(self, request: api.UpdateUserRequest, context: Context) -> pb.User:
        user = request.user
        cmd = commands.UpdateUser(
            user.id, user_fields(user), update_mask(request), user.etag, request.allow_missing
        )
        return user_to_proto(await self._users.update(cmd, deadline_of(context)))

    async def DeleteUser(self, request: api.DeleteUserRequest, context: Context) -> empty_pb2.Empty:
        cmd = commands.DeleteUser(request.id, request.etag, request.force, request.allow_missing)
        await self._users.delete(cmd, deadline_of(context))
        return empty_pb2.Empty()

    async def ImportUsers(
        self, request_iterator: AsyncIterator[api.ImportUsersRequest], context: Context
    ) -> api.ImportUsersResponse:
        items = import_stream(request_iterator, "users", user_fields, context)
        result = await self._users.import_items(items, deadline_of(context))
        return api.ImportUsersResponse(**import_reply(result))

    async def ExportUsers(
        self, request: api.ExportUsersRequest, context: Context
    ) -> AsyncIterator[api.ExportUsersResponse | bytes]:
        mask = read_mask(request, _USER)
        cmd = commands.ListUsers(query=request.query, read_mask=mask_paths(mask))
        chunks = self._users.export_encoded(cmd, self._max_response_bytes - 64)
        # Ends the snapshot transaction at once when the call is cancelled, stalls or runs too long.
        async with exporting(chunks, max_s=self._export_max_s) as progress:
            async for chunk in progress:
                payloads = chunk.payloads
                if mask is not None:
                    payloads = [masked(pb.User.FromString(p), mask).SerializeToString() for p in payloads]
                yield repeated_field_1(payloads) + int_field_2(chunk.revision)
