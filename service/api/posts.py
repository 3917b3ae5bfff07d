"""PostService: protobuf in, one use case, protobuf out."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
from google.protobuf import empty_pb2
from wellspring.v1 import post_service_pb2 as api
from wellspring.v1 import post_service_pb2_grpc as rpc
from wellspring.v1 import resources_pb2 as pb

from service.api.convert import (
    check_response_size,
    deadline_of,
    import_reply,
    import_stream,
    int_field_2,
    mask_paths,
    masked,
    optional_time_us,
    post_fields,
    post_to_proto,
    read_allowance,
    read_mask,
    repeated_field_1,
    string_field_2,
    update_mask,
)
from service.domain import commands
from service.handlers.exports import exporting
from service.handlers.posts import PostHandlers

_POST = pb.Post.DESCRIPTOR
Context = grpc.aio.ServicerContext


class PostServicer(rpc.PostServiceServicer):
    def __init__(
        self, posts: PostHandlers, *, max_response_bytes: int = 4 * 1024 * 1024, export_max_s: float = 900.0
    ) -> None:
        self._posts = posts
        self._max_response_bytes = max_response_bytes
        self._export_max_s = export_max_s

    async def GetPost(self, request: api.GetPostRequest, context: Context) -> pb.Post | bytes:
        mask = read_mask(request, _POST)
        payload = await self._posts.get_encoded(request.id, deadline_of(context))
        return payload if mask is None else masked(pb.Post.FromString(payload), mask)  # type: ignore[return-value]

    async def BatchGetPosts(
        self, request: api.BatchGetPostsRequest, context: Context
    ) -> api.BatchGetPostsResponse | bytes:
        mask = read_mask(request, _POST)
        allowance = read_allowance(self._max_response_bytes, mask)
        payloads = await self._posts.batch_get_encoded(list(request.ids), deadline_of(context), allowance)
        if mask is None:
            check_response_size(payloads, self._max_response_bytes)
            return repeated_field_1(payloads)
        shown = [masked(pb.Post.FromString(p), mask).SerializeToString() for p in payloads]
        check_response_size(shown, self._max_response_bytes)
        return repeated_field_1(shown)

    async def ListPosts(self, request: api.ListPostsRequest, context: Context) -> api.ListPostsResponse:
        mask = read_mask(request, _POST)
        cmd = commands.ListPosts(
            page_size=request.page_size,
            page_token=request.page_token,
            author_id=request.author_id,
            tag=request.tag,
            create_time_after_us=optional_time_us(request, "create_time_after"),
            create_time_before_us=optional_time_us(request, "create_time_before", round_up=True),
            order_by=request.order_by,
            read_mask=mask_paths(mask),
        )
        payloads, token = await self._posts.list_encoded(cmd, self._max_response_bytes, deadline_of(context))
        if mask is None:
            return repeated_field_1(payloads) + string_field_2(token)
        return api.ListPostsResponse(
            posts=[masked(pb.Post.FromString(x), mask) for x in payloads], next_page_token=token
        )

    async def CreatePost(self, request: api.CreatePostRequest, context: Context) -> pb.Post:
        post = request.post
        cmd = commands.CreatePost(post_fields(post), request.post_id, request.request_id, post.id)
        return post_to_proto(await self._posts.create(cmd, deadline_of(context)))

    async def UpdatePost(self, request: api.UpdatePostRequest, context: Context) -> pb.Post:
        post = request.post
        cmd = commands.UpdatePost(
            post.id, post_fields(post), update_mask(request), post.etag, request.allow_missing
        )
        return post_to_proto(await self._posts.update(cmd, deadline_of(context)))

    async def DeletePost(self, request: api.DeletePostRequest, context: Context) -> empty_pb2.Empty:
        await self._posts.delete(
            commands.DeletePost(request.id, request.etag, request.allow_missing), deadline_of(context)
        )
        return empty_pb2.Empty()

    async def ImportPosts(
        self, request_iterator: AsyncIterator[api.ImportPostsRequest], context: Context
    ) -> api.ImportPostsResponse:
        items = import_stream(request_iterator, "posts", post_fields, context)
        result = await self._posts.import_items(items, deadline_of(context))
        return api.ImportPostsResponse(**import_reply(result))

    async def ExportPosts(
        self, request: api.ExportPostsRequest, context: Context
    ) -> AsyncIterator[api.ExportPostsResponse | bytes]:
        mask = read_mask(request, _POST)
        cmd = commands.ListPosts(
            author_id=request.author_id,
            tag=request.tag,
            create_time_after_us=optional_time_us(request, "create_time_after"),
            create_time_before_us=optional_time_us(request, "create_time_before", round_up=True),
            read_mask=mask_paths(mask),
        )
        chunks = self._posts.export_encoded(cmd, self._max_response_bytes - 64)
        # Ends the snapshot transaction at once when the call is cancelled, stalls or runs too long.
        async with exporting(chunks, max_s=self._export_max_s) as progress:
            async for chunk in progress:
                payloads = chunk.payloads
                if mask is not None:
                    payloads = [masked(pb.Post.FromString(p), mask).SerializeToString() for p in payloads]
                yield repeated_field_1(payloads) + int_field_2(chunk.revision)
