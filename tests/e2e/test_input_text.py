"""Text input over a real channel, on both backends: NFC normalisation, invisible and control characters,
combining marks where nobody writes them, and prefix search right up to U+10FFFF (issue 9, part 6).

Every write path is covered: Create, Update (including an upsert with ``allow_missing``) and Import, for
users and posts. Rejections must be INVALID_ARGUMENT naming the field, with a description that names the
offending character.
"""

from __future__ import annotations

import secrets
import unicodedata
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from wellspring.v1 import post_service_pb2 as post_api
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as api

from service.domain.models import User
from tests.e2e.helpers import fails

Code = grpc.StatusCode

# (what it is, a display name or title made with it) — each one must be rejected.
SPOOFED_LINES = [
    ("zero width space", "Ad\u200bmin"),
    ("zero width joiner between Latin letters", "Ad\u200dmin"),
    ("zero width non-joiner between Latin letters", "Ad\u200cmin"),
    ("byte order mark", "\ufeffAdmin"),
    ("right-to-left override", "Admin\u202etxt.exe"),
    ("left-to-right isolate", "\u2066Admin"),
    ("soft hyphen", "Ad\u00admin"),
    ("word joiner", "Ad\u2060min"),
    ("Hangul filler", "Admin\u3164"),
    ("variation selector on a Latin letter", "Ad\ufe0fmin"),
    ("tag characters outside an emoji flag", "Admin\U000e0041"),
    ("newline", "Ada\nLovelace"),
    ("tab", "Ada\tLovelace"),
    ("bell", "Ada\x07"),
    ("C1 control", "Ada\x85"),
    ("line separator", "Ada\u2028Lovelace"),
    ("combining mark first", "\u0301Ada"),
    ("combining mark after a space", "Ada \u0301Lovelace"),
    ("stacked combining marks", "Ada" + "\u0301\u0300\u0302\u0303\u0304\u0306\u0307\u0308"),
]

# Text people do write, which must keep working (and come back NFC).
HONEST_LINES = [
    "Zoë Ångström",
    "Zoe\u0308 A\u030angstro\u0308m",  # the same, decomposed: stored NFC
    "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # ZWJ emoji sequence
    "\U0001f3f3\ufe0f\u200d\U0001f308 pride",  # variation selector + ZWJ
    "\U0001f468\U0001f3fd\u200d\U0001f4bb dev",  # skin tone modifier + ZWJ
    "\u2764\ufe0f 1\ufe0f\u20e3",  # emoji presentation selector, keycap
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Scotland",  # emoji tag sequence
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with ZWNJ between Arabic letters
    "\u0915\u094d\u200d\u0937",  # Devanagari half form: virama + ZWJ
    "\u05e9\u05c1\u05b8\u05dc\u05d5\u05b9\u05dd",  # Hebrew with points
    "Nguy\u1ec5n Th\u1ecb",  # Vietnamese
    "\u4e2d\u6587\u540d\u5b57",
]

INVISIBLE_ONLY = ["\u200b", "\u200b\u200d\ufeff", " \u200b ", "\u3164", "\u2800", "\u00a0\u2003", "\u034f"]

SPOOFED_EMAILS = [
    ("zero width space", "ad\u200bmin@example.com"),
    ("zero width joiner", "admin\u200d@example.com"),
    ("byte order mark", "\ufeffadmin@example.com"),
    ("bidi override", "admin@exa\u202emple.com"),
    ("soft hyphen", "ad\u00admin@example.com"),
    ("control character", "admin\x01@example.com"),
    ("DEL", "admin\x7f@example.com"),
    ("combining mark first", "\u0301admin@example.com"),
    ("combining mark after @", "admin@\u0301example.com"),
    ("combining mark after a dot", "admin@example.\u0301com"),
    ("combining mark on an ASCII letter", "admi\u0335n@example.com"),
    ("variation selector", "admin\ufe0f@example.com"),
]


def tag() -> str:
    return "t" + secrets.token_hex(4)


def user(name: str = "", email: str = "", **kw: Any) -> pb.User:
    n = tag()
    return pb.User(email=email or f"{n}@example.com", display_name=name or f"User {n}", **kw)


async def create(stub: Any, u: pb.User) -> pb.User:
    return await stub.CreateUser(api.CreateUserRequest(user=u, user_id=tag()))


async def rejected(call: Any, field: str) -> str:
    """The call fails INVALID_ARGUMENT with exactly one violation, on ``field``; its description."""
    found = await fails(call, Code.INVALID_ARGUMENT)
    violations = [v for br in found["BadRequest"] for v in br.field_violations]
    assert [v.field for v in violations] == [field], violations
    return violations[0].description


def first_char(text: str, allowed: str = "") -> str:
    """The U+XXXX of the first character a description must name."""
    for ch in unicodedata.normalize("NFC", text):
        cat = unicodedata.category(ch)
        if ch not in allowed and (cat[0] in "CM" or cat in ("Zl", "Zp") or ch == "\u3164"):
            return f"U+{ord(ch):04X}"
    raise AssertionError(text)


# --------------------------------------------------------------------------------------------------------
# Display names and "required"


@pytest.mark.parametrize("name", INVISIBLE_ONLY)
async def test_invisible_only_display_name_is_not_given(users_stub, name: str) -> None:  # type: ignore[no-untyped-def]
    description = await rejected(
        users_stub.CreateUser(api.CreateUserRequest(user=user(name))), "user.display_name"
    )
    assert description == "required"


@pytest.mark.parametrize(("what", "name"), SPOOFED_LINES, ids=[w for w, _ in SPOOFED_LINES])
async def test_display_name_rejects_what_a_person_would_not_type(users_stub, what: str, name: str) -> None:  # type: ignore[no-untyped-def]
    description = await rejected(
        users_stub.CreateUser(api.CreateUserRequest(user=user(name))), "user.display_name"
    )
    if what == "stacked combining marks":
        assert "combining marks" in description
    else:
        assert first_char(name) in description, description


async def test_honest_display_names_round_trip_as_nfc(users_stub) -> None:  # type: ignore[no-untyped-def]
    for name in HONEST_LINES:
        created = await create(users_stub, user(name, bio="two\nlines\tand a tab\r\n"))
        assert created.display_name == unicodedata.normalize("NFC", name)
        got = await users_stub.GetUser(api.GetUserRequest(id=created.id))
        assert got.display_name == created.display_name
        assert got.bio == "two\nlines\tand a tab\r\n"


async def test_bio_allows_line_breaks_but_not_other_controls(users_stub) -> None:  # type: ignore[no-untyped-def]
    description = await rejected(
        users_stub.CreateUser(api.CreateUserRequest(user=user(bio="ring\x07ring"))), "user.bio"
    )
    assert "U+0007" in description


# --------------------------------------------------------------------------------------------------------
# Emails: spoofing and canonical equivalence


@pytest.mark.parametrize(("what", "email"), SPOOFED_EMAILS, ids=[w for w, _ in SPOOFED_EMAILS])
async def test_spoofed_email_is_rejected(users_stub, what: str, email: str) -> None:  # type: ignore[no-untyped-def]
    description = await rejected(
        users_stub.CreateUser(api.CreateUserRequest(user=user(email=email))), "user.email"
    )
    assert first_char(email) in description, description


async def test_canonically_equivalent_emails_are_one_user(users_stub) -> None:  # type: ignore[no-untyped-def]
    n = tag()
    decomposed = f"jose\u0301.{n}@example.com"
    created = await create(users_stub, user(email=decomposed))
    assert created.email == f"jos\u00e9.{n}@example.com"  # stored NFC
    found = await fails(
        users_stub.CreateUser(api.CreateUserRequest(user=user(email=f"JOS\u00c9.{n}@example.com"))),
        Code.ALREADY_EXISTS,
    )
    assert found["ErrorInfo"][0].reason


async def test_update_and_upsert_validate_and_normalise(users_stub) -> None:  # type: ignore[no-untyped-def]
    created = await create(users_stub, user())
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    await rejected(
        users_stub.UpdateUser(
            api.UpdateUserRequest(user=pb.User(id=created.id, display_name="\u200b"), update_mask=mask)
        ),
        "user.display_name",
    )
    await rejected(
        users_stub.UpdateUser(
            api.UpdateUserRequest(user=pb.User(id=created.id, email="a\u200b@example.com"))
        ),
        "user.email",
    )
    updated = await users_stub.UpdateUser(
        api.UpdateUserRequest(user=pb.User(id=created.id, display_name="Zoe\u0308"), update_mask=mask)
    )
    assert updated.display_name == "Zo\u00eb"
    missing = tag()
    upsert = pb.User(id=missing, email=f"{missing}@example.com", display_name="\ufeffAda")
    await rejected(
        users_stub.UpdateUser(api.UpdateUserRequest(user=upsert, allow_missing=True)), "user.display_name"
    )


async def test_import_rejects_bad_items_and_keeps_the_good(users_stub) -> None:  # type: ignore[no-untyped-def]
    n = tag()
    items = [
        pb.User(id=f"{n}-0", email=f"{n}-0@example.com", display_name="Good"),
        pb.User(id=f"{n}-1", email=f"{n}\u200b-1@example.com", display_name="Bad email"),
        pb.User(id=f"{n}-2", email=f"{n}-2@example.com", display_name="\u200b"),
        pb.User(id=f"{n}-3", email=f"{n}-3@example.com", display_name="Ad\u202emin"),
        pb.User(id=f"{n}-4", email=f"{n}-e\u0301@example.com", display_name="Zoe\u0308"),
        pb.User(id=f"{n}-5", email=f"{n}-\u00e9@example.com", display_name="same email as 4"),
    ]

    async def requests():  # type: ignore[no-untyped-def]
        for item in items:
            yield api.ImportUsersRequest(users=[item])

    result = await users_stub.ImportUsers(requests())
    failures = {f.index: f for f in result.errors}
    assert result.created_count == 2 and sorted(failures) == [1, 2, 3, 5], result
    expected = {1: "user.email", 2: "user.display_name", 3: "user.display_name"}
    for i, field in expected.items():
        assert (failures[i].code, failures[i].field) == (Code.INVALID_ARGUMENT.value[0], field), failures[i]
    assert failures[5].code == Code.ALREADY_EXISTS.value[0], failures[5]
    got = await users_stub.GetUser(api.GetUserRequest(id=f"{n}-4"))
    assert (got.email, got.display_name) == (f"{n}-\u00e9@example.com", "Zo\u00eb")


# --------------------------------------------------------------------------------------------------------
# Posts: titles and tags follow the display-name rules, bodies the bio rules


async def test_post_title_tags_and_body(users_stub, posts_stub) -> None:  # type: ignore[no-untyped-def]
    author = await create(users_stub, user())

    def post(**kw: Any) -> pb.Post:
        return pb.Post(**({"author_id": author.id, "title": "A title"} | kw))

    async def make(p: pb.Post) -> pb.Post:
        return await posts_stub.CreatePost(post_api.CreatePostRequest(post=p))

    await rejected(make(post(title="\u200b\u200b")), "post.title")
    assert "U+202E" in await rejected(make(post(title="Hello\u202e")), "post.title")
    assert "U+000A" in await rejected(make(post(title="two\nlines")), "post.title")
    assert "U+200B" in await rejected(make(post(tags=["ok", "in\u200bvisible"])), "post.tags[1]")
    await rejected(make(post(tags=["\ufeff"])), "post.tags[0]")
    assert "U+001B" in await rejected(make(post(body="colour \x1b[31m red")), "post.body")

    created = await make(
        post(
            title="Cafe\u0301 \U0001f468\u200d\U0001f469\u200d\U0001f467",
            body="a\n\tb\r\nc\u200d",
            tags=["cafe\u0301", "caf\u00e9"],
        )
    )
    assert created.title == "Caf\u00e9 \U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert list(created.tags) == ["caf\u00e9"]  # the same tag once normalised
    assert created.body == "a\n\tb\r\nc\u200d"

    await rejected(
        posts_stub.UpdatePost(
            post_api.UpdatePostRequest(
                post=pb.Post(id=created.id, title="x\u2060y"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            )
        ),
        "post.title",
    )
    n = tag()

    async def requests():  # type: ignore[no-untyped-def]
        yield post_api.ImportPostsRequest(
            posts=[
                pb.Post(id=f"{n}-0", author_id=author.id, title="fine"),
                pb.Post(id=f"{n}-1", author_id=author.id, title="fine", tags=["\u200d"]),
                pb.Post(id=f"{n}-2", author_id=author.id, title="\x00"),
            ]
        )

    result = await posts_stub.ImportPosts(requests())
    assert result.created_count == 1 and [f.index for f in result.errors] == [1, 2], result


# --------------------------------------------------------------------------------------------------------
# Prefix search


async def list_ids(stub: Any, query: str) -> set[str]:
    page = await stub.ListUsers(api.ListUsersRequest(query=query, page_size=1000))
    return {u.id for u in page.users}


async def test_prefix_search_up_to_the_last_code_point(users_stub) -> None:  # type: ignore[no-untyped-def]
    p = tag()
    names = {
        "max after prefix": f"{p}\U0010ffff",
        "max then more": f"{p}\U0010ffff\U0010ffffz",
        "just prefix": p,
        "below max": f"{p}\U0010fffd tail",
        "astral": f"{p}\U0001f600",
        "bmp top": f"{p}\uffff",
    }
    ids = {what: (await create(users_stub, user(name))).id for what, name in names.items()}
    await create(users_stub, user(p[:-1] + chr(ord(p[-1]) + 1)))  # the successor of the prefix: outside
    assert await list_ids(users_stub, p) == set(ids.values())
    assert await list_ids(users_stub, p.upper()) == set(ids.values())
    assert await list_ids(users_stub, f"{p}\U0010ffff") == {ids["max after prefix"], ids["max then more"]}
    assert await list_ids(users_stub, f"{p}\U0010ffff\U0010ffff") == {ids["max then more"]}


async def test_prefix_query_is_normalised_like_stored_names(users_stub) -> None:  # type: ignore[no-untyped-def]
    p = tag()
    created = await create(users_stub, user(f"\u00c9lodie {p}", email=f"\u00e9{p}@example.com"))
    assert created.id in await list_ids(users_stub, f"E\u0301lodie {p}")  # decomposed query, NFC name
    assert created.id in await list_ids(users_stub, f"e\u0301{p}@")  # decomposed, lower case: the email


# --------------------------------------------------------------------------------------------------------
# Rows written under the older rules


async def test_update_leaves_legacy_values_it_does_not_change(app, users_stub) -> None:  # type: ignore[no-untyped-def]
    """A stored value the new rules would refuse does not fail an Update that leaves it alone; an Update
    that writes it must make it valid. (No migration rewrites such rows: see validation.py.)"""
    n = tag()
    async with app.database.writing() as uow:
        await uow.repo("users").add(User(n, f"{n}\u200b@example.com", "\u200b", "", 1, 1, 1))
        await uow.commit()
    updated = await users_stub.UpdateUser(
        api.UpdateUserRequest(
            user=pb.User(id=n, bio="new bio"), update_mask=field_mask_pb2.FieldMask(paths=["bio"])
        )
    )
    assert (updated.bio, updated.display_name) == ("new bio", "\u200b")
    mask = field_mask_pb2.FieldMask(paths=["display_name"])
    await rejected(
        users_stub.UpdateUser(
            api.UpdateUserRequest(user=pb.User(id=n, display_name="\u200b\u200b"), update_mask=mask)
        ),
        "user.display_name",
    )
    fixed = await users_stub.UpdateUser(
        api.UpdateUserRequest(user=pb.User(id=n, display_name="Ada"), update_mask=mask)
    )
    assert fixed.display_name == "Ada"
