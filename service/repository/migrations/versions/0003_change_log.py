"""Revision 0003: change_log: every write, in commit order (DESIGN §4)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "change_log",
        sa.Column(
            "revision",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("collection", sa.String(16), nullable=False),
        sa.Column("resource_id", sa.String(63), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
        sa.Column("commit_time_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name="pk_change_log"),
    )


def downgrade() -> None:
    op.drop_table("change_log")
