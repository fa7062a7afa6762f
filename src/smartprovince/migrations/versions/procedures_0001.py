"""Administrative procedures: catalog versions, dossiers, action log, counters, attachments, payments.

Revision ID: procedures_0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "procedures_0001"
down_revision = None
branch_labels = ("procedures",)
depends_on = ("identity_0001",)


def upgrade() -> None:
    op.create_table(
        "procedure",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_current", sa.Boolean(), nullable=False),
        sa.Column("national_code", sa.String(40), nullable=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("field", sa.String(200), nullable=False),
        sa.Column("agency_code", sa.String(40), nullable=False),
        sa.Column("agency_name", sa.String(300), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("online_level", sa.String(10), nullable=False),
        sa.Column("processing_time", sa.Numeric(8, 2), nullable=False),
        sa.Column("processing_unit", sa.String(20), nullable=False),
        sa.Column("cutoff_hour", sa.Integer(), nullable=True),
        sa.Column("fees", sa.JSON(), nullable=False),
        sa.Column("documents", sa.JSON(), nullable=False),
        sa.Column("result_kind", sa.String(20), nullable=False),
        sa.Column("result_name", sa.String(300), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("is_essential", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure"),
        sa.UniqueConstraint("code", "version", name="uq_procedure_code_version"),
    )
    op.create_index("ix_procedure_code", "procedure", ["code"])
    op.create_index("ix_procedure_field", "procedure", ["field"])
    op.create_index("ix_procedure_agency_code", "procedure", ["agency_code"])
    op.create_index("ix_procedure_current", "procedure", ["is_current", "code"])

    op.create_table(
        "procedure_dossier_counter",
        sa.Column("agency_code", sa.String(40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("agency_code", "day", name="pk_procedure_dossier_counter"),
    )

    op.create_table(
        "procedure_dossier",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("lookup_key", sa.String(16), nullable=False),
        sa.Column("procedure_id", sa.String(32), nullable=False),
        sa.Column("procedure_code", sa.String(40), nullable=False),
        sa.Column("agency_code", sa.String(40), nullable=False),
        sa.Column("agency_org_id", sa.String(32), nullable=True),
        sa.Column("agency_path", sa.String(1024), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("applicant_user_id", sa.String(32), nullable=True),
        sa.Column("applicant_name", sa.String(200), nullable=False),
        sa.Column("applicant_cccd", sa.String(12), nullable=True),
        sa.Column("applicant_phone", sa.String(20), nullable=True),
        sa.Column("applicant_email", sa.String(200), nullable=True),
        sa.Column("applicant_address", sa.String(400), nullable=False),
        sa.Column("form_data", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("extended_due_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("returned_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("supplement_requested_at", UTCDateTime(), nullable=True),
        sa.Column("supplement_requests", sa.Integer(), nullable=False),
        sa.Column("supplement_days", sa.Integer(), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=False),
        sa.Column("current_unit", sa.String(200), nullable=False),
        sa.Column("claimed_by", sa.String(32), nullable=True),
        sa.Column("claimed_by_name", sa.String(200), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("fee_total", sa.Integer(), nullable=False),
        sa.Column("fee_paid", sa.Integer(), nullable=False),
        sa.Column("paid_online", sa.Boolean(), nullable=False),
        sa.Column("digitised", sa.Boolean(), nullable=False),
        sa.Column("return_method", sa.String(20), nullable=True),
        sa.Column("result_note", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_dossier"),
        sa.UniqueConstraint("code", name="uq_procedure_dossier_code"),
        sa.ForeignKeyConstraint(["procedure_id"], ["procedure.id"], name="fk_procedure_dossier_procedure_id_procedure"),
    )
    op.create_index("ix_procedure_dossier_agency_status_due", "procedure_dossier", ["agency_path", "status", "due_at"])
    op.create_index("ix_procedure_dossier_received", "procedure_dossier", ["received_at", "agency_code", "procedure_code"])
    op.create_index("ix_procedure_dossier_applicant", "procedure_dossier", ["applicant_user_id", "submitted_at"])

    op.create_table(
        "procedure_dossier_action",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dossier_id", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("verb", sa.String(30), nullable=False),
        sa.Column("from_status", sa.Integer(), nullable=True),
        sa.Column("to_status", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.String(32), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_dossier_action"),
        sa.UniqueConstraint("dossier_id", "seq", name="uq_procedure_dossier_action_seq"),
        sa.ForeignKeyConstraint(["dossier_id"], ["procedure_dossier.id"],
                                name="fk_procedure_dossier_action_dossier_id_procedure_dossier"),
    )

    op.create_table(
        "procedure_dossier_attachment",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dossier_id", sa.String(32), nullable=False),
        sa.Column("document_name", sa.String(300), nullable=False),
        sa.Column("filename", sa.String(300), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("storage_key", sa.String(300), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("digitised", sa.Boolean(), nullable=False),
        sa.Column("reused_from_id", sa.String(32), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_dossier_attachment"),
        sa.ForeignKeyConstraint(["dossier_id"], ["procedure_dossier.id"],
                                name="fk_procedure_dossier_attachment_dossier_id_procedure_dossier"),
    )
    op.create_index("ix_procedure_dossier_attachment_dossier_id", "procedure_dossier_attachment", ["dossier_id"])

    op.create_table(
        "procedure_dossier_payment",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("dossier_id", sa.String(32), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("method", sa.String(20), nullable=True),
        sa.Column("provider_ref", sa.String(100), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("receipt_no", sa.String(60), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_procedure_dossier_payment"),
        sa.UniqueConstraint("provider_ref", name="uq_procedure_dossier_payment_provider_ref"),
        sa.ForeignKeyConstraint(["dossier_id"], ["procedure_dossier.id"],
                                name="fk_procedure_dossier_payment_dossier_id_procedure_dossier"),
    )
    op.create_index("ix_procedure_dossier_payment_dossier_id", "procedure_dossier_payment", ["dossier_id"])


def downgrade() -> None:
    for table in ("procedure_dossier_payment", "procedure_dossier_attachment", "procedure_dossier_action",
                  "procedure_dossier", "procedure_dossier_counter", "procedure"):
        op.drop_table(table)
