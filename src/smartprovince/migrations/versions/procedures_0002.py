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

from smartprovince.core.db import UTCDateTime

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

    # Fill the daily table from the dossiers already there. Only the pure ``daily.contribution`` is
    # used (not the module's writers), so later schema changes cannot break this step.
    from smartprovince.procedures import daily

    conn = op.get_bind()
    names = ("agency_code", "procedure_code", "agency_path", "channel", "received_at", "due_at", "finished_at",
             "closed_at", "supplement_requests", "fee_total", "paid_online", "digitised")
    dt = ("received_at", "due_at", "finished_at", "closed_at")
    dossiers = sa.table("procedure_dossier", *[sa.column(n, UTCDateTime() if n in dt else None) for n in names])
    target = sa.table("procedure_stats_daily", *[sa.column(n) for n in (*daily.KEY_FIELDS, *daily.SUM_FIELDS)])
    acc: daily.Deltas = {}
    for r in conn.execute(sa.select(*dossiers.c)):
        daily.contribution(r, acc)
    rows = [{**dict(zip(daily.KEY_FIELDS, k, strict=True)), **v} for k, v in acc.items() if any(v.values())]
    for i in range(0, len(rows), 5000):
        conn.execute(target.insert(), rows[i:i + 5000])


def downgrade() -> None:
    op.drop_index("ix_procedure_dossier_open", table_name="procedure_dossier")
    op.drop_index("ix_procedure_stats_daily_path", table_name="procedure_stats_daily")
    op.drop_table("procedure_stats_daily")
