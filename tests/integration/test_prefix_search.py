"""Prefix search (ListUsers ``query``) against real SQLite and real PostgreSQL: the index range the
repository builds must find exactly the names and emails that start with the folded prefix, up to and
including U+10FFFF (issue 9, part 6). The range is only right in code-point order, so on PostgreSQL the
test also pins the columns' "C" collation and shows that a linguistic collation would answer differently.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from service.domain.models import Ordering, PageRequest, User
from service.repository.database import open_database
from service.repository.resources import fold
from service.repository.sql import prefix_successor
from tests.conftest import _truncate

# Characters around every boundary the bound could get wrong: case, Latin-1, the last BMP code points
# before and after the surrogates, U+FFFF, astral, the last two code points, and a punctuation mark
# that linguistic collations sort before letters.
ALPHABET = ["a", "B", "b", "z", "{", " ", "é", "ß", "İ", "\ud7ff", "\ue000", "\uffff", "\U0001f600"]
ALPHABET += ["\U0010fffe", "\U0010ffff"]
PAGE = PageRequest(Ordering("create_time"), 1000)


def names(count: int, seed: int = 9) -> list[str]:
    rng = random.Random(seed)
    made = {"".join(rng.choices(ALPHABET, k=rng.randint(1, 4))) for _ in range(count)}
    made |= {"z\U0010ffff", "z\U0010ffff\U0010ffff", "\U0010ffff", "\U0010ffff" * 3, "\ud7ff\U0010ffff"}
    return sorted(made)


def prefixes(stored: list[str]) -> list[str]:
    found = {n[:k] for n in stored for k in range(1, len(n) + 1)}
    found |= {"\U0010ffff", "\U0010ffff\U0010ffff", "z\U0010ffff", "\ud7ff", "nothing-starts-so"}
    return sorted(found)[:400]


def expected(stored: dict[str, str], prefix: str) -> set[str]:
    return {i for i, name in stored.items() if fold(name).startswith(fold(prefix))}


async def store(database: Any, display_names: list[str]) -> dict[str, str]:
    stored = {f"u{n:04d}": name for n, name in enumerate(display_names)}
    async with database.writing() as uow:
        for n, (user_id, name) in enumerate(stored.items()):
            await uow.repo("users").add(User(user_id, f"{n}@x.io", name, "", n, n, 1))
        await uow.commit()
    return stored


async def test_prefix_search_matches_startswith_in_code_point_order(database: Any) -> None:
    stored = await store(database, names(300))
    async with database.reading() as uow:
        for prefix in prefixes(list(stored.values())):
            page = await uow.repo("users").list_page((("query", prefix),), PAGE)
            assert {u.id for u in page.items} == expected(stored, prefix), ascii(prefix)


@pytest.fixture
async def pg_database(pg_url: str) -> AsyncIterator[Any]:
    """PostgreSQL only: SQLite's columns use its BINARY collation, which is code-point order."""
    database = open_database(pg_url)
    await _truncate(database)
    try:
        yield database
    finally:
        await database.close()


@pytest.mark.postgres
async def test_postgres_columns_compare_in_code_point_order(pg_database: Any) -> None:
    """The range needs byte (= code-point) order. The columns say "C" whatever the database's default
    collation is; under a linguistic collation the same ranges answer differently, so the test above
    would catch a column created without "C"."""
    database = pg_database
    async with database.engine.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT column_name, collation_name FROM information_schema.columns"
            " WHERE table_name = 'users' AND column_name IN ('email_norm', 'display_name_norm')"
        )
        assert dict(rows.all()) == {"email_norm": "C", "display_name_norm": "C"}
    stored = await store(database, names(300))
    linguistic = sa.text(
        'SELECT id FROM users WHERE display_name_norm COLLATE "en-x-icu" >= :low'
        ' AND (CAST(:high AS text) IS NULL OR display_name_norm COLLATE "en-x-icu" < :high)'
    )
    wrong = []
    async with database.engine.connect() as conn:
        for prefix in prefixes(list(stored.values())):
            low = fold(prefix)
            found = await conn.execute(linguistic, {"low": low, "high": prefix_successor(low)})
            if set(found.scalars()) != expected(stored, prefix):
                wrong.append(prefix)
    assert len(wrong) > 10, wrong  # e.g. "z": ICU sorts "{" before letters, so [z, {) is empty


@pytest.mark.parametrize(
    ("prefix", "successor"),
    [
        ("", None),
        ("a", "b"),
        ("ab", "ac"),
        ("a\U0010ffff", "b"),
        ("a\U0010ffff\U0010ffff", "b"),
        ("\U0010ffff", None),
        ("\U0010ffff" * 3, None),
        ("\ud7ff", "\ue000"),  # skips the surrogates, which no stored text can contain
        ("\uffff", "\U00010000"),
        ("x\U0010fffe", "x\U0010ffff"),
    ],
)
def test_prefix_successor(prefix: str, successor: str | None) -> None:
    assert prefix_successor(prefix) == successor
