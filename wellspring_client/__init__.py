"""The Python SDK of Wellspring: typed calls over one gRPC channel, with a query cache.

::

    async with WellspringClient("127.0.0.1:50051", watch=True) as client:
        ada = await client.users.create(User(email="ada@example.com", display_name="Ada"), id="ada")
        same = await client.users.get("ada")                    # from the cache: no RPC
        post = await client.posts.create(Post(author_id="ada", title="Notes"))
        await client.comments.create(Comment(post_id=post.id, author_id="ada", body="First!"))
        async for c in client.comments.list(CommentFilter(post_id=post.id)):  # every page
            ...

Each collection is a ``ResourceClient`` (``client.users``, ``client.posts``, ``client.comments``; all of
them in ``client.resources``); the older per-collection names (``get_user``, ``list_posts``…) remain.

Errors are the classes of ``wellspring_client.errors`` (see its docstring for the tree).
"""

from importlib.metadata import PackageNotFoundError, version

from wellspring_client._cache import CacheStats, Key
from wellspring_client._collection import Export, ResourceClient
from wellspring_client._retry import RetryPolicy
from wellspring_client.client import WellspringClient
from wellspring_client.errors import (
    Aborted,
    AlreadyExists,
    Cancelled,
    Conflict,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    OutOfRange,
    PermissionDenied,
    ResourceExhausted,
    ServerError,
    Unauthenticated,
    Unavailable,
    WellspringError,
)
from wellspring_client.options import CacheOptions, ChannelOptions, Timing
from wellspring_client.sync import SyncExport, SyncResourceClient, SyncWellspringClient
from wellspring_client.tokens import Token, TokenProvider
from wellspring_client.transport import GrpcTransport, Transport
from wellspring_client.types import (
    ChangeEvent,
    Comment,
    CommentFilter,
    ImportFailure,
    ImportResult,
    Page,
    Post,
    PostFilter,
    User,
    UserFilter,
)

try:
    __version__ = version("wellspring-client")
except PackageNotFoundError:  # a checkout installed as the main distribution ("wellspring") carries it too
    try:
        __version__ = version("wellspring")
    except PackageNotFoundError:
        __version__ = "0+unknown"

__all__ = [
    "Aborted",
    "AlreadyExists",
    "CacheOptions",
    "CacheStats",
    "Cancelled",
    "ChangeEvent",
    "ChannelOptions",
    "Comment",
    "CommentFilter",
    "Conflict",
    "DeadlineExceeded",
    "Export",
    "FailedPrecondition",
    "GrpcTransport",
    "ImportFailure",
    "ImportResult",
    "InvalidArgument",
    "Key",
    "NotFound",
    "OutOfRange",
    "Page",
    "PermissionDenied",
    "Post",
    "PostFilter",
    "ResourceClient",
    "ResourceExhausted",
    "RetryPolicy",
    "ServerError",
    "SyncExport",
    "SyncResourceClient",
    "SyncWellspringClient",
    "Timing",
    "Token",
    "TokenProvider",
    "Transport",
    "Unauthenticated",
    "Unavailable",
    "User",
    "UserFilter",
    "WellspringClient",
    "WellspringError",
    "__version__",
]
