"""The one table from domain errors to gRPC statuses with AIP-193 details (google.rpc.Status)."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from service.domain import errors as d

DOMAIN = "wellspring"

Details = Callable[[d.DomainError], list[object]]


def _bad_request(error: d.DomainError) -> list[object]:
    assert isinstance(error, d.InvalidInput)
    violations = [
        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
        for v in error.violations
    ]
    return [error_details_pb2.BadRequest(field_violations=violations)]


def _precondition(error: d.DomainError) -> list[object]:
    violations = [
        error_details_pb2.PreconditionFailure.Violation(
            type=v.type, subject=v.subject, description=v.description
        )
        for v in getattr(error, "violations", [])
    ]
    return [error_details_pb2.PreconditionFailure(violations=violations)]


def _resource_info(error: d.DomainError) -> list[object]:
    assert isinstance(error, d.NotFound)
    return [
        error_details_pb2.ResourceInfo(
            resource_type=error.resource_type, resource_name=i, description="not found"
        )
        for i in error.ids[: error.MAX_NAMED]
    ]


def _retry(error: d.DomainError) -> list[object]:
    delay = getattr(error, "retry_after_s", 1.0)
    seconds = int(delay)
    return [
        error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=seconds, nanos=int((delay - seconds) * 1e9))
        )
    ]


def _compacted(error: d.DomainError) -> list[object]:
    assert isinstance(error, d.RevisionCompacted)
    violation = error_details_pb2.BadRequest.FieldViolation(
        field="start_revision",
        description=f"compacted; the oldest retained revision is {error.oldest_revision}",
    )
    return [error_details_pb2.BadRequest(field_violations=[violation])]


def _none(_: d.DomainError) -> list[object]:
    return []


# The table. Subclasses are looked up along the MRO, so the most specific entry wins.
TABLE: dict[type[d.DomainError], tuple[grpc.StatusCode, Details]] = {
    d.InvalidInput: (grpc.StatusCode.INVALID_ARGUMENT, _bad_request),
    d.NotFound: (grpc.StatusCode.NOT_FOUND, _resource_info),
    d.AlreadyExists: (grpc.StatusCode.ALREADY_EXISTS, _none),
    d.EtagMismatch: (grpc.StatusCode.ABORTED, _precondition),
    d.ConcurrencyConflict: (grpc.StatusCode.ABORTED, _retry),
    d.FailedPrecondition: (grpc.StatusCode.FAILED_PRECONDITION, _precondition),
    d.Unavailable: (grpc.StatusCode.UNAVAILABLE, _retry),
    d.RevisionCompacted: (grpc.StatusCode.OUT_OF_RANGE, _compacted),
    d.WatcherTooSlow: (grpc.StatusCode.RESOURCE_EXHAUSTED, _retry),
    d.LimitReached: (grpc.StatusCode.RESOURCE_EXHAUSTED, _retry),
    # what gRPC's core answers for oversized metadata too; no RetryInfo: the same call never fits
    d.MetadataTooLarge: (grpc.StatusCode.RESOURCE_EXHAUSTED, _none),
    d.Unauthenticated: (grpc.StatusCode.UNAUTHENTICATED, _none),
    d.PermissionDenied: (grpc.StatusCode.PERMISSION_DENIED, _none),
    d.StreamStalled: (grpc.StatusCode.ABORTED, _none),
    d.RequestStreamIdle: (grpc.StatusCode.ABORTED, _none),
    d.ExportInterrupted: (grpc.StatusCode.ABORTED, _none),
    d.DomainError: (grpc.StatusCode.FAILED_PRECONDITION, _none),
}


def lookup(error: d.DomainError) -> tuple[grpc.StatusCode, Details]:
    for kind in type(error).__mro__:
        entry = TABLE.get(kind)
        if entry is not None:
            return entry
    raise LookupError(type(error))  # unreachable: DomainError is in the table


# Status details travel in trailers; clients reject trailers above 8 KiB (soft) / 16 KiB (hard) by
# default. Messages and quoted values are cut, and details are dropped past a budget, so a hostile
# request can never turn its INVALID_ARGUMENT into a RESOURCE_EXHAUSTED.
MAX_TEXT = 300
MAX_VIOLATIONS = 20
MAX_DETAILS_BYTES = 4096


def _cut(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _bounded(detail: object, budget: int) -> object:
    """A BadRequest keeps as many (shortened) violations as fit in ``budget`` bytes, at least one."""
    if not isinstance(detail, error_details_pb2.BadRequest):
        return detail
    bounded = error_details_pb2.BadRequest()
    for v in list(detail.field_violations)[:MAX_VIOLATIONS]:
        bounded.field_violations.add(field=_cut(v.field, 100), description=_cut(v.description))
        if bounded.ByteSize() > budget and len(bounded.field_violations) > 1:
            del bounded.field_violations[-1]
            break
    return bounded


def build_status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str], details: list[object]
) -> grpc.Status:
    proto = status_pb2.Status(code=code.value[0], message=_cut(message, 1000))
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=DOMAIN, metadata={k: _cut(v, 1500) for k, v in metadata.items()}
    )
    proto.details.add().Pack(info)
    for detail in details:
        packed = proto.details.add()
        packed.Pack(_bounded(detail, MAX_DETAILS_BYTES - proto.ByteSize()))
        if proto.ByteSize() > MAX_DETAILS_BYTES:
            del proto.details[-1]
            break
    return rpc_status.to_status(proto)


def to_status(error: d.DomainError) -> grpc.Status:
    code, details = lookup(error)
    return build_status(code, error.message, error.reason, error.metadata, details(error))


def internal_status() -> grpc.Status:
    """For bugs: no message, SQL or trace from the exception reaches the client."""
    return build_status(grpc.StatusCode.INTERNAL, "internal error; it has been logged", "INTERNAL", {}, [])


def malformed_request_status() -> grpc.Status:
    violation = error_details_pb2.BadRequest.FieldViolation(
        field="", description="request bytes are not a valid protobuf message of the expected type"
    )
    return build_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "malformed request",
        "MALFORMED_REQUEST",
        {},
        [error_details_pb2.BadRequest(field_violations=[violation])],
    )
