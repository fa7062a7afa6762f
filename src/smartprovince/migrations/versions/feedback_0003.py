"""Citizen feedback: statistics per (unit, category) kept up to date on every write, filled from the reports.

Revision ID: feedback_0003
Revises: feedback_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feedback_0003"
down_revision = "feedback_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_stat",
        sa.Column("unit_id", sa.String(32), nullable=False),
        sa.Column("unit_path", sa.String(1024), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("handled", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("satisfied", sa.Integer(), nullable=False),
        sa.Column("rating_sum", sa.Integer(), nullable=False),
        sa.Column("ack_sum", sa.Float(), nullable=False),
        sa.Column("ack_n", sa.Integer(), nullable=False),
        sa.Column("res_sum", sa.Float(), nullable=False),
        sa.Column("res_n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "unit_path", "category_code", name="pk_feedback_stat"),
    )
    # The reports already there (same rules as feedback/stats.py).
    op.execute(
        "INSERT INTO feedback_stat (unit_id, unit_path, category_code, total, handled, on_time, rated, satisfied,"
        " rating_sum, ack_sum, ack_n, res_sum, res_n)"
        " SELECT unit_id, unit_path, category_code, count(*),"
        " sum(CASE WHEN status IN ('resolved', 'closed') THEN 1 ELSE 0 END),"
        " sum(CASE WHEN status IN ('resolved', 'closed') AND resolved_at <= due_at THEN 1 ELSE 0 END),"
        " count(rating), sum(CASE WHEN rating >= 4 THEN 1 ELSE 0 END), coalesce(sum(rating), 0),"
        " coalesce(sum(ack_hours), 0), count(ack_hours), coalesce(sum(resolve_hours), 0), count(resolve_hours)"
        " FROM feedback_report WHERE merged_into_id IS NULL GROUP BY unit_id, unit_path, category_code"
    )


def downgrade() -> None:
    op.drop_table("feedback_stat")
