"""Revision 0001: users, posts, post_tags and idempotency keys."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def _binary_order() -> sa.types.TypeEngine[str]:
    return sa.String().with_variant(sa.String(collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_norm", _binary_order(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("display_name_norm", _binary_order(), nullable=False),
        sa.Column("bio", sa.Text(), nullable=False),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.Column("update_time_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("ix_users_email_norm", "users", ["email_norm"], unique=True)
    op.create_index("ix_users_create_time_us_id", "users", ["create_time_us", "id"])
    op.create_index("ix_users_display_name_norm_id", "users", ["display_name_norm", "id"])

    op.create_table(
        "posts",
        sa.Column("id", sa.String(63), nullable=False),
        sa.Column("author_id", sa.String(63), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.Column("update_time_us", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], name="fk_posts_author_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_posts"),
    )
    op.create_index("ix_posts_create_time_us_id", "posts", ["create_time_us", "id"])
    op.create_index("ix_posts_title_id", "posts", ["title", "id"])
    op.create_index("ix_posts_author_id_create_time_us_id", "posts", ["author_id", "create_time_us", "id"])

    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.String(63), nullable=False),
        sa.Column("tag", sa.String(50), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name="fk_post_tags_post_id_posts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("post_id", "tag", name="pk_post_tags"),
    )
    op.create_index("ix_post_tags_tag_post_id", "post_tags", ["tag", "post_id"])

    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("create_time_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "request_id", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_create_time_us", "idempotency_keys", ["create_time_us"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("post_tags")
    op.drop_table("posts")
    op.drop_table("users")
