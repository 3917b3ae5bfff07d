"""Revision 0004: change_log_state: how far the change log has been compacted."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    state = op.create_table(
        "change_log_state",
        sa.Column("id", sa.SmallInteger(), nullable=False),
        sa.Column("compacted_revision", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_change_log_state"),
    )
    op.bulk_insert(state, [{"id": 1, "compacted_revision": 0}])


def downgrade() -> None:
    op.drop_table("change_log_state")
