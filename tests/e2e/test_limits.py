"""Responses stay sendable whatever valid data is stored: List pages are cut short, BatchGet refuses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from wellspring.v1 import post_service_pb2 as api
from wellspring.v1 import post_service_pb2_grpc, user_service_pb2, user_service_pb2_grpc
from wellspring.v1 import resources_pb2 as pb

from service.bootstrap import App
from tests.conftest import sqlite_url_for, start_app
from tests.e2e.helpers import fails

LIMIT = 1024 * 1024


@pytest.fixture
async def small_app(tmp_path: Path) -> AsyncIterator[App]:
    app = await start_app(sqlite_url_for(tmp_path), max_response_bytes=LIMIT)
    try:
        yield app
    finally:
        await app.stop(0)


async def test_pages_of_large_posts_are_cut_short_and_nothing_is_lost(small_app: App) -> None:
    async with grpc.aio.insecure_channel(small_app.address) as channel:
        users = user_service_pb2_grpc.UserServiceStub(channel)
        posts = post_service_pb2_grpc.PostServiceStub(channel)
        author = await users.CreateUser(
            user_service_pb2.CreateUserRequest(user=pb.User(email="big@example.com", display_name="Big"))
        )
        body = "é" * 100_000  # 200 kB each, within the documented 100 000-character limit
        ids = [
            (
                await posts.CreatePost(
                    api.CreatePostRequest(post=pb.Post(author_id=author.id, title="t", body=body))
                )
            ).id
            for _ in range(8)
        ]
        seen, token, pages = [], "", 0
        while True:
            page = await posts.ListPosts(api.ListPostsRequest(page_token=token))
            assert page.ByteSize() <= LIMIT
            seen += [p.id for p in page.posts]
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert seen == ids and pages >= 2
        found = await fails(
            posts.BatchGetPosts(api.BatchGetPostsRequest(ids=ids)), grpc.StatusCode.INVALID_ARGUMENT
        )
        assert found["ErrorInfo"][0].reason == "RESPONSE_TOO_LARGE"
        small = await posts.BatchGetPosts(
            api.BatchGetPostsRequest(ids=ids, read_mask=field_mask_pb2.FieldMask(paths=["id", "title"]))
        )
        assert [p.id for p in small.posts] == ids
