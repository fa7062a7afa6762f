"""identity: administrative-area geometry (centre, bounding box, GeoJSON) per organisation.

Revision ID: identity_0002
Revises: identity_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "identity_0002"
down_revision = "identity_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_org_area",
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("centre_lon", sa.Float(), nullable=False),
        sa.Column("centre_lat", sa.Float(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("centre_quality", sa.String(32), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["identity_organisation.id"],
            ondelete="CASCADE",
            name=op.f("fk_identity_org_area_org_id_identity_organisation"),
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_identity_org_area")),
    )
    op.create_index(op.f("ix_identity_org_area_level"), "identity_org_area", ["level"])


def downgrade() -> None:
    op.drop_index(op.f("ix_identity_org_area_level"), table_name="identity_org_area")
    op.drop_table("identity_org_area")
