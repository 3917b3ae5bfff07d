"""Reading AIP-193 error details off a failed call."""

from __future__ import annotations

from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def details(error: grpc.aio.AioRpcError) -> dict[str, Any]:
    """ErrorInfo, BadRequest, PreconditionFailure, ResourceInfo… unpacked by type name."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "every error carries google.rpc.Status details"
    found: dict[str, Any] = {}
    for any_detail in status.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.ResourceInfo,
            error_details_pb2.RetryInfo,
        ):
            if any_detail.Is(kind.DESCRIPTOR):
                message = kind()
                any_detail.Unpack(message)
                found.setdefault(kind.DESCRIPTOR.name, []).append(message)
    info = found["ErrorInfo"][0]
    assert info.domain == "wellspring" and info.reason
    return found


async def fails(call: Any, code: grpc.StatusCode) -> dict[str, Any]:
    """Await ``call``, expect ``code``, return its details."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        assert error.code() == code, (error.code(), error.details())
        return details(error)
    raise AssertionError(f"expected {code}, the call succeeded")


def violated_fields(found: dict[str, Any]) -> list[str]:
    return [v.field for br in found.get("BadRequest", []) for v in br.field_violations]
