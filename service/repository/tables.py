"""SQLAlchemy Core tables. Times are BIGINT microseconds since the epoch: exact and portable keyset keys."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from service.domain.specs import COMMENTS, POSTS, USERS, CollectionSpec
from service.repository.resources import TableSpec


def _binary_order() -> sa.types.TypeEngine[str]:
    # Unbounded, because lower() can lengthen text ("İ" becomes two code points). Prefix ranges
    # (col >= p AND col < p || U+10FFFF) need code-point order: PostgreSQL's default collation is
    # linguistic, so it gets "C"; SQLite's BINARY already is code-point order for UTF-8.
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _resource_table(spec: CollectionSpec[Any, Any], *own: sa.Column[Any] | sa.Index) -> sa.Table:
    """A collection's table: the columns every stored resource has (``SqlRepository`` reads and writes
    them: the id, the times and the version behind the etag), one foreign key per reference of the spec,
    and the collection's own; indexed for the default ordering, (create_time_us, id), and for each
    reference by the same order (its filter, and the check that refuses a delete while it refers)."""
    return sa.Table(
        spec.collection,
        metadata,
        sa.Column("id", sa.String(63), primary_key=True),
        *(
            sa.Column(ref.field, sa.String(63), sa.ForeignKey(f"{ref.collection}.id"), nullable=False)
            for ref in spec.references
        ),
        *(c for c in own if isinstance(c, sa.Column)),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.Column("update_time_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Index(None, "create_time_us", "id"),
        *(sa.Index(None, ref.field, "create_time_us", "id") for ref in spec.references),
        *(i for i in own if isinstance(i, sa.Index)),
    )


users = _resource_table(
    USERS,
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_norm", _binary_order(), nullable=False),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("display_name_norm", _binary_order(), nullable=False),
    sa.Column("bio", sa.Text(), nullable=False),
    sa.Index(None, "email_norm", unique=True),
    sa.Index(None, "display_name_norm", "id"),
)

posts = _resource_table(
    POSTS,
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("tags", sa.Text(), nullable=False),
    sa.Index(None, "title", "id"),
)

post_tags = sa.Table(
    "post_tags",
    metadata,
    sa.Column("post_id", sa.String(63), sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag", sa.String(50), primary_key=True),
    sa.Index(None, "tag", "post_id"),
)

comments = _resource_table(COMMENTS, sa.Column("body", sa.Text(), nullable=False))

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(32), primary_key=True),
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("result", sa.Text(), nullable=False),
    sa.Column("create_time_us", sa.BigInteger(), nullable=False),
    sa.Index(None, "create_time_us"),
)


def _resource_log(name: str, key: str, *columns: sa.Column[Any] | sa.Index) -> sa.Table:
    """Rows about changes to resources, in the order they were written: ``key`` auto-increments (a 64-bit
    INTEGER on SQLite, where only that type makes it the rowid), then the resource's collection and id."""
    return sa.Table(
        name,
        metadata,
        sa.Column(
            key, sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("collection", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(63), nullable=False),
        *columns,
    )


# Cache invalidations of committed writes that may not have reached Redis yet (DESIGN §3). A row is
# written in the write's transaction and deleted once its tombstone landed; `failed` marks one that could
# not be applied at write time.
cache_outbox = _resource_log(
    "cache_outbox",
    "id",
    sa.Column("version", sa.BigInteger(), nullable=False),
    sa.Column("deleted", sa.Boolean(), nullable=False),
    sa.Column("failed", sa.Boolean(), nullable=False),
    sa.Column("create_time_us", sa.BigInteger(), nullable=False),
    sa.Index(None, "create_time_us"),
)

# Every committed change, in commit order: the source of Watch and of Export's snapshot revision
# (DESIGN §4). `payload` is the serialized resource after the change (NULL for deletes).
change_log = _resource_log(
    "change_log",
    "revision",
    sa.Column("kind", sa.SmallInteger(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=True),
    sa.Column("commit_time_us", sa.BigInteger(), nullable=False),
    # the write's W3C traceparent, when it was traced (a Watch delivery links to it); else NULL
    sa.Column("trace_parent", sa.String(55), nullable=True),
)

# One row: every revision up to `compacted_revision` may have been deleted by compaction; every later one is
# kept. A watcher asking for older revisions is told OUT_OF_RANGE instead of silently missing events.
change_log_state = sa.Table(
    "change_log_state",
    metadata,
    sa.Column("id", sa.SmallInteger(), primary_key=True),
    sa.Column("compacted_revision", sa.BigInteger(), nullable=False),
)

# How each collection of the registry is stored (repository.resources reads these).
TABLES: dict[str, TableSpec[Any]] = {
    "users": TableSpec(
        USERS,
        users,
        folded={"email": "email_norm", "display_name": "display_name_norm"},
        size_overhead=160,
    ),
    "posts": TableSpec(POSTS, posts, json_fields=("tags",), item_tables={"tags": post_tags}),
    "comments": TableSpec(COMMENTS, comments),
}
