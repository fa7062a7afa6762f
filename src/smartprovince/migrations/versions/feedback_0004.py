"""Citizen feedback: a covering index of the public map ordered by time, for viewports that show a large area.

Revision ID: feedback_0004
Revises: feedback_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "feedback_0004"
down_revision = "feedback_0003"
branch_labels = None
depends_on = None

# The map answers the newest reports of a viewport. For a wide viewport (a district, the province) most
# reports are inside it: reading this index newest first stops after the first ``limit`` that match, instead
# of reading every report of the latitude band and sorting them (ix_feedback_report_map, still used for
# small viewports). Measured with bench/feedback_map_stats.py (docs/feedback.md).
RECENT_COLUMNS = ["created_at", "lat", "lon", "merged_into_id", "status", "category_code", "id", "code"]


def upgrade() -> None:
    op.create_index("ix_feedback_report_recent", "feedback_report", RECENT_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_feedback_report_recent", table_name="feedback_report")
