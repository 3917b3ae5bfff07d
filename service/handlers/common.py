"""Helpers shared by the use cases: ordering allow-lists, update masks, idempotency, ids and time."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from service.domain.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    DomainError,
    EtagMismatch,
    FieldViolation,
    InvalidInput,
)
from service.domain.models import Ordering, SortDirection
from service.domain.validation import check_id, check_request_id, raise_if
from service.repository.base import Database, IdempotencyRecord, UnitOfWork

T = TypeVar("T")
Clock = Callable[[], int]


def wall_clock_us() -> int:
    return time.time_ns() // 1000


def new_id(now_us: int) -> str:
    """Server-generated ids: time-ordered (index locality, from the injected clock's ``now_us``) and
    random, matching [a-z0-9-]{1,63}."""
    return f"{now_us // 1000:011x}{secrets.token_hex(8)}"


def chosen_id(resource: str, given: str, in_body: str) -> tuple[str, list[FieldViolation]]:
    """A Create's client-chosen id and what is wrong with it: ``{resource}_id`` (AIP-133's field), else
    the ``{resource}.id`` set in the resource itself — where many clients put it, and where Update and
    Import read it; ignoring it would create another id than the one the client then asks for. ""
    means the server chooses. Both set and different: refused, naming both fields."""
    if given and in_body and given != in_body:
        why = f"{resource}_id and {resource}.id differ; set one of them (or both to the same id)"
        return given, [FieldViolation(f"{resource}_id", why), FieldViolation(f"{resource}.id", why)]
    if given:
        return given, check_id(given, f"{resource}_id")
    return in_body, check_id(in_body, f"{resource}.id") if in_body else []


# Transactions ``retrying`` ran again, in this process (read by the metrics).
RETRIED = Counter[str]()


async def retrying(operation: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Run a write transaction again when the database aborted it for a concurrent one (deadlock,
    serialization failure): the loser of such a race succeeds on its next try."""
    for attempt in range(attempts):
        try:
            return await operation()
        except ConcurrencyConflict:
            if attempt == attempts - 1:
                raise
            RETRIED["transactions"] += 1
    raise AssertionError("unreachable")


def lost_race(resource_type: str, resource_id: str, etag: str) -> DomainError:
    """A conditional update found its row changed under it: with the caller's etag that etag is now
    stale; without one nothing the caller sent is wrong, so it is a conflict ``retrying`` runs again."""
    if etag:
        return EtagMismatch(resource_type, resource_id, etag)
    return ConcurrencyConflict()


def parse_order_by(order_by: str, allowed: Iterable[str], default: str = "create_time") -> Ordering:
    """AIP-132 ``order_by``: one allow-listed field, optionally followed by ``asc`` or ``desc``."""
    words = order_by.split()
    if not words:
        return Ordering(default)
    allowed = tuple(allowed)
    if (
        len(words) > 2
        or words[0] not in allowed
        or (len(words) == 2 and words[1].lower() not in ("asc", "desc"))
    ):
        options = ", ".join(f"`{f}`, `{f} desc`" for f in allowed)
        raise InvalidInput.of(
            "order_by", f"unsupported ordering; use one of {options}", reason="INVALID_ORDER_BY"
        )
    direction = SortDirection.DESC if len(words) == 2 and words[1].lower() == "desc" else SortDirection.ASC
    return Ordering(words[0], direction)


def resolve_update_mask(
    mask: tuple[str, ...] | None,
    fields: Any,
    writable: tuple[str, ...],
    output_only: tuple[str, ...],
    prefix: str,
) -> tuple[str, ...]:
    """The writable fields an Update changes (AIP-134)."""
    if mask is None:
        return tuple(f for f in writable if getattr(fields, f))
    if mask == ("*",):
        return writable
    violations = []
    for path in mask:
        if path in output_only:
            violations.append(FieldViolation("update_mask", f"{path!r} is output only"))
        elif path not in writable:
            shown = path if len(path) <= 64 else path[:63] + "…"
            violations.append(FieldViolation("update_mask", f"unknown field {shown!r} in {prefix}"))
    raise_if(violations)
    return tuple(dict.fromkeys(mask))


def fingerprint(*parts: Any) -> str:
    """A stable hash of a request's payload, to tell a retry from a different request with the same key."""
    canonical = json.dumps([dataclasses.asdict(p) if _is_instance(p) else p for p in parts], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _is_instance(value: Any) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def to_json(value: Any) -> str:
    return json.dumps(dataclasses.asdict(value), sort_keys=True)


def from_json(kind: Callable[..., T], text: str) -> T:
    """The dataclass ``to_json`` wrote (JSON has no tuples: its arrays come back as the tuples they were)."""
    data = json.loads(text)
    return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


async def _replay(
    db: Database, scope: str, request_id: str, payload_fingerprint: str, kind: Callable[..., T]
) -> T | None:
    async with db.reading() as uow:
        record = await uow.idempotency.get(scope, request_id)
    if record is None:
        return None
    if record.fingerprint != payload_fingerprint:
        raise InvalidInput.of(
            "request_id", "already used for a different request", reason="REQUEST_ID_REUSED"
        )
    return from_json(kind, record.result)


async def idempotent_create(
    db: Database,
    scope: str,
    request_id: str,
    payload_fingerprint: str,
    kind: Callable[..., T],
    create: Callable[[UnitOfWork], Awaitable[T]],
    now: Clock,
) -> tuple[T, bool]:
    """Run ``create`` once per ``request_id``: a retry with the same payload gets the original result.
    Returns the result and whether it was replayed (then this call created nothing).

    The replay is the first attempt's response as it was (AIP-155: the same response), not the resource
    as it is now: if it was updated or deleted since, the replayed etag is stale (an Update or Delete with
    it fails ABORTED, saying so) and the caller reads the resource again for its current state.

    The key is stored in the same transaction as the resource. Two concurrent first attempts race on the
    key's (or the client-chosen id's) unique constraint; the loser reads the winner's stored result.
    """
    raise_if(check_request_id(request_id))
    if request_id:
        replay = await _replay(db, scope, request_id, payload_fingerprint, kind)
        if replay is not None:
            return replay, True
    try:
        async with db.writing() as uow:
            result = await create(uow)
            if request_id:
                record = IdempotencyRecord(payload_fingerprint, to_json(result))
                await uow.idempotency.put(scope, request_id, record, now())
            await uow.commit()
            return result, False
    except AlreadyExists:
        if request_id:
            replay = await _replay(db, scope, request_id, payload_fingerprint, kind)
            if replay is not None:
                return replay, True
        raise
