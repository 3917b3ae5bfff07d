"""The SDK's exceptions. gRPC errors are translated once, here, and ``grpc.RpcError`` never reaches callers.

::

    WellspringError                  every error the SDK raises: .code, .message, .reason, .metadata, .details
    ├── InvalidArgument              INVALID_ARGUMENT; .field_violations [(field, description)]
    ├── NotFound                     NOT_FOUND; .resource_names (the missing ids, for BatchGet too)
    ├── AlreadyExists                ALREADY_EXISTS (duplicate id or email)
    ├── Conflict                     ABORTED: etag mismatch or a write conflict; retry from a fresh read
    │                                (``Aborted`` is the same class)
    ├── FailedPrecondition           FAILED_PRECONDITION, e.g. deleting a user who has posts without force
    ├── OutOfRange                   OUT_OF_RANGE: a Watch from a compacted revision; .oldest_revision
    ├── PermissionDenied / Unauthenticated
    ├── ResourceExhausted            RESOURCE_EXHAUSTED; .retry_after_s, .resume_revision (slow watcher)
    ├── Unavailable                  UNAVAILABLE: the server cannot be reached or is shutting down;
    │                                .retry_after_s
    ├── DeadlineExceeded             the call's deadline passed (also raised by the SDK's own deadline)
    ├── Cancelled                    the call was cancelled
    └── ServerError                  anything else (UNKNOWN, INTERNAL, UNIMPLEMENTED, DATA_LOSS)

``details`` holds every unpacked ``google.rpc`` detail (ErrorInfo, BadRequest, PreconditionFailure,
ResourceInfo, RetryInfo) so nothing the server said is lost.
"""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "Aborted",
    "AlreadyExists",
    "Cancelled",
    "Conflict",
    "DeadlineExceeded",
    "FailedPrecondition",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "PermissionDenied",
    "ResourceExhausted",
    "ServerError",
    "Unauthenticated",
    "Unavailable",
    "WellspringError",
    "from_rpc_error",
]

_DETAIL_TYPES = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.ResourceInfo,
    error_details_pb2.RetryInfo,
)


class WellspringError(Exception):
    """Base of every SDK error; ``code`` is the gRPC status code name (e.g. ``"NOT_FOUND"``)."""

    code = "UNKNOWN"

    def __init__(self, message: str, *, code: str | None = None, details: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        info = self.detail(error_details_pb2.ErrorInfo)
        self.reason: str = info.reason if info else ""
        self.metadata: dict[str, str] = dict(info.metadata) if info else {}

    def detail(self, kind: type[Any]) -> Any:
        """The first detail of ``kind`` (a ``google.rpc`` message class), or None."""
        return next((d for d in self.details if isinstance(d, kind)), None)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidArgument(WellspringError):
    """The request was refused as invalid; ``field_violations`` says which fields and why."""

    code = "INVALID_ARGUMENT"

    @property
    def field_violations(self) -> list[tuple[str, str]]:
        """(field path, description) of each offending field, e.g. ``("user.email", "not an email")``."""
        found = self.detail(error_details_pb2.BadRequest)
        return [(v.field, v.description) for v in found.field_violations] if found else []


class NotFound(WellspringError):
    """The resource (or, for BatchGet, some of them) does not exist; ``resource_names`` names them."""

    code = "NOT_FOUND"

    @property
    def resource_names(self) -> list[str]:
        """The ids the server named as missing."""
        return [d.resource_name for d in self.details if isinstance(d, error_details_pb2.ResourceInfo)]


class AlreadyExists(WellspringError):
    """A resource with that id (or a user with that email) exists."""

    code = "ALREADY_EXISTS"


class Conflict(WellspringError):
    """ABORTED: the etag did not match, or the write lost a race; read again and retry."""

    code = "ABORTED"


Aborted = Conflict


class FailedPrecondition(WellspringError):
    """The system is not in a state that allows this call (e.g. a user who still has posts)."""

    code = "FAILED_PRECONDITION"


class OutOfRange(WellspringError):
    """A Watch asked for revisions that were compacted; start again from an Export."""

    code = "OUT_OF_RANGE"

    @property
    def oldest_revision(self) -> int | None:
        """The smallest ``start_revision`` the server still accepts."""
        value = self.metadata.get("oldest_revision")
        return int(value) if value else None


class PermissionDenied(WellspringError):
    """The caller's credentials do not allow this call."""

    code = "PERMISSION_DENIED"


class Unauthenticated(WellspringError):
    """The call carried no valid credentials."""

    code = "UNAUTHENTICATED"


class _RetryAfter(WellspringError):
    @property
    def retry_after_s(self) -> float | None:
        """The server's RetryInfo delay, if it sent one."""
        info = self.detail(error_details_pb2.RetryInfo)
        return info.retry_delay.seconds + info.retry_delay.nanos / 1e9 if info else None


class ResourceExhausted(_RetryAfter):
    """A limit was hit (e.g. a watcher too slow for its queue); ``resume_revision`` says where to resume."""

    code = "RESOURCE_EXHAUSTED"

    @property
    def resume_revision(self) -> int | None:
        """Where a watcher ended for being too slow should start again."""
        value = self.metadata.get("resume_revision")
        return int(value) if value else None


class Unavailable(_RetryAfter):
    """The server could not be reached, or is shutting down. Reads are retried for you."""

    code = "UNAVAILABLE"


class DeadlineExceeded(WellspringError):
    """The call's deadline passed before it completed (a write may still have happened)."""

    code = "DEADLINE_EXCEEDED"


class Cancelled(WellspringError):
    """The call was cancelled, or the client was closed while it waited."""

    code = "CANCELLED"


class ServerError(WellspringError):
    """UNKNOWN, INTERNAL, UNIMPLEMENTED, DATA_LOSS: nothing the caller can fix."""


_BY_CODE: dict[grpc.StatusCode, type[WellspringError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.ABORTED: Conflict,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
}


def _details(error: grpc.RpcError) -> tuple[Any, ...]:
    trailers: Any = error.trailing_metadata() or ()  # grpc.aio's Metadata or the sync stack's tuples
    raw = next((v for k, v in trailers if k == "grpc-status-details-bin"), None)
    if not isinstance(raw, bytes):
        return ()
    status = status_pb2.Status.FromString(raw)
    found: list[Any] = []
    for packed in status.details:
        for kind in _DETAIL_TYPES:
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                found.append(message)
    return tuple(found)


def from_rpc_error(error: grpc.RpcError) -> WellspringError:
    """The SDK error for a failed call, keeping its message and every status detail."""
    code = error.code()
    kind = _BY_CODE.get(code, ServerError)
    try:
        details = _details(error)
    except Exception:  # malformed details must not hide the error itself
        details = ()
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return kind(error.details() or name, code=name, details=details)
