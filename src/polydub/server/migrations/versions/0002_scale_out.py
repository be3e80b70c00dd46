"""Scale-out: delivery attempts, worker claims and heartbeats, cooperative cancel, workers table.

Only ADD COLUMN / CREATE: existing rows keep every value (SQLite and PostgreSQL alike).

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("jobs", sa.Column("attempt", sa.Integer, nullable=False, server_default="1"))
    op.add_column("jobs", sa.Column("queued_at", sa.Float, nullable=True))
    op.add_column("jobs", sa.Column("worker", sa.String(200), nullable=True))
    op.add_column("jobs", sa.Column("heartbeat_at", sa.Float, nullable=True))
    op.add_column("jobs", sa.Column("cancel_requested_at", sa.Float, nullable=True))
    op.add_column("jobs", sa.Column("dispatched_at", sa.Float, nullable=True))
    op.execute("UPDATE jobs SET queued_at = created_at")
    if bind.dialect.name != "sqlite":  # SQLite ignores VARCHAR lengths; others need room for new job kinds
        op.alter_column("jobs", "task", type_=sa.String(64), existing_type=sa.String(16))
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"])
    op.create_table(
        "workers",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("hostname", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("queues", sa.JSON, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("job_id", sa.String(32), nullable=True),
        sa.Column("jobs_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("models_loaded", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index("ix_jobs_created_at", "jobs")
    for column in ("dispatched_at", "cancel_requested_at", "heartbeat_at", "worker", "queued_at", "attempt"):
        op.drop_column("jobs", column)
