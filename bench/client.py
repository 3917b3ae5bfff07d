"""The Python client side: one synchronous channel, seeding through the public API, and the measured calls.

Every concurrency-1 figure uses this one client style (a sync ``grpc`` channel, one call at a time), so the
client's own per-call cost is the same on both sides of a ratio and largely cancels out.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from wellspring.v1 import post_service_pb2, resources_pb2, user_service_pb2
from wellspring.v1 import post_service_pb2_grpc as post_rpc
from wellspring.v1 import user_service_pb2_grpc as user_rpc

CALL_TIMEOUT_S = 10.0
SEED_USERS = 1000
SEED_POSTS = 20
BATCH_SIZE = 100
LIST_PAGE_SIZE = 50

GET_USER_METHOD = "/wellspring.v1.UserService/GetUser"
CHECK_METHOD = "/grpc.health.v1.Health/Check"

Op = Callable[[], object]


@dataclass
class Client:
    """Stubs over one loopback channel; close it when done so no background threads outlive the run."""

    channel: grpc.Channel
    health: health_pb2_grpc.HealthStub
    users: user_rpc.UserServiceStub
    posts: post_rpc.PostServiceStub
    metadata: tuple[tuple[str, str], ...] | None = None  # sent with every call but Check (a bearer token)

    def close(self) -> None:
        self.channel.close()


def connect(address: str, metadata: tuple[tuple[str, str], ...] | None = None) -> Client:
    """A plain-text channel that ignores any *_proxy environment: all traffic must stay on 127.0.0.1."""
    channel = grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)])
    grpc.channel_ready_future(channel).result(timeout=CALL_TIMEOUT_S)
    return Client(
        channel,
        health_pb2_grpc.HealthStub(channel),
        user_rpc.UserServiceStub(channel),
        post_rpc.PostServiceStub(channel),
        metadata,
    )


def user_id(index: int) -> str:
    return f"bench-user-{index:04d}"


def seed(client: Client, users: int = SEED_USERS, posts: int = SEED_POSTS) -> list[str]:
    """Create the data set through CreateUser/CreatePost, like any client would; returns the user ids."""
    ids = [user_id(i) for i in range(users)]
    for i, uid in enumerate(ids):
        user = resources_pb2.User(
            email=f"user{i}@bench.example",
            display_name=f"Bench User {i:04d}",
            bio=f"Seeded by the benchmark; user number {i} of {users}. " * 2,
        )
        client.users.CreateUser(
            user_service_pb2.CreateUserRequest(user=user, user_id=uid),
            timeout=CALL_TIMEOUT_S,
            metadata=client.metadata,
        )
    for i in range(posts):
        post = resources_pb2.Post(
            author_id=ids[i % len(ids)],
            title=f"Bench post {i}",
            body="Lorem ipsum " * 40,
            tags=["bench", f"t{i % 3}"],
        )
        client.posts.CreatePost(
            post_service_pb2.CreatePostRequest(post=post), timeout=CALL_TIMEOUT_S, metadata=client.metadata
        )
    return ids


def batch_ids(ids: list[str], size: int = BATCH_SIZE) -> list[str]:
    """``size`` ids spread evenly over the seeded ones."""
    return ids[:: max(1, len(ids) // size)][:size]


def check_op(client: Client) -> Op:
    """The no-op baseline: health Check goes through the same server, interceptor and access log."""
    request = health_pb2.HealthCheckRequest()
    check = client.health.Check
    return lambda: check(request, timeout=CALL_TIMEOUT_S)


def get_user_op(client: Client, ids: list[str]) -> Op:
    """GetUser cycling over warm seeded ids, requests built up front so only the call is timed."""
    requests: Iterator[user_service_pb2.GetUserRequest] = itertools.cycle(
        [user_service_pb2.GetUserRequest(id=i) for i in ids]
    )
    get = client.users.GetUser
    if client.metadata is not None:
        metadata = client.metadata
        return lambda: get(next(requests), timeout=CALL_TIMEOUT_S, metadata=metadata)
    return lambda: get(next(requests), timeout=CALL_TIMEOUT_S)


def sequential_gets_op(client: Client, ids: list[str]) -> Op:
    """The client-side loop BatchGetUsers replaces: one GetUser round trip per id."""
    requests = [user_service_pb2.GetUserRequest(id=i) for i in ids]
    get = client.users.GetUser

    def run() -> None:
        for request in requests:
            get(request, timeout=CALL_TIMEOUT_S)

    return run


def batch_get_op(client: Client, ids: list[str]) -> Op:
    request = user_service_pb2.BatchGetUsersRequest(ids=ids)
    batch_get = client.users.BatchGetUsers

    def run() -> None:
        reply = batch_get(request, timeout=CALL_TIMEOUT_S, metadata=client.metadata)
        if len(reply.users) != len(ids):  # a short answer would make the speedup meaningless
            raise AssertionError(f"BatchGetUsers returned {len(reply.users)} of {len(ids)} users")

    return run


def warm(client: Client, ids: list[str]) -> int:
    """BatchGetUsers over every id, ``BATCH_SIZE`` at a time, so each one is cached before it is timed (the
    cycling GetUser op reaches most ids only after the untimed warm-up rounds). Returns the calls made."""
    chunks = [ids[i : i + BATCH_SIZE] for i in range(0, len(ids), BATCH_SIZE)]
    for chunk in chunks:
        batch_get_op(client, chunk)()
    return len(chunks)


def list_users_op(client: Client, page_size: int = LIST_PAGE_SIZE) -> Op:
    """The first page in the default order: the most common list call."""
    request = user_service_pb2.ListUsersRequest(page_size=page_size)
    list_users = client.users.ListUsers

    def run() -> None:
        reply = list_users(request, timeout=CALL_TIMEOUT_S)
        if len(reply.users) != page_size:
            raise AssertionError(f"ListUsers returned {len(reply.users)} users, expected {page_size}")

    return run
