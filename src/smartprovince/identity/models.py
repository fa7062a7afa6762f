"""Identity tables: organisations tree, users, roles, role assignments, API tokens, sessions.

Tables are named ``identity_<noun>``. Other modules reference ``identity_organisation.id`` and
``identity_user.id`` with foreign keys (their migrations ``depends_on`` "identity_0001").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smartprovince.core.clock import now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id

USER_KINDS = ("officer", "citizen")
ORG_LEVELS = ("province", "department", "district", "commune", "unit", "body", "other")


class Organisation(Base):
    """Tổ chức / đơn vị — one node of the province's organisation tree.

    ``path`` is materialised: ``/<root id>/<child id>/…/<own id>/``. A descendant's path starts
    with the path of every ancestor, so "is X inside the subtree of Y" is ``X.path.startswith(Y.path)``.
    ``depth`` is 0 for a root.
    """

    __tablename__ = "identity_organisation"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    short_name: Mapped[str | None] = mapped_column(String(120))
    level: Mapped[str] = mapped_column(String(32), index=True)
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    path: Mapped[str] = mapped_column(String(1024), index=True)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], lazy="joined", join_depth=1)


class User(Base):
    """Người dùng — an officer (cán bộ) or a citizen (người dân).

    Citizens carry a validated 12-digit CCCD. ``password_hash`` is an argon2 hash; it is empty for
    users who only log in through OpenID Connect. ``failed_logins`` and ``locked_until`` implement
    the lockout after repeated wrong passwords.
    """

    __tablename__ = "identity_user"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_identity_user_oidc"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    full_name: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(32))
    cccd: Mapped[str | None] = mapped_column(String(12), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    org_id: Mapped[str | None] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)

    org: Mapped[Organisation | None] = relationship(lazy="joined")
    assignments: Mapped[list[RoleAssignment]] = relationship(
        back_populates="user", lazy="selectin", cascade="all, delete-orphan"
    )


class Role(Base):
    """Vai trò — a named set of permission codes (``module.noun.verb``, ``module.*`` or ``*``).

    Built-in roles (``builtin``) are rebuilt from every module's manifest by ``sync_builtin_roles``;
    administrators may add their own roles.
    """

    __tablename__ = "identity_role"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class RoleAssignment(Base):
    """Phân quyền — a user holds a role over an organisation subtree.

    ``scope_org_id`` empty means the whole tree (every organisation).
    """

    __tablename__ = "identity_role_assignment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[str] = mapped_column(ForeignKey("identity_role.id"), index=True)
    scope_org_id: Mapped[str | None] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    user: Mapped[User] = relationship(back_populates="assignments")
    role: Mapped[Role] = relationship(lazy="joined")
    scope_org: Mapped[Organisation | None] = relationship(lazy="joined")


class ApiToken(Base):
    """Mã truy cập API — a bearer token. Only the SHA-256 of the token is stored."""

    __tablename__ = "identity_api_token"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """Phiên đăng nhập — a server-side browser session; the cookie holds a secret whose SHA-256 is stored."""

    __tablename__ = "identity_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("identity_user.id", ondelete="CASCADE"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    auth_method: Mapped[str] = mapped_column(String(16), default="password")
