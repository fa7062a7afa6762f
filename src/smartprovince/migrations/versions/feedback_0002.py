"""Citizen feedback: shared rate-limit counters; covering indexes for the statistics and the public map.

Revision ID: feedback_0002
Revises: feedback_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "feedback_0002"
down_revision = "feedback_0001"
branch_labels = None
depends_on = None

# Every column the statistics read, the filter (merged_into_id IS NULL) and the grouped columns first: the
# database answers from the index alone (a narrow scan in group order, no table rows, no sort) instead of
# reading each report with its description. Measured with bench/feedback_map_stats.py (docs/feedback.md).
STATS_COLUMNS = ["merged_into_id", "unit_id", "category_code", "status", "resolved_at", "due_at", "rating",
                 "ack_hours", "resolve_hours", "created_at", "unit_path"]

# The public map's viewport query (bbox on lat/lon, newest first) answered from the index alone.
MAP_COLUMNS = ["lat", "lon", "merged_into_id", "status", "category_code", "created_at", "id", "code"]


def upgrade() -> None:
    op.create_table(
        "feedback_rate_window",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot", name="pk_feedback_rate_window"),
    )
    op.create_index("ix_feedback_report_stats", "feedback_report", STATS_COLUMNS)
    op.create_index("ix_feedback_report_map", "feedback_report", MAP_COLUMNS)
    op.drop_index("ix_feedback_report_lat_lon", table_name="feedback_report")  # a prefix of the map index


def downgrade() -> None:
    op.create_index("ix_feedback_report_lat_lon", "feedback_report", ["lat", "lon"])
    op.drop_index("ix_feedback_report_map", table_name="feedback_report")
    op.drop_index("ix_feedback_report_stats", table_name="feedback_report")
    op.drop_table("feedback_rate_window")
