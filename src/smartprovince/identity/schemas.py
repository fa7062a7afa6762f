"""Request and response models of the identity API (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

OrgLevel = Literal["province", "department", "district", "commune", "unit", "body", "other"]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- organisations


class OrganisationPublic(_Out):
    """Tổ chức — one node of the organisation tree."""

    id: str
    code: str
    name: str
    short_name: str | None = None
    level: str
    parent_id: str | None = None
    path: str
    depth: int
    active: bool
    attributes: dict[str, Any] = Field(default_factory=dict)


class OrganisationList(BaseModel):
    items: list[OrganisationPublic]
    next_cursor: str | None = None


class OrganisationCreate(_In):
    code: str = Field(min_length=1, max_length=64, description="Statistics-office code or a slug; unique.")
    name: str = Field(min_length=1, max_length=255)
    level: OrgLevel
    parent_id: str | None = Field(None, description="Id or code of the parent; empty for a root.")
    short_name: str | None = Field(None, max_length=120)
    attributes: dict[str, Any] = Field(default_factory=dict)


class OrganisationUpdate(_In):
    """Fields to change. Giving ``parent_id`` (even null) moves the organisation with its subtree."""

    code: str | None = Field(None, min_length=1, max_length=64)
    name: str | None = Field(None, min_length=1, max_length=255)
    level: OrgLevel | None = None
    short_name: str | None = Field(None, max_length=120)
    attributes: dict[str, Any] | None = None
    active: bool | None = None
    parent_id: str | None = None


# ---------------------------------------------------------------- roles


class RolePublic(_Out):
    """Vai trò — a set of permissions."""

    id: str
    code: str
    name: str
    description: str
    permissions: list[str]
    builtin: bool


class RoleCreate(_In):
    code: str = Field(min_length=2, max_length=64, pattern=r"^[a-z][a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=255)
    description: str = Field("", max_length=2000)
    permissions: list[str] = Field(default_factory=list, max_length=500)


class RoleUpdate(_In):
    name: str | None = Field(None, min_length=1, max_length=255)
    description: str | None = Field(None, max_length=2000)
    permissions: list[str] | None = Field(None, max_length=500)


class PermissionPublic(BaseModel):
    code: str
    description: str
    module: str


class AssignmentPublic(BaseModel):
    """A role held over an organisation subtree (``scope_org_id`` null = the whole tree)."""

    id: str
    role: str
    role_name: str
    scope_org_id: str | None = None
    scope_org_name: str | None = None


class AssignmentCreate(_In):
    role: str = Field(min_length=1, max_length=64, description="Role code.")
    scope_org_id: str | None = Field(None, description="Id or code of the organisation; null = whole tree.")


# ---------------------------------------------------------------- users


class UserPublic(BaseModel):
    """Người dùng, as managers see it."""

    id: str
    username: str
    full_name: str
    kind: str
    email: str | None = None
    phone: str | None = None
    cccd: str | None = None
    org_id: str | None = None
    org_name: str | None = None
    active: bool
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime
    roles: list[AssignmentPublic] = Field(default_factory=list)


class UserList(BaseModel):
    items: list[UserPublic]
    next_cursor: str | None = None


class UserCreate(_In):
    username: str = Field(min_length=2, max_length=150)
    password: str | None = Field(None, min_length=8, max_length=256, description="Empty: OIDC login only.")
    full_name: str = Field(min_length=1, max_length=255)
    kind: Literal["officer", "citizen"] = "officer"
    org_id: str | None = Field(None, description="Id or code of the user's organisation.")
    cccd: str | None = Field(None, max_length=12, description="12-digit citizen ID (CCCD).")
    email: str | None = Field(None, max_length=255)
    phone: str | None = Field(None, max_length=32)
    roles: list[AssignmentCreate] = Field(default_factory=list, max_length=50)


class UserUpdate(_In):
    full_name: str | None = Field(None, min_length=1, max_length=255)
    email: str | None = Field(None, max_length=255)
    phone: str | None = Field(None, max_length=32)
    cccd: str | None = Field(None, max_length=12)
    org_id: str | None = None
    active: bool | None = None


class PasswordSet(_In):
    password: str = Field(min_length=8, max_length=256)
    current_password: str | None = Field(None, max_length=256)


# ---------------------------------------------------------------- login, me, tokens


class LoginRequest(_In):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=256)


class GrantPublic(BaseModel):
    permission: str
    scope_org_id: str | None = None
    scope_path: str


class MePublic(BaseModel):
    """The logged-in user with every permission they hold and where."""

    id: str
    username: str
    full_name: str
    kind: str
    org_id: str | None = None
    org_name: str | None = None
    email: str | None = None
    phone: str | None = None
    auth_method: str | None = None
    roles: list[AssignmentPublic] = Field(default_factory=list)
    grants: list[GrantPublic] = Field(default_factory=list)


class LoginResponse(BaseModel):
    user: MePublic
    csrf_token: str = Field(description="Send back in the X-CSRF-Token header on unsafe cookie-authenticated calls.")
    expires_at: datetime


class TokenCreate(_In):
    name: str = Field(min_length=1, max_length=120)
    days: int | None = Field(None, ge=0, le=3650, description="Lifetime in days; 0 = never expires.")


class TokenPublic(_Out):
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class TokenCreated(TokenPublic):
    token: str = Field(description="The bearer token; shown only once.")
