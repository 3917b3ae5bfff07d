"""Resource rules (DESIGN §2). Checks return violations; callers raise one InvalidInput with all of them."""

from __future__ import annotations

import re

from service.domain.errors import FieldViolation, InvalidInput
from service.domain.models import PostFields, UserFields

ID_PATTERN = re.compile(r"[a-z0-9-]{1,63}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

MAX_EMAIL = 320
MAX_DISPLAY_NAME = 100
MAX_BIO = 2000
MAX_TITLE = 200
MAX_BODY = 100_000
MAX_TAGS = 20
MAX_TAG = 50
MAX_QUERY = 100
MAX_REQUEST_ID = 128
MAX_BATCH = 1000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Timestamps a database BIGINT of microseconds can hold and protobuf accepts: years 0001..9999.
MIN_TIME_US = -62_135_596_800_000_000
MAX_TIME_US = 253_402_300_799_999_999


def check_id(value: str, field_path: str) -> list[FieldViolation]:
    if not value:
        return [FieldViolation(field_path, "required")]
    if not ID_PATTERN.fullmatch(value):
        return [FieldViolation(field_path, "must match [a-z0-9-]{1,63}")]
    return []


def require_id(value: str, field_path: str) -> str:
    violations = check_id(value, field_path)
    if violations:
        raise InvalidInput(violations)
    return value


def _text(value: str, field_path: str, *, required: bool, max_len: int) -> list[FieldViolation]:
    if "\x00" in value:
        return [FieldViolation(field_path, "must not contain NUL characters")]
    if required and not value.strip():
        return [FieldViolation(field_path, "required")]
    if len(value) > max_len:
        return [FieldViolation(field_path, f"at most {max_len} characters")]
    return []


def check_user(fields: UserFields, prefix: str = "user") -> list[FieldViolation]:
    violations = _text(fields.email, f"{prefix}.email", required=True, max_len=MAX_EMAIL)
    if not violations and not EMAIL_PATTERN.fullmatch(fields.email):
        violations.append(FieldViolation(f"{prefix}.email", "not an email address"))
    violations += _text(
        fields.display_name, f"{prefix}.display_name", required=True, max_len=MAX_DISPLAY_NAME
    )
    violations += _text(fields.bio, f"{prefix}.bio", required=False, max_len=MAX_BIO)
    return violations


def normalize_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Drop duplicate tags, keeping the first occurrence's position."""
    return tuple(dict.fromkeys(tags))


def check_post(fields: PostFields, prefix: str = "post") -> list[FieldViolation]:
    violations = check_id(fields.author_id, f"{prefix}.author_id")
    violations += _text(fields.title, f"{prefix}.title", required=True, max_len=MAX_TITLE)
    violations += _text(fields.body, f"{prefix}.body", required=False, max_len=MAX_BODY)
    if len(fields.tags) > MAX_TAGS:
        violations.append(FieldViolation(f"{prefix}.tags", f"at most {MAX_TAGS} tags"))
    for i, tag in enumerate(fields.tags):
        violations += _text(tag, f"{prefix}.tags[{i}]", required=True, max_len=MAX_TAG)
    return violations


def raise_if(violations: list[FieldViolation]) -> None:
    if violations:
        raise InvalidInput(violations)


def check_request_id(value: str, field_path: str = "request_id") -> list[FieldViolation]:
    if len(value) > MAX_REQUEST_ID:
        return [FieldViolation(field_path, f"at most {MAX_REQUEST_ID} characters")]
    if "\x00" in value:
        return [FieldViolation(field_path, "must not contain NUL characters")]
    return []


def page_size(value: int, field_path: str = "page_size") -> int:
    """AIP-158: 0 means the default, above the maximum is coerced, negative is invalid."""
    if value < 0:
        raise InvalidInput.of(field_path, "must not be negative")
    if value == 0:
        return DEFAULT_PAGE_SIZE
    return min(value, MAX_PAGE_SIZE)


def check_batch_ids(ids: list[str], field_path: str = "ids") -> None:
    if not ids:
        raise InvalidInput.of(field_path, "at least one id is required")
    if len(ids) > MAX_BATCH:
        raise InvalidInput.of(field_path, f"at most {MAX_BATCH} ids")
    violations: list[FieldViolation] = []
    for i, value in enumerate(ids):
        violations += check_id(value, f"{field_path}[{i}]")
        if len(violations) >= 20:
            break
    raise_if(violations)


def check_time_us(value: int, field_path: str) -> list[FieldViolation]:
    if not MIN_TIME_US <= value <= MAX_TIME_US:
        return [FieldViolation(field_path, "timestamp out of range (years 0001-9999)")]
    return []


def check_filter_text(value: str, field_path: str, max_len: int) -> list[FieldViolation]:
    return _text(value, field_path, required=False, max_len=max_len)
