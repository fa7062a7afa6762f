"""Operations (IOC): a covering index on the daily counts for the wall's monthly sums.

Revision ID: operations_0003
Revises: operations_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "operations_0003"
down_revision = "operations_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_operations_daily_count_wall", "operations_daily_count", ["day", "metric", "org_id", "count"])


def downgrade() -> None:
    op.drop_index("ix_operations_daily_count_wall", table_name="operations_daily_count")
