"""The Python SDK of Wellspring: typed calls over one gRPC channel, with a query cache.

::

    async with WellspringClient("127.0.0.1:50051", watch=True) as client:
        user = await client.create_user(User(email="ada@example.com", display_name="Ada"), user_id="ada")
        same = await client.get_user("ada")            # from the cache: no RPC
        async for u in client.list_users(query="ad"):  # every page
            ...

Errors are the classes of ``wellspring_client.errors`` (see its docstring for the tree).
"""

from importlib.metadata import PackageNotFoundError, version

from wellspring_client.cache import CacheStats, Key
from wellspring_client.client import Export, WellspringClient
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
from wellspring_client.retry import RetryPolicy
from wellspring_client.sync import SyncExport, SyncWellspringClient
from wellspring_client.transport import GrpcTransport, Transport
from wellspring_client.types import ChangeEvent, ImportFailure, ImportResult, Page, Post, User

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
    "CacheStats",
    "Cancelled",
    "ChangeEvent",
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
    "ResourceExhausted",
    "RetryPolicy",
    "ServerError",
    "SyncExport",
    "SyncWellspringClient",
    "Transport",
    "Unauthenticated",
    "Unavailable",
    "User",
    "WellspringClient",
    "WellspringError",
    "__version__",
]
