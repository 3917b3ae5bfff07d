"""Domain errors: raised where the fact is known, mapped to gRPC statuses in one table (api.errors)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field of a request: its path (``user.email``) and why."""

    field: str
    description: str


@dataclass(frozen=True, slots=True)
class PreconditionViolation:
    """One unmet precondition: a type (``ETAG``), the subject and why."""

    type: str
    subject: str
    description: str


class DomainError(Exception):
    """Base of every error a client may see; ``reason`` is an UPPER_SNAKE machine-readable code."""

    reason = "DOMAIN_ERROR"

    def __init__(self, message: str, *, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = metadata or {}


class InvalidInput(DomainError):
    """The request is malformed; nothing was changed."""

    reason = "INVALID_ARGUMENT"

    def __init__(
        self, violations: list[FieldViolation] | FieldViolation, *, reason: str | None = None
    ) -> None:
        self.violations = [violations] if isinstance(violations, FieldViolation) else list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in self.violations[:5])
        super().__init__(f"invalid request: {summary}")
        if reason:
            self.reason = reason

    @classmethod
    def of(cls, field_path: str, description: str, *, reason: str | None = None) -> InvalidInput:
        return cls(FieldViolation(field_path, description), reason=reason)


class NotFound(DomainError):
    """One or more resources do not exist."""

    reason = "RESOURCE_NOT_FOUND"
    MAX_NAMED = 20

    def __init__(self, resource_type: str, ids: list[str] | tuple[str, ...] | str) -> None:
        self.resource_type = resource_type
        self.ids = (ids,) if isinstance(ids, str) else tuple(ids)
        shown = ", ".join(self.ids[:10]) + (" …" if len(self.ids) > 10 else "")
        # Status details travel in trailers (8 KiB by default): name at most MAX_NAMED ids.
        super().__init__(
            f"{resource_type} not found: {shown}",
            metadata={
                "resource_type": resource_type,
                "missing_ids": ",".join(self.ids[: self.MAX_NAMED]),
                "missing_count": str(len(self.ids)),
            },
        )


class AlreadyExists(DomainError):
    """A resource with the same id (or another unique field) exists."""

    reason = "RESOURCE_ALREADY_EXISTS"

    def __init__(self, resource_type: str, field_name: str, value: str) -> None:
        self.resource_type = resource_type
        self.field_name = field_name
        super().__init__(
            f"a {resource_type} with this {field_name} already exists",
            metadata={"resource_type": resource_type, "field": field_name},
        )


class FailedPrecondition(DomainError):
    """The system is not in the state the request requires; the caller must change it first."""

    reason = "FAILED_PRECONDITION"

    def __init__(self, violation: PreconditionViolation, *, reason: str | None = None) -> None:
        self.violations = [violation]
        if reason:
            self.reason = reason
        super().__init__(violation.description)


class EtagMismatch(DomainError):
    """The caller's etag is stale: the resource was changed since the caller read it (or since the
    response that carried the etag was first made: a replayed Create answers with the original). Re-read
    and retry. ``current`` is the etag it has now: "" when it does not exist, None when unknown (a write
    that lost a race to a concurrent one)."""

    reason = "ETAG_MISMATCH"

    def __init__(
        self, resource_type: str, resource_id: str, given: str = "", current: str | None = None
    ) -> None:
        since = _since(current)
        self.violations = [
            PreconditionViolation(
                "ETAG",
                f"{resource_type}/{resource_id}",
                f"{_quoted(given)} is stale: the {resource_type} {since}",
            )
        ]
        super().__init__(
            f"{_quoted(given)} is stale: {resource_type} {resource_id} {since}; read it again",
            metadata={"resource_type": resource_type, "current_etag": current or ""},
        )


def _quoted(etag: str) -> str:
    """The caller's etag as it is, when it looks like one (it is echoed into a header: never anything long
    or that percent-encoding would blow up)."""
    return f'etag "{etag}"' if len(etag) <= 64 and etag.isascii() and etag.isalnum() else "the etag"


def _since(current: str | None) -> str:
    """What happened to the resource since the stale etag was issued."""
    if current is None:
        return "was changed by a concurrent write"
    return f'was changed since (current etag "{current}")' if current else "does not exist"


class ConcurrencyConflict(DomainError):
    """The database aborted the transaction because of a concurrent one (deadlock, serialization
    failure, lock timeout). Use cases retry these; if it persists the client may retry the call."""

    reason = "CONCURRENT_TRANSACTION"

    def __init__(self, message: str = "the request conflicted with a concurrent one; retry it") -> None:
        super().__init__(message)


class Unavailable(DomainError):
    """A backing service (the database) cannot be reached; the request may be retried."""

    reason = "BACKEND_UNAVAILABLE"

    def __init__(self, message: str = "the database is unavailable; retry later", retry_after_s: float = 1.0):
        self.retry_after_s = retry_after_s
        super().__init__(message)


class RevisionCompacted(DomainError):
    """A watch asked for change-log revisions that compaction has removed; start again from an Export."""

    reason = "REVISION_COMPACTED"

    def __init__(self, start_revision: int, oldest_revision: int) -> None:
        self.oldest_revision = oldest_revision
        super().__init__(
            f"revision {start_revision} has been compacted; the oldest retained one is {oldest_revision}",
            metadata={"start_revision": str(start_revision), "oldest_revision": str(oldest_revision)},
        )


class WatcherTooSlow(DomainError):
    """A watcher fell further behind than its bounded queue allows; it may resume from ``resume_revision``."""

    reason = "WATCHER_TOO_SLOW"

    def __init__(self, resume_revision: int, retry_after_s: float = 0.1) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"the watcher fell too far behind; resume with start_revision={resume_revision + 1}",
            metadata={"resume_revision": str(resume_revision + 1)},
        )


class LimitReached(DomainError):
    """A bounded resource of the replica is in full use (calls, watchers, export slots): retry after
    ``retry_after_s``, here or on another replica. Each subclass names the limit in its metadata."""

    def __init__(self, message: str, metadata: dict[str, str], retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, metadata=metadata)


class TooManyWatchers(LimitReached):
    """The replica (``scope="replica"``), this connection (``"connection"``) or this principal
    (``"principal"``) already has its maximum of Watch streams; retry later, on another replica or
    another connection, or once one of the principal's streams has ended."""

    reason = "TOO_MANY_WATCHERS"

    def __init__(self, scope: str, limit: int, retry_after_s: float = 1.0) -> None:
        super().__init__(
            f"this {scope} already has its maximum of {limit} Watch streams; retry later",
            {"scope": scope, "max_watchers": str(limit)},
            retry_after_s,
        )


class RateLimited(LimitReached):
    """The caller spent its rate limit (``limit``, in the ``limits`` notation: ``1000/second``): this call
    would cost ``cost`` more. Nothing of it ran; retry after ``retry_after_s``."""

    reason = "RATE_LIMITED"

    def __init__(self, limit: str, cost: int, retry_after_s: float) -> None:
        super().__init__(
            f"rate limit of {limit} reached; retry in {retry_after_s:.2f} s",
            {"limit": limit, "cost": str(cost)},
            retry_after_s,
        )


class Unauthenticated(DomainError):
    """The call carries no credential, or one that does not verify; ``reason`` says which
    (TOKEN_MISSING, TOKEN_MALFORMED, TOKEN_EXPIRED, TOKEN_NOT_YET_VALID, TOKEN_INVALID, ISSUER_MISMATCH,
    AUDIENCE_MISMATCH, KEY_UNKNOWN). The message never repeats the credential."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""

    reason = "PERMISSION_DENIED"


class ScopeMissing(PermissionDenied):
    """The caller's token lacks the scope the method needs (``scope`` in the metadata)."""

    reason = "SCOPE_MISSING"

    def __init__(self, scope: str, method: str) -> None:
        super().__init__(
            f"{method} needs the scope {scope!r} (or 'admin')", metadata={"scope": scope, "method": method}
        )


class NotOwner(PermissionDenied):
    """The caller may act only on its own resources (its user; the posts and comments it wrote)."""

    reason = "NOT_OWNER"

    def __init__(self, resource: str, resource_id: str, owner_field: str) -> None:
        super().__init__(
            f"only its owner (or an admin) may write {resource} {resource_id!r} ({owner_field})",
            metadata={"resource": resource, "id": resource_id, "owner_field": owner_field},
        )


class MetadataTooLarge(DomainError):
    """The call's request metadata (headers) is over the server's limit; the same call will never fit."""

    reason = "METADATA_TOO_LARGE"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the request metadata is {size} bytes, over the limit of {limit}",
            metadata={"metadata_bytes": str(size), "max_metadata_bytes": str(limit)},
        )


class ServerClosing(Unavailable):
    """The replica is shutting down; a watcher resumes elsewhere from ``resume_revision``."""

    reason = "SERVER_SHUTTING_DOWN"

    def __init__(self, resume_revision: int) -> None:
        super().__init__(
            f"the server is shutting down; resume with start_revision={resume_revision + 1}", 0.1
        )
        self.metadata = {"resume_revision": str(resume_revision + 1)}


class ShuttingDown(Unavailable):
    """The replica is shutting down and takes no new call; retry it (elsewhere, or once restarted)."""

    reason = "SERVER_SHUTTING_DOWN"

    def __init__(self, retry_after_s: float = 0.1) -> None:
        super().__init__("the server is shutting down; retry the call", retry_after_s)


class _AllBusy(LimitReached):
    """Every one of the replica's ``limit`` slots for ``running`` is taken (the limit's setting is named
    ``limit_key`` in the metadata); retry shortly, by default after ``retry_after_s``."""

    running: ClassVar[str]
    limit_key: ClassVar[str]
    default_retry_s: ClassVar[float]

    def __init__(self, limit: int, retry_after_s: float | None = None) -> None:
        super().__init__(
            f"the server is running its maximum of {limit} {self.running}; retry shortly",
            {self.limit_key: str(limit)},
            self.default_retry_s if retry_after_s is None else retry_after_s,
        )


class TooManyCalls(_AllBusy):
    """The replica is already running its maximum of concurrent calls; retry after a short delay."""

    reason = "TOO_MANY_CONCURRENT_RPCS"
    running, limit_key, default_retry_s = "concurrent calls", "max_concurrent_rpcs", 0.2


class StreamStalled(DomainError):
    """The client read nothing of a server stream for ``stall_s``: the call is ended so that what it holds
    (a database snapshot, a queue) is freed. Streams that know where the client stands say more."""

    reason = "STREAM_STALLED"

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s
        super().__init__(
            f"the client read nothing for {stall_s:g}s; the stream was ended (resume from what was received)",
            metadata={"stall_s": f"{stall_s:g}"},
        )


class RequestStreamIdle(DomainError):
    """A client-streaming call (an Import) whose client sent nothing for ``idle_s``: it is ended, so that an
    open, silent stream does not hold a call slot forever. What was committed stays (Import is an
    idempotent upsert: send the rest, or all of it, again)."""

    reason = "REQUEST_STREAM_IDLE"

    def __init__(self, idle_s: float) -> None:
        super().__init__(
            f"the client sent nothing for {idle_s:g}s; the call was ended (chunks committed so far stay)",
            metadata={"idle_s": f"{idle_s:g}"},
        )


class ExportInterrupted(DomainError):
    """An Export was ended before its end: its client stopped reading (EXPORT_STALLED) or it ran past the
    maximum duration (EXPORT_TOO_LONG). Everything up to ``last_id`` (in id order) was handed over from
    the snapshot at ``revision``: a client keeps that and Watches from ``revision + 1``, or starts a new
    Export."""

    def __init__(self, reason: str, why: str, revision: int, last_id: str) -> None:
        self.reason = reason
        resume = (
            f"items up to id {last_id!r} (in id order) were sent" if last_id else "no item was fully sent"
        )
        super().__init__(
            f"{why}; {resume} from the snapshot at revision {revision}: keep them and Watch from "
            f"revision {revision + 1}, or start a new Export",
            metadata={"revision": str(revision), "last_id": last_id, "resume_revision": str(revision + 1)},
        )

    @classmethod
    def stalled(cls, stall_s: float, revision: int, last_id: str) -> ExportInterrupted:
        return cls("EXPORT_STALLED", f"the client read nothing for {stall_s:g}s", revision, last_id)

    @classmethod
    def too_long(cls, max_s: float, revision: int, last_id: str) -> ExportInterrupted:
        why = f"the export ran longer than its maximum of {max_s:g}s"
        return cls("EXPORT_TOO_LONG", why, revision, last_id)


class TooManyExports(_AllBusy):
    """Every database slot kept for exports is taken; Get, List and writes are never queued behind them."""

    reason = "TOO_MANY_EXPORTS"
    running, limit_key, default_retry_s = "concurrent exports", "max_concurrent_exports", 1.0
