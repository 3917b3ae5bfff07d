"""The one error table: statuses and AIP-193 details, bounded so they always fit in the trailers."""

from __future__ import annotations

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from service.api.errors import MAX_DETAILS_BYTES, internal_status, to_status
from service.domain import errors as d


def _proto(status: grpc.Status) -> status_pb2.Status:
    ((key, value),) = status.trailing_metadata
    assert key == "grpc-status-details-bin"
    return status_pb2.Status.FromString(value)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (d.InvalidInput.of("x", "bad"), grpc.StatusCode.INVALID_ARGUMENT),
        (d.NotFound("user", "a"), grpc.StatusCode.NOT_FOUND),
        (d.AlreadyExists("user", "id", "a"), grpc.StatusCode.ALREADY_EXISTS),
        (d.EtagMismatch("user", "a"), grpc.StatusCode.ABORTED),
        (d.FailedPrecondition(d.PreconditionViolation("T", "s", "why")), grpc.StatusCode.FAILED_PRECONDITION),
        (d.Unavailable(), grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_every_domain_error_has_a_status_and_error_info(error: d.DomainError, code: grpc.StatusCode) -> None:
    status = to_status(error)
    assert status.code == code
    proto = _proto(status)
    info = error_details_pb2.ErrorInfo()
    assert proto.details[0].Unpack(info) and info.domain == "wellspring" and info.reason == error.reason


def test_huge_violations_are_bounded() -> None:
    error = d.InvalidInput([d.FieldViolation("f" * 5000, "x" * 5000) for _ in range(200)])
    proto = _proto(to_status(error))
    assert proto.ByteSize() <= MAX_DETAILS_BYTES + 1500
    bad = error_details_pb2.BadRequest()
    assert proto.details[1].Unpack(bad) and 0 < len(bad.field_violations) <= 20


def test_internal_says_nothing() -> None:
    status = internal_status()
    assert status.code == grpc.StatusCode.INTERNAL and "error" in status.details
