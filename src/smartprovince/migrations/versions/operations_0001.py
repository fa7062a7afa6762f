"""Operations (IOC): incidents, linked records, SOP steps, timeline, daily counts for the wall.

Revision ID: operations_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "operations_0001"
down_revision = None
branch_labels = ("operations",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "operations_incident",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("category", sa.String(60), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("org_path", sa.String(1024), nullable=False),
        sa.Column("dedup_key", sa.String(200), nullable=True),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["identity_organisation.id"], name="fk_operations_incident_org_id_identity_organisation"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operations_incident"),
    )
    for col in ("source", "category", "status", "org_id", "org_path", "dedup_key", "opened_at"):
        op.create_index(f"ix_operations_incident_{col}", "operations_incident", [col])
    op.create_index("ix_operations_incident_open", "operations_incident", ["status", "category"])

    op.create_table(
        "operations_incident_link",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("ref", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["operations_incident.id"],
            name="fk_operations_incident_link_incident_id_operations_incident",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operations_incident_link"),
        sa.UniqueConstraint("kind", "ref", name="uq_operations_incident_link_kind"),
    )
    op.create_index("ix_operations_incident_link_incident_id", "operations_incident_link", ["incident_id"])

    op.create_table(
        "operations_incident_step",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("title_en", sa.String(300), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
        sa.Column("done_at", UTCDateTime(), nullable=True),
        sa.Column("done_by", sa.String(150), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["operations_incident.id"],
            name="fk_operations_incident_step_incident_id_operations_incident",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operations_incident_step"),
    )
    op.create_index("ix_operations_incident_step_incident_id", "operations_incident_step", ["incident_id"])

    op.create_table(
        "operations_incident_entry",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor_name", sa.String(150), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("org_path", sa.String(1024), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["operations_incident.id"],
            name="fk_operations_incident_entry_incident_id_operations_incident",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_operations_incident_entry"),
    )
    op.create_index("ix_operations_incident_entry_incident_id", "operations_incident_entry", ["incident_id"])
    op.create_index("ix_operations_incident_entry_org_path", "operations_incident_entry", ["org_path"])

    op.create_table(
        "operations_daily_count",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(40), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("org_path", sa.String(1024), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "metric", "org_id", name="pk_operations_daily_count"),
    )
    op.create_index("ix_operations_daily_count_org_path", "operations_daily_count", ["org_path"])


def downgrade() -> None:
    op.drop_table("operations_daily_count")
    op.drop_table("operations_incident_entry")
    op.drop_table("operations_incident_step")
    op.drop_table("operations_incident_link")
    op.drop_table("operations_incident")
