"""The SDK's exception tree (wellspring_client/errors.py): ``from_rpc_error`` on grpc.RpcError-like
objects carrying the AIP-193 status details in the ``grpc-status-details-bin`` trailer."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2

from wellspring_client import errors
from wellspring_client.errors import from_rpc_error


class FakeRpcError(grpc.RpcError):
    """What grpc.aio raises: code(), details() and trailing_metadata()."""

    def __init__(self, code: grpc.StatusCode, message: str, trailers: Any = ()) -> None:
        self._code, self._message, self._trailers = code, message, trailers

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message

    def trailing_metadata(self) -> Any:
        return self._trailers


def rpc_error(code: grpc.StatusCode, message: str, *details: Any) -> FakeRpcError:
    status = status_pb2.Status(code=code.value[0], message=message)
    for detail in details:
        status.details.add().Pack(detail)
    trailers = (("content-type", "application/grpc"), ("grpc-status-details-bin", status.SerializeToString()))
    return FakeRpcError(code, message, trailers)


def info(reason: str, **metadata: str) -> error_details_pb2.ErrorInfo:
    return error_details_pb2.ErrorInfo(reason=reason, domain="wellspring", metadata=metadata)


def test_invalid_argument_keeps_reason_metadata_and_field_violations() -> None:
    bad = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="user.email", description="not an email"),
            error_details_pb2.BadRequest.FieldViolation(field="user.display_name", description="required"),
        ]
    )
    error = from_rpc_error(
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "invalid user", info("INVALID_USER", field="email"), bad)
    )

    assert type(error) is errors.InvalidArgument
    assert isinstance(error, errors.WellspringError)
    assert (error.code, error.message, str(error)) == (
        "INVALID_ARGUMENT",
        "invalid user",
        "INVALID_ARGUMENT: invalid user",
    )
    assert error.reason == "INVALID_USER"
    assert error.metadata == {"field": "email"}
    assert error.field_violations == [("user.email", "not an email"), ("user.display_name", "required")]
    assert error.detail(error_details_pb2.BadRequest) == bad


def test_not_found_names_the_missing_resources() -> None:
    missing = [error_details_pb2.ResourceInfo(resource_name=i, description="not found") for i in ("a", "b")]
    error = from_rpc_error(
        rpc_error(grpc.StatusCode.NOT_FOUND, "not found", info("RESOURCE_NOT_FOUND"), *missing)
    )

    assert type(error) is errors.NotFound
    assert error.resource_names == ["a", "b"]
    assert error.reason == "RESOURCE_NOT_FOUND"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.ABORTED, errors.Conflict),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.FailedPrecondition),
        (grpc.StatusCode.OUT_OF_RANGE, errors.OutOfRange),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
        (grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
        (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.CANCELLED, errors.Cancelled),
    ],
)
def test_each_code_has_its_class(code: grpc.StatusCode, kind: type[errors.WellspringError]) -> None:
    error = from_rpc_error(rpc_error(code, "m", info("R")))
    assert type(error) is kind
    assert error.code == code.name


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DATA_LOSS,
    ],
)
def test_other_codes_are_server_errors(code: grpc.StatusCode) -> None:
    error = from_rpc_error(rpc_error(code, "internal error; it has been logged", info("INTERNAL")))
    assert type(error) is errors.ServerError
    assert error.code == code.name


def test_aborted_is_conflict() -> None:
    assert errors.Aborted is errors.Conflict


def test_retry_and_resume_hints() -> None:
    delay = error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=2, nanos=250_000_000))
    unavailable = from_rpc_error(
        rpc_error(grpc.StatusCode.UNAVAILABLE, "shutting down", info("SHUTDOWN"), delay)
    )
    slow = from_rpc_error(
        rpc_error(
            grpc.StatusCode.RESOURCE_EXHAUSTED, "too slow", info("WATCHER_TOO_SLOW", resume_revision="42")
        )
    )
    compacted = from_rpc_error(
        rpc_error(grpc.StatusCode.OUT_OF_RANGE, "compacted", info("REVISION_COMPACTED", oldest_revision="7"))
    )

    assert unavailable.retry_after_s == pytest.approx(2.25)  # type: ignore[attr-defined]
    assert slow.resume_revision == 42  # type: ignore[attr-defined]
    assert compacted.oldest_revision == 7  # type: ignore[attr-defined]


def test_without_details_the_error_still_has_its_code_and_message() -> None:
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "", None))
    assert type(error) is errors.Unavailable
    assert (error.message, error.reason, error.metadata, error.details) == ("UNAVAILABLE", "", {}, ())
    assert error.retry_after_s is None  # type: ignore[attr-defined]


def test_malformed_details_do_not_hide_the_error() -> None:
    trailers = (("grpc-status-details-bin", b"\xff\xff not a status"),)
    error = from_rpc_error(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad", trailers))
    assert type(error) is errors.InvalidArgument
    assert (error.message, error.details, error.field_violations) == ("bad", (), [])
