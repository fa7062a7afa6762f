"""Event bus tables: outbox, pending deliveries, processed events, dead letters.

Revision ID: core_bus_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_bus_0001"
down_revision = None
branch_labels = ("core_bus",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bus_outbox",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bus_outbox"),
    )
    op.create_index("ix_bus_outbox_dispatched_at", "bus_outbox", ["dispatched_at"])
    op.create_index("ix_bus_outbox_topic", "bus_outbox", ["topic"])

    op.create_table(
        "bus_delivery",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("handler", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bus_delivery"),
        sa.ForeignKeyConstraint(["event_id"], ["bus_outbox.id"], name="fk_bus_delivery_event_id_bus_outbox"),
        sa.UniqueConstraint("event_id", "handler", name="uq_bus_delivery_event_id"),
    )
    op.create_index("ix_bus_delivery_next_attempt_at", "bus_delivery", ["next_attempt_at"])

    op.create_table(
        "bus_processed",
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("handler", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "handler", name="pk_bus_processed"),
    )

    op.create_table(
        "bus_dead_letter",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("handler", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("dead_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replayed_by", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_bus_dead_letter"),
        sa.ForeignKeyConstraint(["event_id"], ["bus_outbox.id"], name="fk_bus_dead_letter_event_id_bus_outbox"),
    )
    op.create_index("ix_bus_dead_letter_dead_at", "bus_dead_letter", ["dead_at"])
    op.create_index("ix_bus_dead_letter_event_id", "bus_dead_letter", ["event_id"])


def downgrade() -> None:
    op.drop_table("bus_dead_letter")
    op.drop_table("bus_processed")
    op.drop_table("bus_delivery")
    op.drop_table("bus_outbox")
