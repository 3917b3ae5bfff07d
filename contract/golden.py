"""The golden messages (contract/golden/): v1 messages as the stubs of a shipped release serialized them,
with what each meant (its JSON form, by the JSON names of the time). tests/test_contract.py decodes the bytes
with today's Python stubs, and the JVM client's GoldenTest with today's Java stubs, and compares meanings: an
app in the field holding bytes from an older server (or sending them) is still understood.

``python -m contract.golden --record`` writes the cases below that have no file yet. A recorded case is never
rewritten: it is what was shipped. A release adds cases for what it added.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from google.protobuf import json_format
from google.protobuf.message import Message

GOLDEN = Path(__file__).resolve().parent / "golden"


def cases() -> dict[str, Callable[[], Message]]:
    """Case name -> the message it records (built with the stubs of the release that records it)."""
    from google.protobuf import any_pb2, duration_pb2, timestamp_pb2
    from google.rpc import error_details_pb2, status_pb2
    from wellspring.v1 import resources_pb2 as pb
    from wellspring.v1 import user_service_pb2 as users
    from wellspring.v1 import watch_service_pb2 as watch

    when = timestamp_pb2.Timestamp(seconds=1_767_225_600, nanos=125_000_000)  # 2026-01-01T00:00:00.125Z
    ada = pb.User(
        id="ada", email="ada@example.com", display_name="Ada Lovelace", bio="Analyst.",
        create_time=when, update_time=when, etag="W/\"3\"",
    )  # fmt: skip
    post = pb.Post(
        id="notes", author_id="ada", title="Notes", body="On the engine.", tags=["math", "history"],
        create_time=when, update_time=when, etag="W/\"1\"",
    )  # fmt: skip
    comment = pb.Comment(
        id="c1", post_id="notes", author_id="grace", body="Bravo", create_time=when, etag='W/"1"'
    )

    def status() -> Message:
        details = [
            error_details_pb2.ErrorInfo(
                reason="INVALID_FIELD", domain="wellspring.dev", metadata={"field": "email"}
            ),
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field="user.email", description="bad")
                ]
            ),
            error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=500_000_000)),
        ]
        packed = []
        for detail in details:
            any_ = any_pb2.Any()
            any_.Pack(detail)
            packed.append(any_)
        return status_pb2.Status(code=3, message="user.email: not an email address", details=packed)

    return {
        "user": lambda: ada,
        "post": lambda: post,
        "comment": lambda: comment,
        "list_users_response": lambda: users.ListUsersResponse(users=[ada], next_page_token="opaque-token"),
        "import_users_response": lambda: users.ImportUsersResponse(
            created_count=2,
            failed_count=1,
            errors=[pb.ImportError(index=2, code=3, message="bad", field="email")],
        ),
        "watch_response": lambda: watch.WatchResponse(
            revision=42,
            events=[
                watch.ChangeEvent(
                    revision=41, kind=watch.ChangeEvent.KIND_UPDATED, collection="users", id="ada", user=ada
                ),
                watch.ChangeEvent(
                    revision=42, kind=watch.ChangeEvent.KIND_DELETED, collection="comments", id="c1"
                ),
            ],
        ),
        "status_with_details": status,
    }


def meaning(message: Message) -> object:
    """What a message means, for comparing: its proto3 JSON form (JSON names, int64 as strings)."""
    from google.protobuf import symbol_database

    return json.loads(json_format.MessageToJson(message, descriptor_pool=symbol_database.Default().pool))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--record", action="store_true", help="write the cases that have no file yet")
    opts = parser.parse_args()
    if not opts.record:
        parser.print_help()
        return 0
    GOLDEN.mkdir(exist_ok=True)
    for name, build in cases().items():
        if (GOLDEN / f"{name}.bin").exists():
            continue
        message = build()
        (GOLDEN / f"{name}.bin").write_bytes(message.SerializeToString(deterministic=True))
        record = {"type": message.DESCRIPTOR.full_name, "meaning": meaning(message)}
        (GOLDEN / f"{name}.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
        print(f"recorded {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
