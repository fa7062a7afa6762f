"""Administrative procedures: a procedure can be superseded by another code (local code → national code).

Adds ``superseded_by`` / ``superseded_at`` and retires the three local codes of the first catalog whose
national codes were confirmed (docs/procedures.md, "Codes checked"): HD-06-03 → 2.001159, HD-06-04 →
1.003677, HD-06-09 → 1.001456 — only where the national code is already in the catalog; otherwise the
next load of the shipped catalog (``smartprovince procedures import-catalog``, the demo) retires them.
Dossiers keep the version they were received under.

Revision ID: procedures_0004
Revises: procedures_0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "procedures_0004"
down_revision = "procedures_0003"
branch_labels = None
depends_on = None

# Frozen here as it was at this revision; later retirements travel with the catalog file.
_RETIRED = {"HD-06-03": "2.001159", "HD-06-04": "1.003677", "HD-06-09": "1.001456"}


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild: on SQLite a rebuild would drop a table the dossiers reference).
    op.add_column("procedure", sa.Column("superseded_by", sa.String(40), nullable=True))
    op.add_column("procedure", sa.Column("superseded_at", UTCDateTime(), nullable=True))
    procedure = sa.table("procedure", sa.column("code", sa.String()), sa.column("is_current", sa.Boolean()),
                         sa.column("superseded_by", sa.String()), sa.column("superseded_at", UTCDateTime()))
    conn = op.get_bind()
    at = datetime.now(UTC)
    for old, new in _RETIRED.items():
        successor = conn.execute(sa.select(sa.func.count()).select_from(procedure).where(
            procedure.c.code == new, procedure.c.is_current.is_(True))).scalar()
        if successor:
            conn.execute(procedure.update().where(procedure.c.code == old, procedure.c.superseded_by.is_(None))
                         .values(superseded_by=new, superseded_at=at))


def downgrade() -> None:
    op.drop_column("procedure", "superseded_at")  # SQLite 3.35+ drops a column in place
    op.drop_column("procedure", "superseded_by")
