"""Resource rules (DESIGN §2). Checks return violations; callers raise one InvalidInput with all of them."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from service.domain.errors import FieldViolation, InvalidInput
from service.domain.models import CommentFields, PostFields, UserFields

ID_PATTERN = re.compile(r"[a-z0-9-]{1,63}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

MAX_EMAIL = 320
MAX_DISPLAY_NAME = 100
MAX_BIO = 2000
MAX_TITLE = 200
MAX_BODY = 100_000
MAX_TAGS = 20
MAX_TAG = 50
MAX_COMMENT = 5000
MAX_QUERY = 100
MAX_REQUEST_ID = 128
MAX_BATCH = 1000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# More combining marks than this on one character is stacking ("Zalgo") nobody types: pointed Hebrew
# needs up to 4, Tibetan stacks 5; NFC has already composed what has a precomposed form.
MAX_COMBINING_MARKS = 5
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


# ---------------------------------------------------------------------------------------------------------
# Text. Input is normalised to NFC before it is checked or stored, so canonically equivalent spellings
# ("e" + U+0301 and "é") are one value, one email, one tag. Then, per kind of field:
# - free text (bio, body): any character but C0/C1 controls; tab, line feed and carriage return are fine;
# - a line (display name, title, tag): no controls or line breaks, no invisible characters except where
#   they change what is seen (emoji sequences, Indic and Arabic-script joining), and combining marks only
#   on a character, not stacked;
# - an email: no controls, no invisible characters at all, no combining mark on ASCII, @ or a dot.
# "required" means at least one visible character: whitespace and invisible characters alone are empty.

# C0 and C1 controls other than tab, line feed and carriage return.
_CONTROL_IN_FREE_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _chars(*ranges: tuple[int, int]) -> frozenset[str]:
    return frozenset(chr(cp) for lo, hi in ranges for cp in range(lo, hi + 1))


# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) outside category Cf: as invisible as
# U+200B, but unicodedata calls them marks or letters (variation selectors, the combining grapheme
# joiner, Hangul fillers, Mongolian free variation selectors, the tag and VS17+ block).
_IGNORABLE = _chars(
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0xE0000, 0xE0FFF),
)
_VARIATION_SELECTORS = _chars((0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_JOINERS = "\u200c\u200d"
_BLANK = "\u2800"  # BRAILLE PATTERN BLANK: a symbol that shows nothing
# Emoji tag sequences (the flags of England, Scotland, Wales): U+1F3F4, tag letters, CANCEL TAG.
_EMOJI_TAG_SEQUENCE = re.compile("\U0001f3f4[\U000e0020-\U000e007e]{1,30}\U000e007f")
# What a variation selector may follow (emoji, keycap digits and signs, CJK and Mongolian letters) and
# what a zero-width (non-)joiner may stand between (emoji, skin tones, letters of scripts without case).
_VARIATION_BASES = frozenset({"So", "Sm", "Sk", "Nd", "No", "Po", "Lo", "Lm"})
_JOINABLE = frozenset({"So", "Sk", "Lo", "Lm", "Mc"})
_JOINABLE_AFTER = _JOINABLE - {"Mc"}
_VIRAMA = 9  # canonical combining class: a joiner after a virama selects a conjunct or half form


def normalize_text(value: str) -> str:
    """NFC, the form every stored text is in (cheap when it already is)."""
    if value.isascii() or unicodedata.is_normalized("NFC", value):
        return value
    return unicodedata.normalize("NFC", value)


def normalize_user(fields: UserFields) -> UserFields:
    """The fields as they are checked and stored."""
    if fields.email.isascii() and fields.display_name.isascii() and fields.bio.isascii():
        return fields  # the common case of bulk imports: nothing to normalise, nothing to copy
    return UserFields(
        normalize_text(fields.email), normalize_text(fields.display_name), normalize_text(fields.bio)
    )


def normalize_post(fields: PostFields) -> PostFields:
    """The fields as they are checked and stored: NFC, then duplicate tags dropped."""
    title, body = normalize_text(fields.title), normalize_text(fields.body)
    tags = normalize_tags(tuple(map(normalize_text, fields.tags)))
    if title is fields.title and body is fields.body and tags == fields.tags:
        return fields
    return PostFields(fields.author_id, title, body, tags)


def _invisible(ch: str, category: str) -> bool:
    return category == "Cf" or ch in _IGNORABLE


def _describe(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X} {name}" if name else f"U+{ord(ch):04X}"


def _visible(ch: str) -> bool:
    category = unicodedata.category(ch)
    return not (ch.isspace() or ch == _BLANK or category[0] == "M" or category in ("Cc", "Cf"))


def _blank(value: str) -> bool:
    if value.isascii():
        return not value.strip()
    return not any(_visible(ch) and ch not in _IGNORABLE for ch in value)


def _text(value: str, field_path: str, *, required: bool, max_len: int) -> list[FieldViolation]:
    if "\x00" in value:
        return [FieldViolation(field_path, "must not contain NUL characters")]
    if required and _blank(value):
        return [FieldViolation(field_path, "required")]
    if len(value) > max_len:
        return [FieldViolation(field_path, f"at most {max_len} characters")]
    return []


def _free_text(value: str, field_path: str, *, max_len: int, required: bool = False) -> list[FieldViolation]:
    violations = _text(value, field_path, required=required, max_len=max_len)
    found = None if violations else _CONTROL_IN_FREE_TEXT.search(value)
    if found:
        violations.append(
            FieldViolation(field_path, f"must not contain control characters ({_describe(found[0])})")
        )
    return violations


def _line(value: str, field_path: str, *, max_len: int, email: bool = False) -> list[FieldViolation]:
    violations = _text(value, field_path, required=True, max_len=max_len)
    if violations or (value.isascii() and value.isprintable()):
        return violations
    problem = _character_problem(value, email=email)
    return [FieldViolation(field_path, problem)] if problem else []


def _character_problem(text: str, *, email: bool) -> str | None:
    """Why a person would not have typed ``text`` (NFC, not plain printable ASCII), or None."""
    if not email:
        text = _EMOJI_TAG_SEQUENCE.sub("\U0001f3f4", text)
    base = ""  # the character combining marks attach to; none at the start or after a space
    marks = 0
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category == "Cc":
            return f"must not contain control characters ({_describe(ch)})"
        if category in ("Zl", "Zp"):
            return f"must be a single line ({_describe(ch)})"
        if _invisible(ch, category):
            if email or not _shows(text, i, base):
                return f"must not contain invisible or formatting characters ({_describe(ch)})"
            continue
        if category[0] == "M":
            marks += 1
            if not base or (email and base.isascii()):
                return f"a combining mark must follow a letter ({_describe(ch)})"
            if marks > MAX_COMBINING_MARKS:
                return f"at most {MAX_COMBINING_MARKS} combining marks on one character"
            continue
        marks = 0
        base = "" if ch.isspace() else ch
    return None


def _shows(text: str, i: int, base: str) -> bool:
    """Whether the invisible character at ``i`` changes how its neighbours look (so people do type it)."""
    before = text[i - 1] if i else ""
    if text[i] in _VARIATION_SELECTORS:
        return bool(base) and before == base and unicodedata.category(base) in _VARIATION_BASES
    if text[i] not in _JOINERS or not before:
        return False
    if unicodedata.combining(before) == _VIRAMA:
        return True
    after = text[i + 1] if i + 1 < len(text) else ""
    joins_before = before in _VARIATION_SELECTORS or unicodedata.category(before) in _JOINABLE
    return joins_before and bool(after) and unicodedata.category(after) in _JOINABLE_AFTER


def check_user(fields: UserFields, prefix: str = "user") -> list[FieldViolation]:
    """The violations of already normalised fields (see ``normalize_user``)."""
    violations = _line(fields.email, f"{prefix}.email", max_len=MAX_EMAIL, email=True)
    if not violations and not EMAIL_PATTERN.fullmatch(fields.email):
        violations.append(FieldViolation(f"{prefix}.email", "not an email address"))
    violations += _line(fields.display_name, f"{prefix}.display_name", max_len=MAX_DISPLAY_NAME)
    violations += _free_text(fields.bio, f"{prefix}.bio", max_len=MAX_BIO)
    return violations


def normalize_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
    """Drop duplicate tags, keeping the first occurrence's position."""
    return tuple(dict.fromkeys(tags))


def check_post(fields: PostFields, prefix: str = "post") -> list[FieldViolation]:
    """The violations of already normalised fields (see ``normalize_post``)."""
    violations = check_id(fields.author_id, f"{prefix}.author_id")
    violations += _line(fields.title, f"{prefix}.title", max_len=MAX_TITLE)
    violations += _free_text(fields.body, f"{prefix}.body", max_len=MAX_BODY)
    if len(fields.tags) > MAX_TAGS:
        violations.append(FieldViolation(f"{prefix}.tags", f"at most {MAX_TAGS} tags"))
    for i, tag in enumerate(fields.tags):
        violations += _line(tag, f"{prefix}.tags[{i}]", max_len=MAX_TAG)
    return violations


def normalize_comment(fields: CommentFields) -> CommentFields:
    """The fields as they are checked and stored: NFC."""
    body = normalize_text(fields.body)
    return fields if body is fields.body else CommentFields(fields.post_id, fields.author_id, body)


def check_comment(fields: CommentFields, prefix: str = "comment") -> list[FieldViolation]:
    """The violations of already normalised fields (see ``normalize_comment``)."""
    violations = check_id(fields.post_id, f"{prefix}.post_id")
    violations += check_id(fields.author_id, f"{prefix}.author_id")
    violations += _free_text(fields.body, f"{prefix}.body", max_len=MAX_COMMENT, required=True)
    return violations


def only_paths(violations: list[FieldViolation], prefix: str, paths: Iterable[str]) -> list[FieldViolation]:
    """The violations of the fields an Update changes: a stored value written under older rules does not
    fail an Update that leaves it alone."""
    changed = {f"{prefix}.{p}" for p in paths}
    return [v for v in violations if v.field.split("[", 1)[0] in changed]


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
    valid = ID_PATTERN.fullmatch
    if all(map(valid, ids)):  # the usual case, without a field path built per id
        return
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
