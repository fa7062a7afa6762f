"""Administrative procedures: the open / past-due differences of the daily statistics summed by month.

Filled from the daily table, so an upgraded installation keeps its figures.

Revision ID: procedures_0003
Revises: procedures_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "procedures_0003"
down_revision = "procedures_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "procedure_stats_monthly_open",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("agency_code", sa.String(40), nullable=False),
        sa.Column("procedure_code", sa.String(40), nullable=False),
        sa.Column("agency_path", sa.String(1024), nullable=False),
        sa.Column("open_delta", sa.Integer(), nullable=False),
        sa.Column("overdue_delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "agency_code", "procedure_code", "agency_path",
                                name="pk_procedure_stats_monthly_open"),
    )
    daily = sa.table("procedure_stats_daily", sa.column("day", sa.Date()), sa.column("agency_code"),
                     sa.column("procedure_code"), sa.column("agency_path"), sa.column("open_delta"),
                     sa.column("overdue_delta"))
    monthly = sa.table("procedure_stats_monthly_open", sa.column("month", sa.Date()), sa.column("agency_code"),
                       sa.column("procedure_code"), sa.column("agency_path"), sa.column("open_delta"),
                       sa.column("overdue_delta"))
    conn = op.get_bind()
    sums: dict[tuple[Any, ...], list[int]] = {}
    rows: Any = conn.execute(sa.select(daily.c.day, daily.c.agency_code, daily.c.procedure_code, daily.c.agency_path,
                                  daily.c.open_delta, daily.c.overdue_delta)
                        .where(sa.or_(daily.c.open_delta != 0, daily.c.overdue_delta != 0)))
    for day, code, proc, path, o, d in rows:
        s = sums.setdefault((day.replace(day=1), code, proc, path), [0, 0])
        s[0] += int(o)
        s[1] += int(d)
    values = [{"month": k[0], "agency_code": k[1], "procedure_code": k[2], "agency_path": k[3], "open_delta": v[0],
               "overdue_delta": v[1]} for k, v in sums.items() if v[0] or v[1]]
    for i in range(0, len(values), 5000):
        conn.execute(monthly.insert(), values[i:i + 5000])


def downgrade() -> None:
    op.drop_table("procedure_stats_monthly_open")
