"""Alembic's migrations produce exactly the schema the code declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.repository.tables import metadata

T = TypeVar("T")


def _diff(connection: sa.Connection) -> list[Any]:
    return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)


def test_sqlite_schema_matches_tables(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        assert _diff(conn) == []
    engine.dispose()


async def test_postgres_schema_matches_tables(pg_url: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.repository.database import async_url

    engine = create_async_engine(async_url(pg_url))
    async with engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
    await engine.dispose()


def _tables(connection: sa.Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names())


async def _inspect(url: str, look: Callable[[sa.Connection], T]) -> T:
    """``look`` at the schema through a connection of the URL's own (sync SQLite, async PostgreSQL)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    from service.repository.database import async_url

    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            found = look(conn)
        engine.dispose()
        return found
    async_engine = create_async_engine(async_url(url))
    async with async_engine.connect() as conn:
        found = await conn.run_sync(look)
    await async_engine.dispose()
    return found


def _change_log_columns(connection: sa.Connection) -> set[str]:
    return {column["name"] for column in sa.inspect(connection).get_columns("change_log")}


async def _down_and_up(url: str, to: str, look: Callable[[sa.Connection], T]) -> tuple[T, T]:
    """What ``look`` sees after undoing the migrations after revision ``to``, then after redoing them (and
    then the schema is again exactly the declared one)."""
    from alembic import command

    from service.repository.migrate import alembic_config, upgrade

    await asyncio.to_thread(command.downgrade, alembic_config(url), to)
    down = await _inspect(url, look)
    await asyncio.to_thread(upgrade, url)
    up = await _inspect(url, look)
    assert await _inspect(url, _diff) == []
    return down, up


async def _comments_and_trace_go_down_and_up(url: str) -> None:
    down, up = await _down_and_up(url, "0005", _change_log_columns)  # 0006: the change log's trace
    assert "trace_parent" not in down and {"revision", "payload"} <= down
    assert up == down | {"trace_parent"}
    down, up = await _down_and_up(url, "0004", _tables)  # 0005: comments
    assert "comments" not in down and {"users", "posts", "change_log"} <= down
    assert up == down | {"comments"}


async def test_sqlite_latest_migrations_go_down_and_up(sqlite_url: str) -> None:
    await _comments_and_trace_go_down_and_up(sqlite_url)


@pytest.mark.postgres
async def test_postgres_latest_migrations_go_down_and_up() -> None:
    """On a database of its own: the shared one stays at the head for the other tests."""
    from tests.conftest import fresh_pg_database

    async with fresh_pg_database() as url:
        await _comments_and_trace_go_down_and_up(url)
