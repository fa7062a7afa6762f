"""Administrative procedures: the daily statistics table and an index of the dossiers still open.

The table is filled from the dossiers already there, so an upgraded installation shows the same
statistics as before (``smartprovince procedures rebuild-stats`` does the same at any time).

Revision ID: procedures_0002
Revises: procedures_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "procedures_0002"
down_revision = "procedures_0001"
branch_labels = None
depends_on = None

_OPEN = "finished_at IS NULL AND closed_at IS NULL"


def upgrade() -> None:
    op.create_table(
        "procedure_stats_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agency_code", sa.String(40), nullable=False),
        sa.Column("procedure_code", sa.String(40), nullable=False),
        sa.Column("agency_path", sa.String(1024), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in (
            "received", "received_online", "fee_dossiers", "paid_online", "digitised", "finished",
            "finished_early", "finished_late")],
        sa.Column("processing_seconds", sa.Float(), nullable=False),
        sa.Column("stopped_or_refused", sa.Integer(), nullable=False),
        sa.Column("open_delta", sa.Integer(), nullable=False),
        sa.Column("overdue_delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", "agency_code", "procedure_code", "agency_path",
                                name="pk_procedure_stats_daily"),
    )
    op.create_index("ix_procedure_stats_daily_path", "procedure_stats_daily", ["agency_path", "day"])
    op.create_index("ix_procedure_dossier_open", "procedure_dossier", ["received_at"],
                    sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))

    from smartprovince.procedures import daily

    daily.rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_procedure_dossier_open", table_name="procedure_dossier")
    op.drop_index("ix_procedure_stats_daily_path", table_name="procedure_stats_daily")
    op.drop_table("procedure_stats_daily")
