"""job placement (executor, node, worker) and the job-list index

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("executor", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("worker_node", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("worker_id", sa.String(length=255), nullable=True))
        batch_op.create_index("ix_jobs_created_id", ["created_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_created_id")
        batch_op.drop_column("worker_id")
        batch_op.drop_column("worker_node")
        batch_op.drop_column("executor")
