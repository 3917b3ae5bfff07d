"""Revision 0002: cache_outbox: cache invalidations written in the change's transaction (DESIGN §3)."""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "cache_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("collection", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(63), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cache_outbox"),
    )
    op.create_index("ix_cache_outbox_create_time_us", "cache_outbox", ["create_time_us"])


def downgrade() -> None:
    op.drop_table("cache_outbox")
