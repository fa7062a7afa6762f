"""Operations (IOC): operations rooms and the central camera registry.

Revision ID: operations_0002
Revises: operations_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "operations_0002"
down_revision = "operations_0001"
branch_labels = None
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "operations_room",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("plan_ref", sa.String(100), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("org_path", sa.String(1024), nullable=False),
        sa.Column("area_org_id", sa.String(32), nullable=True),
        sa.Column("area_path", sa.String(1024), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("kpis", sa.JSON(), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["identity_organisation.id"],
                                name="fk_operations_room_org_id_identity_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_operations_room"),
        sa.UniqueConstraint("code", name="uq_operations_room_code"),
    )
    op.create_index("ix_operations_room_org_id", "operations_room", ["org_id"])
    op.create_index("ix_operations_room_org_path", "operations_room", ["org_path"])
    op.create_table(
        "operations_camera",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("address", sa.String(500), nullable=False),
        sa.Column("owner_org_id", sa.String(32), nullable=False),
        sa.Column("owner_path", sa.String(1024), nullable=False),
        sa.Column("stream_url", sa.String(1000), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["owner_org_id"], ["identity_organisation.id"],
                                name="fk_operations_camera_owner_org_id_identity_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_operations_camera"),
        sa.UniqueConstraint("code", name="uq_operations_camera_code"),
    )
    op.create_index("ix_operations_camera_owner_org_id", "operations_camera", ["owner_org_id"])
    op.create_index("ix_operations_camera_owner_path", "operations_camera", ["owner_path"])


def downgrade() -> None:
    op.drop_index("ix_operations_camera_owner_path", table_name="operations_camera")
    op.drop_index("ix_operations_camera_owner_org_id", table_name="operations_camera")
    op.drop_table("operations_camera")
    op.drop_index("ix_operations_room_org_path", table_name="operations_room")
    op.drop_index("ix_operations_room_org_id", table_name="operations_room")
    op.drop_table("operations_room")
