"""Working-day calendar: the override table (government-decided days off and make-up working days).

The table is seeded with the decisions shipped in ``core/calendar_data/vn_decisions.json``.

Revision ID: core_calendar_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "core_calendar_0001"
down_revision = None
branch_labels = ("core_calendar",)
depends_on = None

DATA_FILE = Path(__file__).resolve().parents[2] / "core" / "calendar_data" / "vn_decisions.json"


def upgrade() -> None:
    table = op.create_table(
        "core_calendar_override",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(300), nullable=False),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_core_calendar_override"),
    )
    op.create_index("ix_core_calendar_override_day", "core_calendar_override", ["day"], unique=True)
    days = json.loads(DATA_FILE.read_text(encoding="utf-8"))["days"]
    seeded_at = datetime(2026, 12, 2, tzinfo=UTC)
    bind = op.get_bind()
    rows = []
    for i, row in enumerate(days):
        rows.append(
            {
                # Fixed ids so that both databases get the same rows.
                "id": f"{0xCA1E0000 + i:032x}",
                "day": date.fromisoformat(row["day"]),
                "kind": row["kind"],
                "reason": row["reason"],
                "reference": row.get("reference"),
                "updated_at": seeded_at.replace(tzinfo=None) if bind.dialect.name == "sqlite" else seeded_at,
                "updated_by": "seed",
            }
        )
    op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_index("ix_core_calendar_override_day", table_name="core_calendar_override")
    op.drop_table("core_calendar_override")
