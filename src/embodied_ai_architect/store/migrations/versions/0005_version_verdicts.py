"""model_versions.verdicts / judged_metrics: verdicts stored once, when the run ends

``judged_metrics`` are the figures the verdicts judged (the final, re-timed ones).

NULL means "not recorded" (a version stored before this revision, or one a run adopted
without judging it), never "passed".

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("verdicts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("judged_metrics", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("judged_metrics")
        batch_op.drop_column("verdicts")
