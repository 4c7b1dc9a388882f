"""plan step technique as text (it holds the ' | '-joined alternatives of a step)

PostgreSQL enforces VARCHAR lengths (SQLite does not): a plan step listing six alternative
techniques (92 characters) failed the whole optimize job there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        return  # SQLite stores any length in a VARCHAR column; no table rebuild needed
    op.alter_column("plan_steps", "technique", type_=sa.Text(), existing_type=sa.String(length=64))


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        return
    op.alter_column("plan_steps", "technique", type_=sa.String(length=64), existing_type=sa.Text())
