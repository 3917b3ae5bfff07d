"""Bad items in an import (issue 9, part 7), against the real server on both backends: they are found by one
query per chunk (a duplicate email, within the chunk or against the table; a missing author) instead of
replaying the chunk one item per savepoint, and whatever that query misses is found by halving the failing
group. Either way each bad item is reported by index with the error it always had.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from wellspring.v1 import post_service_pb2 as posts_api
from wellspring.v1 import resources_pb2 as pb
from wellspring.v1 import user_service_pb2 as users_api

from service.bootstrap import App
from service.repository.resources import SqlRepository

MIXED = 2_000  # items: four chunks of IMPORT_CHUNK
ALREADY_EXISTS = grpc.StatusCode.ALREADY_EXISTS.value[0]


def _email(tag: str, name: str) -> str:
    return f"{name}.{tag}@example.com"


def _stored(tag: str) -> list[pb.User]:
    return [pb.User(id=f"{tag}-s{n}", email=_email(tag, f"s{n}"), display_name=f"S {n}") for n in range(40)]


def _mixed(tag: str, count: int = MIXED) -> tuple[list[pb.User], list[int]]:
    """Fresh users with 7.5 % bad ones (a stored email, the same in capitals, the email of the item
    before), and in the second chunk updates of stored users that take, free and re-take emails."""
    users, bad = [], []
    for i in range(count):
        email, position = _email(tag, f"m{i}"), i % 40
        if position == 3:
            email = _email(tag, f"s{(i // 40) % 20}")
        elif position == 13:
            email = _email(tag, f"s{(i // 40) % 20}").upper()
        elif position == 23:
            email = users[-1].email
        if position in (3, 13, 23):
            bad.append(i)
        users.append(pb.User(id=f"{tag}-m{i}", email=email, display_name=f"M {i}"))
    moves = {
        507: ("s20", _email(tag, "s21")),  # held by s21: refused
        508: ("s22", _email(tag, "moved22")),  # frees s22's email ...
        509: ("s23", _email(tag, "s22")),  # ... which this later update takes
        510: (None, _email(tag, "s23")),  # a create: creates land before updates, so s23 still has it
    }
    for i, (stored, email) in moves.items():
        user_id = f"{tag}-{stored}" if stored else f"{tag}-m{i}"
        users[i] = pb.User(id=user_id, email=email, display_name=f"Moved {i}")
    return users, sorted([*bad, 507, 510])


async def _stream(
    users: list[pb.User], per_message: int = 250
) -> AsyncIterator[users_api.ImportUsersRequest]:
    for start in range(0, len(users), per_message):
        yield users_api.ImportUsersRequest(users=users[start : start + per_message])


@contextmanager
def _statements(app: App) -> Iterator[Counter[str]]:
    """The SQL statements the server runs meanwhile, by first word (SAVEPOINT, INSERT, ...)."""
    engine = app.database.engine  # type: ignore[attr-defined]
    engine = getattr(engine, "sync_engine", engine)
    counts: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        counts[statement.split(None, 1)[0].upper()] += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield counts
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


async def _import_mixed(app: App, stub: Any, count: int = MIXED) -> tuple[Any, list[int], Counter[str], str]:
    tag = secrets.token_hex(4)
    assert (await stub.ImportUsers(_stream(_stored(tag)))).created_count == 40
    users, bad = _mixed(tag, count)
    with _statements(app) as counted:
        reply = await stub.ImportUsers(_stream(users), timeout=60)
    return reply, bad, counted, tag


def _outcome(reply: Any, tag: str) -> list[tuple[int, int, str, str]]:
    return [(e.index, e.code, e.message.replace(tag, "TAG"), e.field) for e in reply.errors]


async def test_bad_items_are_found_without_a_savepoint_per_item(app: App, users_stub: Any) -> None:
    reply, bad, counted, tag = await _import_mixed(app, users_stub)

    assert (reply.created_count, reply.updated_count, reply.failed_count) == (
        MIXED - len(bad) - 2,
        2,
        len(bad),
    )
    assert [e.index for e in reply.errors] == bad
    assert {(e.code, e.message) for e in reply.errors} == {
        (ALREADY_EXISTS, "a user with this email already exists")
    }
    # One savepoint per chunk (its writes as one group); replaying a chunk one item at a time took 500.
    assert counted["SAVEPOINT"] <= MIXED // 500 + 1, counted
    stored = {u.id: u.email for u in await _get(users_stub, [f"{tag}-s{n}" for n in (20, 22, 23)])}
    assert stored == {
        f"{tag}-s20": _email(tag, "s20"),
        f"{tag}-s22": _email(tag, "moved22"),
        f"{tag}-s23": _email(tag, "s22"),
    }


async def test_halving_finds_what_the_query_missed_with_the_same_errors(
    app: App, users_stub: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A check that sees nothing (as when a concurrent writer takes an email after it ran) leaves the
    constraint to fire: halving the failing groups finds the same items, with the same errors."""
    checked, _, _, checked_tag = await _import_mixed(app, users_stub, 1000)

    async def sees_nothing(self: SqlRepository[Any], writes: Any) -> dict[str, Any]:
        return {}

    monkeypatch.setattr(SqlRepository, "conflicts", sees_nothing)
    halved, _, counted, halved_tag = await _import_mixed(app, users_stub, 1000)

    assert _outcome(halved, halved_tag) == _outcome(checked, checked_tag)
    assert (halved.created_count, halved.updated_count) == (checked.created_count, checked.updated_count)
    assert counted["SAVEPOINT"] < 1000, counted  # fewer than one per item, even with 7.5 % bad


async def test_posts_of_missing_authors_are_found_by_one_query(
    app: App, users_stub: Any, posts_stub: Any
) -> None:
    tag = secrets.token_hex(4)
    author = f"{tag}-author"
    user = pb.User(email=_email(tag, "author"), display_name="Author")
    await users_stub.CreateUser(users_api.CreateUserRequest(user_id=author, user=user))
    posts = [
        pb.Post(id=f"{tag}-p{i}", author_id=f"{tag}-nobody" if i % 10 == 4 else author, title=f"P {i}")
        for i in range(1000)
    ]

    async def stream() -> AsyncIterator[posts_api.ImportPostsRequest]:
        for start in range(0, len(posts), 250):
            yield posts_api.ImportPostsRequest(posts=posts[start : start + 250])

    with _statements(app) as counted:
        reply = await posts_stub.ImportPosts(stream(), timeout=60)

    missing = [i for i in range(1000) if i % 10 == 4]
    assert (reply.created_count, reply.failed_count) == (1000 - len(missing), len(missing))
    assert [e.index for e in reply.errors] == missing
    assert {(e.code, e.field) for e in reply.errors} == {
        (grpc.StatusCode.INVALID_ARGUMENT.value[0], "post.author_id")
    }
    assert counted["SAVEPOINT"] <= 3, counted


async def _get(stub: Any, ids: list[str]) -> list[pb.User]:
    reply = await stub.BatchGetUsers(users_api.BatchGetUsersRequest(ids=ids))
    return list(reply.users)
