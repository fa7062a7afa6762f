"""Citizen feedback: reports, media, timeline, Open311 API clients, notifications.

Revision ID: feedback_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "feedback_0001"
down_revision = None
branch_labels = ("feedback",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "feedback_report",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(20), nullable=False),
        sa.Column("token", sa.String(40), nullable=False),
        sa.Column("follow_key", sa.String(40), nullable=False),
        sa.Column("category_code", sa.String(64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("address", sa.String(500), nullable=True),
        sa.Column("area_id", sa.String(32), nullable=True),
        sa.Column("unit_id", sa.String(32), nullable=False),
        sa.Column("unit_path", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("client_id", sa.String(32), nullable=True),
        sa.Column("reporter_user_id", sa.String(32), nullable=True),
        sa.Column("reporter_name", sa.String(200), nullable=True),
        sa.Column("reporter_email", sa.String(254), nullable=True),
        sa.Column("reporter_phone", sa.String(20), nullable=True),
        sa.Column("merged_into_id", sa.String(32), nullable=True),
        sa.Column("duplicate_of_id", sa.String(32), nullable=True),
        sa.Column("status_note", sa.Text(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("ack_hours", sa.Float(), nullable=True),
        sa.Column("resolve_hours", sa.Float(), nullable=True),
        sa.Column("rating_comment", sa.Text(), nullable=True),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=False),
        sa.Column("warned_at", UTCDateTime(), nullable=True),
        sa.Column("escalated_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["identity_organisation.id"],
                                name="fk_feedback_report_area_id_identity_organisation"),
        sa.ForeignKeyConstraint(["unit_id"], ["identity_organisation.id"],
                                name="fk_feedback_report_unit_id_identity_organisation"),
        sa.ForeignKeyConstraint(["reporter_user_id"], ["identity_user.id"],
                                name="fk_feedback_report_reporter_user_id_identity_user"),
        sa.ForeignKeyConstraint(["merged_into_id"], ["feedback_report.id"],
                                name="fk_feedback_report_merged_into_id_feedback_report"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_report"),
        sa.UniqueConstraint("code", name="uq_feedback_report_code"),
        sa.UniqueConstraint("token", name="uq_feedback_report_token"),
    )
    for col in ("category_code", "unit_id", "unit_path", "status", "reporter_user_id", "merged_into_id",
                "created_at", "due_at"):
        op.create_index(f"ix_feedback_report_{col}", "feedback_report", [col])
    op.create_index("ix_feedback_report_lat_lon", "feedback_report", ["lat", "lon"])

    op.create_table(
        "feedback_media",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["feedback_report.id"], name="fk_feedback_media_report_id_feedback_report"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_media"),
    )
    op.create_index("ix_feedback_media_report_id", "feedback_media", ["report_id"])

    op.create_table(
        "feedback_activity",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("actor_name", sa.String(200), nullable=True),
        sa.Column("unit_name", sa.String(255), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["feedback_report.id"],
                                name="fk_feedback_activity_report_id_feedback_report"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_activity"),
    )
    op.create_index("ix_feedback_activity_report_id", "feedback_activity", ["report_id"])

    op.create_table(
        "feedback_api_client",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_api_client"),
        sa.UniqueConstraint("name", name="uq_feedback_api_client_name"),
        sa.UniqueConstraint("key_hash", name="uq_feedback_api_client_key_hash"),
    )

    op.create_table(
        "feedback_notification",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=True),
        sa.Column("address", sa.String(254), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["feedback_report.id"],
                                name="fk_feedback_notification_report_id_feedback_report"),
        sa.ForeignKeyConstraint(["user_id"], ["identity_user.id"], name="fk_feedback_notification_user_id_identity_user"),
        sa.PrimaryKeyConstraint("id", name="pk_feedback_notification"),
    )
    op.create_index("ix_feedback_notification_report_id", "feedback_notification", ["report_id"])
    op.create_index("ix_feedback_notification_user_id", "feedback_notification", ["user_id"])
    op.create_index("ix_feedback_notification_status", "feedback_notification", ["status"])


def downgrade() -> None:
    op.drop_table("feedback_notification")
    op.drop_table("feedback_api_client")
    op.drop_table("feedback_activity")
    op.drop_table("feedback_media")
    op.drop_table("feedback_report")
