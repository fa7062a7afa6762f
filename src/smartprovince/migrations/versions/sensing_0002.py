"""IoT sensing: dead letters of the MQTT bridge (messages it could not store).

Revision ID: sensing_0002
Revises: sensing_0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "sensing_0002"
down_revision = "sensing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sensing_mqtt_dead_letter",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensing_mqtt_dead_letter")),
    )
    op.create_index(op.f("ix_sensing_mqtt_dead_letter_received_at"), "sensing_mqtt_dead_letter", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_sensing_mqtt_dead_letter_received_at"), table_name="sensing_mqtt_dead_letter")
    op.drop_table("sensing_mqtt_dead_letter")
