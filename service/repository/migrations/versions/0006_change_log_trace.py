"""Revision 0006: change_log.trace_parent: the W3C traceparent of the write that logged the change (with
tracing on, when its trace was sampled), so that a Watch delivery can link to the write that caused it."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.add_column("change_log", sa.Column("trace_parent", sa.String(55), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("change_log") as batch:  # SQLite drops a column by rebuilding the table
        batch.drop_column("trace_parent")
