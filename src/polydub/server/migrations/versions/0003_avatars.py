"""Avatars: uploaded portraits that animations (jobs of kind "animate") refer to.

Only CREATE: existing rows keep every value (SQLite and PostgreSQL alike).

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "avatars",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=""),
        sa.Column("image_name", sa.String(255), nullable=False),
        sa.Column("image_path", sa.Text, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("faces", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_avatars_created_at", "avatars", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_avatars_created_at", "avatars")
    op.drop_table("avatars")
