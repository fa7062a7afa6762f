"""Data hub: load modes (append, upsert), agency API sources with schedules, pull runs, scheduler lock.

Revision ID: datahub_0002
Revises: datahub_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "datahub_0002"
down_revision = "datahub_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datahub_load") as batch:
        batch.add_column(sa.Column("mode", sa.String(10), nullable=False, server_default="replace"))
    op.create_table(
        "datahub_source",
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datahub_dataset.id", ondelete="CASCADE",
                                                             name="fk_datahub_source_dataset_id_datahub_dataset"),
                  nullable=False),
        sa.Column("url", sa.String(1000), nullable=False),
        sa.Column("format", sa.String(10), nullable=False),
        sa.Column("auth_header", sa.String(100), nullable=False),
        sa.Column("auth_secret", sa.String(100), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=True),
        sa.Column("cron", sa.String(100), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name="pk_datahub_source"),
    )
    op.create_index("ix_datahub_source_next_run_at", "datahub_source", ["next_run_at"])
    op.create_table(
        "datahub_pull_run",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dataset_id", sa.String(32), sa.ForeignKey("datahub_dataset.id", ondelete="CASCADE",
                                                             name="fk_datahub_pull_run_dataset_id_datahub_dataset"),
                  nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("bytes_read", sa.BigInteger(), nullable=False),
        sa.Column("total_rows", sa.BigInteger(), nullable=False),
        sa.Column("valid_rows", sa.BigInteger(), nullable=False),
        sa.Column("error_count", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.String(1000), nullable=False),
        sa.Column("load_id", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_datahub_pull_run"),
    )
    op.create_index("ix_datahub_pull_run_dataset_id", "datahub_pull_run", ["dataset_id"])
    op.create_table(
        "datahub_scheduler_lock",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("holder", sa.String(100), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_datahub_scheduler_lock"),
    )
    op.bulk_insert(sa.table("datahub_scheduler_lock", sa.column("name", sa.String), sa.column("holder", sa.String)),
                   [{"name": "pull", "holder": ""}])


def downgrade() -> None:
    op.drop_table("datahub_scheduler_lock")
    op.drop_table("datahub_pull_run")
    op.drop_table("datahub_source")
    with op.batch_alter_table("datahub_load") as batch:
        batch.drop_column("mode")
