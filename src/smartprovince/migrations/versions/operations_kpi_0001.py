"""Operations analytics (IOC): KPI definitions and their values per period and area.

Revision ID: operations_kpi_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "operations_kpi_0001"
down_revision = None
branch_labels = ("operations_kpi",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "operations_kpi_definition",
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("name_en", sa.String(300), nullable=False),
        sa.Column("group", sa.String(60), nullable=False),
        sa.Column("unit", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("frequency", sa.String(10), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("formula", sa.Text(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("reference", sa.JSON(), nullable=False),
        sa.Column("amber_band", sa.Float(), nullable=False),
        sa.Column("source_note", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_operations_kpi_definition"),
    )
    op.create_table(
        "operations_kpi_value",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kpi_code", sa.String(60), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("org_id", sa.String(32), nullable=False),
        sa.Column("org_path", sa.String(1024), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("target", sa.Float(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("alarm", sa.Boolean(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["kpi_code"], ["operations_kpi_definition.code"],
                                name="fk_operations_kpi_value_kpi_code_operations_kpi_definition"),
        sa.PrimaryKeyConstraint("id", name="pk_operations_kpi_value"),
        sa.UniqueConstraint("kpi_code", "period", "org_id", name="uq_operations_kpi_value_kpi_code"),
    )
    op.create_index("ix_operations_kpi_value_lookup", "operations_kpi_value", ["kpi_code", "org_id", "period"])


def downgrade() -> None:
    op.drop_table("operations_kpi_value")
    op.drop_table("operations_kpi_definition")
