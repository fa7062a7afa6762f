"""Data hub: datasets, records, loads with validation reports, quality scores, shared category lists.

Revision ID: datahub_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "datahub_0001"
down_revision = None
branch_labels = ("datahub",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "datahub_dataset",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("title_en", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("sector", sa.String(40), nullable=False),
        sa.Column("org_id", sa.String(32), sa.ForeignKey("identity_organisation.id",
                                                         name="fk_datahub_dataset_org_id_identity_organisation"),
                  nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("licence", sa.String(40), nullable=False),
        sa.Column("frequency", sa.String(20), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("key", sa.JSON(), nullable=False),
        sa.Column("row_count", sa.BigInteger(), nullable=False),
        sa.Column("snapshot", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("data_updated_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_datahub_dataset"),
        sa.UniqueConstraint("name", name="uq_datahub_dataset_name"),
    )
    op.create_index("ix_datahub_dataset_sector", "datahub_dataset", ["sector"])
    op.create_index("ix_datahub_dataset_org_id", "datahub_dataset", ["org_id"])
    op.create_table(
        "datahub_record",
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datahub_dataset.id", ondelete="CASCADE",
                                                             name="fk_datahub_record_dataset_id_datahub_dataset"),
                  nullable=False),
        sa.Column("row_no", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("key_text", sa.String(500), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", "row_no", name="pk_datahub_record"),
    )
    op.create_index("ix_datahub_record_dataset_key", "datahub_record", ["dataset_id", "key_text"])
    op.create_table(
        "datahub_load",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datahub_dataset.id", ondelete="CASCADE",
                                                             name="fk_datahub_load_dataset_id_datahub_dataset"),
                  nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("file_format", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("valid_rows", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(150), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datahub_load"),
    )
    op.create_index("ix_datahub_load_dataset_id", "datahub_load", ["dataset_id"])
    op.create_table(
        "datahub_quality",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datahub_dataset.id", ondelete="CASCADE",
                                                             name="fk_datahub_quality_dataset_id_datahub_dataset"),
                  nullable=False),
        sa.Column("measured_at", UTCDateTime(), nullable=False),
        sa.Column("correct", sa.Float(), nullable=False),
        sa.Column("complete", sa.Float(), nullable=False),
        sa.Column("clean", sa.Float(), nullable=False),
        sa.Column("live", sa.Float(), nullable=False),
        sa.Column("overall", sa.Float(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datahub_quality"),
    )
    op.create_index("ix_datahub_quality_dataset_id", "datahub_quality", ["dataset_id"])
    op.create_table(
        "datahub_codelist",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_en", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datahub_codelist"),
        sa.UniqueConstraint("code", name="uq_datahub_codelist_code"),
    )
    op.create_table(
        "datahub_codelist_version",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("codelist_id", sa.String(32),
                  sa.ForeignKey("datahub_codelist.id", ondelete="CASCADE",
                                name="fk_datahub_codelist_version_codelist_id_datahub_codelist"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datahub_codelist_version"),
    )
    op.create_index("ix_datahub_codelist_version_codelist_id", "datahub_codelist_version", ["codelist_id"])


def downgrade() -> None:
    for table in ("datahub_codelist_version", "datahub_codelist", "datahub_quality", "datahub_load",
                  "datahub_record", "datahub_dataset"):
        op.drop_table(table)
