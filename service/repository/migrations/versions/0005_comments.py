"""Revision 0005: comments: the third collection."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("post_id", sa.String(63), nullable=False),
        sa.Column("author_id", sa.String(63), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.Column("update_time_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], name="fk_comments_post_id_posts"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_comments_author_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
    )
    op.create_index("ix_comments_create_time_us_id", "comments", ["create_time_us", "id"])
    op.create_index("ix_comments_post_id_create_time_us_id", "comments", ["post_id", "create_time_us", "id"])
    op.create_index(
        "ix_comments_author_id_create_time_us_id", "comments", ["author_id", "create_time_us", "id"]
    )


def downgrade() -> None:
    op.drop_table("comments")
