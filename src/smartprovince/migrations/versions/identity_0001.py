"""identity: organisations, users, roles, role assignments, API tokens, sessions.

Revision ID: identity_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from smartprovince.core.db import UTCDateTime

revision = "identity_0001"
down_revision = None
branch_labels = ("identity",)
depends_on = None


def _times() -> list[sa.Column]:
    return [
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "identity_organisation",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("short_name", sa.String(120), nullable=True),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("parent_id", sa.String(32), nullable=True),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        *_times(),
        sa.ForeignKeyConstraint(["parent_id"], ["identity_organisation.id"],
                                name="fk_identity_organisation_parent_id_identity_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_organisation"),
        sa.UniqueConstraint("code", name="uq_identity_organisation_code"),
    )
    op.create_index("ix_identity_organisation_level", "identity_organisation", ["level"])
    op.create_index("ix_identity_organisation_parent_id", "identity_organisation", ["parent_id"])
    op.create_index("ix_identity_organisation_path", "identity_organisation", ["path"])

    op.create_table(
        "identity_user",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("username", sa.String(150), nullable=False),
        sa.Column("full_name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("phone", sa.String(32), nullable=True),
        sa.Column("cccd", sa.String(12), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("org_id", sa.String(32), nullable=True),
        sa.Column("oidc_issuer", sa.String(255), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
        *_times(),
        sa.ForeignKeyConstraint(["org_id"], ["identity_organisation.id"],
                                name="fk_identity_user_org_id_identity_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_user"),
        sa.UniqueConstraint("username", name="uq_identity_user_username"),
        sa.UniqueConstraint("cccd", name="uq_identity_user_cccd"),
        sa.UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_identity_user_oidc"),
    )
    op.create_index("ix_identity_user_kind", "identity_user", ["kind"])
    op.create_index("ix_identity_user_org_id", "identity_user", ["org_id"])

    op.create_table(
        "identity_role",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        *_times(),
        sa.PrimaryKeyConstraint("id", name="pk_identity_role"),
        sa.UniqueConstraint("code", name="uq_identity_role_code"),
    )

    op.create_table(
        "identity_role_assignment",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("role_id", sa.String(32), nullable=False),
        sa.Column("scope_org_id", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["identity_user.id"], ondelete="CASCADE",
                                name="fk_identity_role_assignment_user_id_identity_user"),
        sa.ForeignKeyConstraint(["role_id"], ["identity_role.id"],
                                name="fk_identity_role_assignment_role_id_identity_role"),
        sa.ForeignKeyConstraint(["scope_org_id"], ["identity_organisation.id"],
                                name="fk_identity_role_assignment_scope_org_id_identity_organisation"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_role_assignment"),
    )
    op.create_index("ix_identity_role_assignment_user_id", "identity_role_assignment", ["user_id"])
    op.create_index("ix_identity_role_assignment_role_id", "identity_role_assignment", ["role_id"])
    op.create_index("ix_identity_role_assignment_scope_org_id", "identity_role_assignment", ["scope_org_id"])

    op.create_table(
        "identity_api_token",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["identity_user.id"], ondelete="CASCADE",
                                name="fk_identity_api_token_user_id_identity_user"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_api_token"),
        sa.UniqueConstraint("token_hash", name="uq_identity_api_token_token_hash"),
    )
    op.create_index("ix_identity_api_token_user_id", "identity_api_token", ["user_id"])

    op.create_table(
        "identity_session",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("auth_method", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["identity_user.id"], ondelete="CASCADE",
                                name="fk_identity_session_user_id_identity_user"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_session"),
        sa.UniqueConstraint("secret_hash", name="uq_identity_session_secret_hash"),
    )
    op.create_index("ix_identity_session_user_id", "identity_session", ["user_id"])

    # The built-in roles exist from the start; their permissions are refreshed from the module
    # manifests at every start (identity.roles.sync_builtin_roles).
    from smartprovince.identity.roles import builtin_role_rows

    op.bulk_insert(
        sa.table(
            "identity_role",
            sa.column("id", sa.String), sa.column("code", sa.String), sa.column("name", sa.String),
            sa.column("description", sa.Text), sa.column("permissions", sa.JSON),
            sa.column("builtin", sa.Boolean), sa.column("created_at", UTCDateTime()),
            sa.column("updated_at", UTCDateTime()),
        ),
        builtin_role_rows(),
    )


def downgrade() -> None:
    for table in ("identity_session", "identity_api_token", "identity_role_assignment", "identity_role",
                  "identity_user", "identity_organisation"):
        op.drop_table(table)
