"""Text rules of service/domain/validation.py: NFC, invisible and control characters, combining marks."""

from __future__ import annotations

import time

import pytest

from service.domain.models import PostFields, UserFields
from service.domain.validation import (
    MAX_BODY,
    check_post,
    check_user,
    normalize_post,
    normalize_text,
    normalize_user,
    only_paths,
)


def user_violations(**kw: str) -> list[tuple[str, str]]:
    given = UserFields(**({"email": "ada@example.com", "display_name": "Ada"} | kw))
    return [(v.field, v.description) for v in check_user(normalize_user(given))]


def post_violations(**kw: object) -> list[tuple[str, str]]:
    given = PostFields(**({"author_id": "ada", "title": "Title"} | kw))  # type: ignore[arg-type]
    return [(v.field, v.description) for v in check_post(normalize_post(given))]


def test_normalize_text_is_nfc_and_keeps_what_already_is() -> None:
    assert normalize_text("e\u0301") == "\u00e9"
    already = "caf\u00e9"
    assert normalize_text(already) is already
    assert normalize_text("plain") == "plain"


def test_normalize_post_drops_tags_that_are_equal_once_normalised() -> None:
    fields = normalize_post(PostFields("ada", "t", "", ("cafe\u0301", "caf\u00e9", "x")))
    assert fields.tags == ("caf\u00e9", "x")


@pytest.mark.parametrize(
    "name", ["\u200b", "\u200d\ufeff", " ", "\u00a0\u3000", "\u2800", "\u3164", "\u0301"]
)
def test_nothing_visible_is_required(name: str) -> None:
    assert user_violations(display_name=name) == [("user.display_name", "required")]


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("Ad\u200bmin", "U+200B ZERO WIDTH SPACE"),
        ("Ad\u200dmin", "U+200D ZERO WIDTH JOINER"),
        ("\u202eAdmin", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("Ada\n", "U+000A"),
        ("Ada\u2029x", "U+2029 PARAGRAPH SEPARATOR"),
        ("x\ufe0f", "U+FE0F VARIATION SELECTOR-16"),
        ("\u200d\U0001f600", "U+200D ZERO WIDTH JOINER"),  # a joiner needs something before it
        ("\U0001f600\u200d", "U+200D ZERO WIDTH JOINER"),  # and after it
        ("Ada \u0301", "U+0301 COMBINING ACUTE ACCENT"),
    ],
)
def test_display_name_violations_name_the_character(name: str, named: str) -> None:
    [(field, description)] = user_violations(display_name=name)
    assert field == "user.display_name" and named in description, description


def test_stacked_marks() -> None:
    assert user_violations(display_name="a" + "\u0316" * 5) == []
    [(_, description)] = user_violations(display_name="a" + "\u0316" * 6)
    assert description == "at most 5 combining marks on one character"


@pytest.mark.parametrize(
    "email",
    [
        "a\u200b@x.io",
        "a@x\u200d.io",
        "a\x1f@x.io",
        "\u0301a@x.io",
        "a@\u0301x.io",
        "a@x.\u0301io",
        "q\u0301@x.io",
    ],
)
def test_email_rejects_invisible_controls_and_stray_marks(email: str) -> None:
    [(field, _)] = user_violations(email=email)
    assert field == "user.email"


@pytest.mark.parametrize(
    "email", ["jos\u00e9@example.com", "jose\u0301@example.com", "\u7528\u6237@\u4f8b\u5b50.cn"]
)
def test_email_accepts_international_addresses(email: str) -> None:
    assert user_violations(email=email) == []


def test_free_text_keeps_line_breaks_and_joiners() -> None:
    assert user_violations(bio="a\nb\tc\r\n\u200d\u202e") == []
    assert user_violations(bio="bell\x07") == [("user.bio", "must not contain control characters (U+0007)")]
    assert post_violations(body="x\x9b") == [("post.body", "must not contain control characters (U+009B)")]


def test_titles_and_tags_follow_the_line_rules() -> None:
    assert post_violations(title="a\u200bb") == [
        ("post.title", "must not contain invisible or formatting characters (U+200B ZERO WIDTH SPACE)")
    ]
    assert post_violations(tags=("ok", "\u200b")) == [("post.tags[1]", "required")]
    assert post_violations(tags=("\U0001f468\u200d\U0001f469",)) == []


def test_only_paths_keeps_the_changed_fields() -> None:
    violations = check_post(PostFields("ada", "\u200b", "", ("\u200b",)))
    assert [v.field for v in only_paths(violations, "post", ["tags"])] == ["post.tags[0]"]
    assert only_paths(violations, "post", ["body"]) == []


def test_large_text_is_checked_quickly() -> None:
    """Import validates every item: a 100 000 character body and ASCII fields must stay cheap."""
    body = ("Lorem ipsum \u00e9\u00e8 \U0001f600 dolor\n" * 5000)[:MAX_BODY]
    fields = PostFields("ada", "A title \u00e9", body, ("x", "y"))
    started = time.perf_counter()
    for _ in range(20):
        assert check_post(normalize_post(fields)) == []
    per_call = (time.perf_counter() - started) / 20
    assert per_call < 0.005, per_call
    ascii_user = UserFields("someone.name@example.com", "Someone Name", "short bio")
    started = time.perf_counter()
    for _ in range(2000):
        check_user(normalize_user(ascii_user))
    assert (time.perf_counter() - started) / 2000 < 50e-6
