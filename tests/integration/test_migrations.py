"""Alembic's migrations produce exactly the schema the code declares, on SQLite and on PostgreSQL."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from service.repository.tables import metadata


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
