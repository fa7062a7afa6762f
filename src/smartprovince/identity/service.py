"""Identity writes: organisations, users, passwords, roles, role assignments, tokens, login, sessions.

Every function takes the acting user as keyword ``actor``, checks that the actor may do it (scope
rules: an actor acts only inside the organisation subtrees of its grants), changes the rows, and
calls ``events.record_change`` (audit row + outbox event) in the same transaction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from smartprovince.core.clock import now
from smartprovince.core.errors import Conflict, Forbidden, NotFound, TooManyRequests, Unauthorized, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM, Actor
from smartprovince.identity import queries
from smartprovince.identity.cccd import InvalidCccd, parse_cccd
from smartprovince.identity.events import record_change
from smartprovince.identity.models import (
    ORG_LEVELS,
    USER_KINDS,
    ApiToken,
    Organisation,
    Role,
    RoleAssignment,
    User,
    UserSession,
)
from smartprovince.identity.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    new_secret,
    sha256_hex,
    verify_password,
)
from smartprovince.settings import Settings, get_settings

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,149}$")
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
PERMISSION_RE = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}\.\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){2})$")
LOGIN_FAILED = "Tên đăng nhập hoặc mật khẩu không đúng (wrong username or password)."
TOKEN_PREFIX = "spt_"  # noqa: S105 - a readable prefix of generated tokens, not a secret
SESSION_PREFIX = "sps_"


# --------------------------------------------------------------------------- helpers


def _require(actor: Actor, permission: str, org_path: str | None) -> None:
    """Refuse with 403 unless ``actor`` holds ``permission`` over ``org_path`` (None = the whole tree)."""
    if not actor.can(permission, org_path):
        raise Forbidden(f"Bạn không có quyền {permission} với tổ chức này (missing permission in this scope).")


def _org_or_422(session: Session, org_id: str | None, field: str = "org_id") -> Organisation | None:
    if org_id is None:
        return None
    org = queries.get_org(session, org_id) or queries.get_org_by_code(session, org_id)
    if org is None:
        raise ValidationProblem(f"Tổ chức {org_id} không tồn tại (unknown organisation).", errors=[
            {"loc": [field], "msg": "unknown organisation", "type": "value_error"}])
    return org


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationProblem(
            f"Mật khẩu phải có ít nhất {MIN_PASSWORD_LENGTH} ký tự (password too short).",
            errors=[{"loc": ["password"], "msg": "too short", "type": "value_error"}],
        )


def _clean_cccd(session: Session, cccd: str | None, *, user_id: str | None = None) -> str | None:
    if cccd is None or cccd.strip() == "":
        return None
    try:
        number = parse_cccd(cccd).number
    except InvalidCccd as exc:
        raise ValidationProblem(str(exc), errors=[{"loc": ["cccd"], "msg": str(exc), "type": "value_error"}]) from exc
    other = session.scalar(select(User.id).where(User.cccd == number))
    if other is not None and other != user_id:
        raise Conflict("Số CCCD này đã được dùng cho tài khoản khác (CCCD already registered).")
    return number


def _path(org: Organisation | None) -> str | None:
    return org.path if org is not None else None


def actor_for_user(session: Session, user: User, *, auth_method: str | None = None,
                   session_id: str | None = None) -> Actor:
    """The ``Actor`` a request by ``user`` acts as: kind, organisation and every scoped grant."""
    return Actor(
        id=user.id,
        username=user.username,
        kind=user.kind,
        display_name=user.full_name,
        org_id=user.org_id,
        org_path=_path(user.org),
        grants=queries.user_grants(session, user),
        auth_method=auth_method,
        session_id=session_id,
    )


# --------------------------------------------------------------------------- organisations


def create_organisation(
    session: Session, *, actor: Actor, code: str, name: str, level: str, parent_id: str | None = None,
    short_name: str | None = None, attributes: dict[str, Any] | None = None,
) -> Organisation:
    """Create an organisation under ``parent_id`` (or a root); the actor needs identity.org.manage there."""
    parent = _org_or_422(session, parent_id, "parent_id")
    _require(actor, "identity.org.manage", _path(parent))
    if not CODE_RE.match(code or ""):
        raise ValidationProblem("Mã tổ chức không hợp lệ (invalid code).")
    if level not in ORG_LEVELS:
        raise ValidationProblem(f"Cấp tổ chức phải là một trong {', '.join(ORG_LEVELS)} (invalid level).")
    if queries.get_org_by_code(session, code) is not None:
        raise Conflict(f"Mã tổ chức {code} đã tồn tại (code already used).")
    org_id = new_id()
    org = Organisation(
        id=org_id, code=code, name=name.strip(), short_name=short_name, level=level,
        parent_id=parent.id if parent else None,
        path=(parent.path if parent else "/") + org_id + "/",
        depth=(parent.depth + 1) if parent else 0,
        active=True, attributes=attributes or {},
    )
    session.add(org)
    session.flush()
    record_change(session, actor=actor, topic="identity.organisation.created", object_type="organisation",
                  object_id=org.id, data={"code": code, "level": level, "parent_id": org.parent_id},
                  org_path=org.path)
    return org


def update_organisation(session: Session, *, actor: Actor, org_id: str, **changes: Any) -> Organisation:
    """Change name, short name, level, code or attributes of an organisation (not its place in the tree)."""
    org = queries.access_org_by_id(session, org_id)
    _require(actor, "identity.org.manage", org.path)
    allowed = {"name", "short_name", "level", "code", "attributes", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationProblem(f"Không sửa được trường {', '.join(sorted(unknown))} (field not editable).")
    if "level" in changes and changes["level"] not in ORG_LEVELS:
        raise ValidationProblem(f"Cấp tổ chức phải là một trong {', '.join(ORG_LEVELS)} (invalid level).")
    if "code" in changes and changes["code"] != org.code:
        if not CODE_RE.match(changes["code"] or ""):
            raise ValidationProblem("Mã tổ chức không hợp lệ (invalid code).")
        if queries.get_org_by_code(session, changes["code"]) is not None:
            raise Conflict(f"Mã tổ chức {changes['code']} đã tồn tại (code already used).")
    if changes.get("active") is False:
        return deactivate_organisation(session, actor=actor, org_id=org_id)
    for key, value in changes.items():
        setattr(org, key, value)
    session.flush()
    record_change(session, actor=actor, topic="identity.organisation.updated", object_type="organisation",
                  object_id=org.id, data={"fields": sorted(changes)}, org_path=org.path)
    return org


def move_organisation(session: Session, *, actor: Actor, org_id: str, new_parent_id: str | None) -> Organisation:
    """Move an organisation (and its whole subtree) under another parent; descendant paths follow.

    The actor needs identity.org.manage over the organisation and over the new parent. Moving an
    organisation below itself is refused (409).
    """
    org = queries.access_org_by_id(session, org_id)
    _require(actor, "identity.org.manage", org.path)
    parent = _org_or_422(session, new_parent_id, "parent_id")
    _require(actor, "identity.org.manage", _path(parent))
    if parent is not None and parent.path.startswith(org.path):
        raise Conflict("Không thể chuyển tổ chức vào bên trong chính nó (cannot move below itself).")
    old_path, old_depth = org.path, org.depth
    new_path = (parent.path if parent else "/") + org.id + "/"
    shift = ((parent.depth + 1) if parent else 0) - old_depth
    for node in session.scalars(select(Organisation).where(Organisation.path.startswith(old_path))):
        node.path = new_path + node.path[len(old_path):]
        node.depth = node.depth + shift
    org.parent_id = parent.id if parent else None
    session.flush()
    record_change(session, actor=actor, topic="identity.organisation.moved", object_type="organisation",
                  object_id=org.id, data={"old_path": old_path, "new_path": new_path, "parent_id": org.parent_id},
                  org_path=new_path)
    return org


def deactivate_organisation(session: Session, *, actor: Actor, org_id: str) -> Organisation:
    """Mark an organisation and everything below it inactive; role grants scoped to them stop working."""
    org = queries.access_org_by_id(session, org_id)
    _require(actor, "identity.org.manage", org.path)
    session.execute(update(Organisation).where(Organisation.path.startswith(org.path)).values(active=False,
                                                                                              updated_at=now()))
    session.refresh(org)
    record_change(session, actor=actor, topic="identity.organisation.deactivated", object_type="organisation",
                  object_id=org.id, data={"code": org.code}, org_path=org.path)
    return org


# --------------------------------------------------------------------------- users


def create_user(
    session: Session, *, actor: Actor, username: str, password: str | None, full_name: str, kind: str,
    org_id: str | None = None, roles: Iterable[tuple[str, str | None]] = (), cccd: str | None = None,
    email: str | None = None, phone: str | None = None,
) -> User:
    """Create an officer or a citizen with roles ``[(role_code, scope_org_id), …]``.

    ``password`` may be ``None`` for users who log in only through OpenID Connect. The actor needs
    identity.user.manage over ``org_id`` (the whole tree when the user has no organisation). A citizen
    given no roles gets the built-in ``citizen`` role.
    """
    roles = list(roles)
    if kind == "citizen" and not roles:
        roles = [("citizen", None)]
    username = (username or "").strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationProblem(
            "Tên đăng nhập gồm 2–150 ký tự a-z, 0-9, dấu chấm, gạch ngang, @ (invalid username).",
            errors=[{"loc": ["username"], "msg": "invalid username", "type": "value_error"}],
        )
    if kind not in USER_KINDS:
        raise ValidationProblem(f"Loại người dùng phải là {' hoặc '.join(USER_KINDS)} (invalid kind).")
    if not (full_name or "").strip():
        raise ValidationProblem("Họ và tên không được để trống (full name is required).")
    org = _org_or_422(session, org_id)
    _require(actor, "identity.user.manage", _path(org))
    if queries.get_user_by_username(session, username) is not None:
        raise Conflict(f"Tên đăng nhập {username} đã có (username taken).")
    number = _clean_cccd(session, cccd)
    if password is not None:
        _check_password(password)
    user = User(
        id=new_id(), kind=kind, username=username, full_name=full_name.strip(), email=email, phone=phone,
        cccd=number, password_hash=hash_password(password) if password is not None else None, active=True,
        failed_logins=0, org_id=org.id if org else None,
    )
    session.add(user)
    session.flush()
    record_change(session, actor=actor, topic="identity.user.created", object_type="user", object_id=user.id,
                  data={"username": username, "kind": kind, "org_id": user.org_id}, org_path=_path(org))
    for role_code, scope_org_id in roles:
        assign_role(session, actor=actor, user_id=user.id, role_code=role_code, scope_org_id=scope_org_id)
    session.refresh(user)
    return user


def update_user(session: Session, *, actor: Actor, user_id: str, **changes: Any) -> User:
    """Change a user's name, contacts, CCCD or organisation (within the actor's scope)."""
    user = queries.access_user_by_id(session, actor, user_id, permission="identity.user.manage")
    allowed = {"full_name", "email", "phone", "cccd", "org_id", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationProblem(f"Không sửa được trường {', '.join(sorted(unknown))} (field not editable).")
    if changes.get("active") is False:
        return deactivate_user(session, actor=actor, user_id=user_id)
    if "cccd" in changes:
        changes["cccd"] = _clean_cccd(session, changes["cccd"], user_id=user.id)
    if "full_name" in changes and not (changes["full_name"] or "").strip():
        raise ValidationProblem("Họ và tên không được để trống (full name is required).")
    if "org_id" in changes:
        org = _org_or_422(session, changes["org_id"])
        _require(actor, "identity.user.manage", _path(org))
        changes["org_id"] = org.id if org else None
    for key, value in changes.items():
        setattr(user, key, value)
    session.flush()
    session.refresh(user)
    record_change(session, actor=actor, topic="identity.user.updated", object_type="user", object_id=user.id,
                  data={"fields": sorted(changes)}, org_path=_path(user.org))
    return user


def deactivate_user(session: Session, *, actor: Actor, user_id: str) -> User:
    """Lock a user out for good: inactive, every session and token revoked (the row stays for the audit)."""
    user = queries.access_user_by_id(session, actor, user_id, permission="identity.user.manage")
    if actor.id == user.id:
        raise Conflict("Bạn không thể tự khóa tài khoản của mình (you cannot deactivate yourself).")
    user.active = False
    t = now()
    session.execute(update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
                    .values(revoked_at=t))
    session.execute(update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
                    .values(revoked_at=t))
    session.flush()
    record_change(session, actor=actor, topic="identity.user.deactivated", object_type="user", object_id=user.id,
                  data={"username": user.username}, org_path=_path(user.org))
    return user


def set_password(session: Session, *, actor: Actor, user_id: str, password: str,
                 current_password: str | None = None) -> User:
    """Set a new password. A user changing their own needs ``current_password``; a manager does not.

    Other sessions of the user are ended, and a lockout is lifted.
    """
    if actor.id == user_id:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("Không tìm thấy người dùng (user not found).")
        if current_password is None or not verify_password(user.password_hash, current_password):
            raise Forbidden("Mật khẩu hiện tại không đúng (current password is wrong).")
    else:
        user = queries.access_user_by_id(session, actor, user_id, permission="identity.user.manage")
    _check_password(password)
    user.password_hash = hash_password(password)
    user.failed_logins = 0
    user.locked_until = None
    keep = actor.session_id if actor.id == user_id else None
    stmt = update(UserSession).where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
    if keep:
        stmt = stmt.where(UserSession.id != keep)
    session.execute(stmt.values(revoked_at=now()))
    session.flush()
    record_change(session, actor=actor, topic="identity.user.password_set", object_type="user", object_id=user.id,
                  data={"by_self": actor.id == user_id}, org_path=_path(user.org))
    return user


# --------------------------------------------------------------------------- roles


def assign_role(session: Session, *, actor: Actor, user_id: str, role_code: str,
                scope_org_id: str | None = None) -> RoleAssignment:
    """Give ``user_id`` the role ``role_code`` over the subtree of ``scope_org_id`` (None = everywhere).

    The actor needs identity.user.manage over the user and over the scope, and must itself hold every
    permission of the role over that scope (nobody can give more than they have).
    """
    user = queries.access_user_by_id(session, actor, user_id, permission="identity.user.manage")
    role = queries.get_role_by_code(session, role_code)
    if role is None:
        raise ValidationProblem(f"Vai trò {role_code} không tồn tại (unknown role).",
                                errors=[{"loc": ["role"], "msg": "unknown role", "type": "value_error"}])
    scope = _org_or_422(session, scope_org_id, "scope_org_id")
    _require(actor, "identity.user.manage", _path(scope))
    missing = [p for p in role.permissions or [] if not actor.can(p, _path(scope))]
    if missing:
        raise Forbidden("Bạn không thể giao quyền mà mình không có trong phạm vi này "
                        f"(cannot grant {', '.join(missing[:5])}).")
    existing = session.scalar(select(RoleAssignment).where(
        RoleAssignment.user_id == user.id, RoleAssignment.role_id == role.id,
        RoleAssignment.scope_org_id.is_(None) if scope is None else RoleAssignment.scope_org_id == scope.id,
    ))
    if existing is not None:
        return existing
    a = RoleAssignment(id=new_id(), user_id=user.id, role_id=role.id, scope_org_id=scope.id if scope else None)
    session.add(a)
    session.flush()
    record_change(session, actor=actor, topic="identity.role.assigned", object_type="role_assignment",
                  object_id=a.id, data={"user_id": user.id, "role": role.code, "scope_org_id": a.scope_org_id},
                  org_path=_path(scope))
    session.refresh(a)
    return a


def revoke_role(session: Session, *, actor: Actor, user_id: str, assignment_id: str) -> None:
    """Take a role assignment away from a user (the actor needs identity.user.manage over its scope)."""
    user = queries.access_user_by_id(session, actor, user_id, permission="identity.user.manage")
    a = session.get(RoleAssignment, assignment_id)
    if a is None or a.user_id != user.id:
        raise NotFound("Không tìm thấy phân quyền (role assignment not found).")
    _require(actor, "identity.user.manage", _path(a.scope_org))
    data = {"user_id": user.id, "role": a.role.code, "scope_org_id": a.scope_org_id}
    path = _path(a.scope_org)
    session.delete(a)
    session.flush()
    record_change(session, actor=actor, topic="identity.role.revoked", object_type="role_assignment",
                  object_id=assignment_id, data=data, org_path=path)


def _clean_permissions(permissions: Iterable[str]) -> list[str]:
    perms = sorted({p.strip() for p in permissions})
    bad = [p for p in perms if not PERMISSION_RE.match(p)]
    if bad:
        raise ValidationProblem(f"Mã quyền không hợp lệ: {', '.join(bad)} (use module.noun.verb or module.*).",
                                errors=[{"loc": ["permissions"], "msg": "invalid permission", "type": "value_error"}])
    return perms


def create_role(session: Session, *, actor: Actor, code: str, name: str, description: str = "",
                permissions: Iterable[str] = ()) -> Role:
    """Create a custom role (needs identity.role.manage over the whole tree)."""
    _require(actor, "identity.role.manage", None)
    if not re.match(r"^[a-z][a-z0-9_]{1,63}$", code or ""):
        raise ValidationProblem("Mã vai trò gồm chữ thường, số, gạch dưới (invalid role code).")
    if queries.get_role_by_code(session, code) is not None:
        raise Conflict(f"Vai trò {code} đã có (role code taken).")
    perms = _clean_permissions(permissions)
    role = Role(id=new_id(), code=code, name=name.strip(), description=description, permissions=perms, builtin=False)
    session.add(role)
    session.flush()
    record_change(session, actor=actor, topic="identity.role.created", object_type="role", object_id=role.id,
                  data={"code": code, "permissions": perms})
    return role


def update_role(session: Session, *, actor: Actor, role_id: str, name: str | None = None,
                description: str | None = None, permissions: Iterable[str] | None = None) -> Role:
    """Change a role. Permissions of built-in roles come from the modules and cannot be edited (409)."""
    _require(actor, "identity.role.manage", None)
    role = queries.access_role_by_id(session, role_id)
    if permissions is not None:
        if role.builtin:
            raise Conflict("Quyền của vai trò có sẵn do các phân hệ quy định (built-in role permissions are fixed).")
        role.permissions = _clean_permissions(permissions)
    if name is not None:
        role.name = name.strip()
    if description is not None:
        role.description = description
    session.flush()
    record_change(session, actor=actor, topic="identity.role.updated", object_type="role", object_id=role.id,
                  data={"code": role.code, "permissions": role.permissions})
    return role


def delete_role(session: Session, *, actor: Actor, role_id: str) -> None:
    """Delete a custom role that nobody holds any more (409 otherwise)."""
    _require(actor, "identity.role.manage", None)
    role = queries.access_role_by_id(session, role_id)
    if role.builtin:
        raise Conflict("Không xóa được vai trò có sẵn (built-in roles cannot be deleted).")
    if session.scalar(select(RoleAssignment.id).where(RoleAssignment.role_id == role.id).limit(1)):
        raise Conflict("Vai trò đang được giao cho người dùng (role is still assigned).")
    rid, code = role.id, role.code
    session.delete(role)
    session.flush()
    record_change(session, actor=actor, topic="identity.role.deleted", object_type="role", object_id=rid,
                  data={"code": code})


# --------------------------------------------------------------------------- tokens


def issue_token(session: Session, *, user_id: str, name: str, actor: Actor | None = None,
                days: int | None = None, settings: Settings | None = None) -> str:
    """Create a bearer token for ``user_id`` and return it (shown once; only its SHA-256 is stored).

    It expires after ``days`` (default: the ``token_days`` setting; 0 = never).
    """
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound("Không tìm thấy người dùng (user not found).")
    actor = actor or actor_for_user(session, user)
    if actor.id != user.id:
        queries.access_user_by_id(session, actor, user_id, permission="identity.user.manage")
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationProblem("Tên mã truy cập dài 1–120 ký tự (token name must be 1–120 characters).")
    days = (settings or get_settings()).token_days if days is None else days
    token = new_secret(TOKEN_PREFIX)
    t = now()
    row = ApiToken(id=new_id(), user_id=user.id, name=name, token_hash=sha256_hex(token), prefix=token[:10],
                   created_at=t, expires_at=t + timedelta(days=days) if days else None)
    session.add(row)
    session.flush()
    record_change(session, actor=actor, topic="identity.token.issued", object_type="api_token", object_id=row.id,
                  data={"user_id": user.id, "name": name}, org_path=_path(user.org))
    return token


def revoke_token(session: Session, *, actor: Actor, token_id: str) -> ApiToken:
    """Revoke a token: its owner, or a manager of the owner, may do it. Further use gets 401."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound("Không tìm thấy mã truy cập (token not found).")
    if row.user_id != actor.id:
        try:
            queries.access_user_by_id(session, actor, row.user_id, permission="identity.user.manage")
        except NotFound:
            raise NotFound("Không tìm thấy mã truy cập (token not found).") from None
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
        record_change(session, actor=actor, topic="identity.token.revoked", object_type="api_token",
                      object_id=row.id, data={"user_id": row.user_id})
    return row


def resolve_token(session: Session, token: str) -> tuple[User, ApiToken] | None:
    """The active user and the token row for a valid (not expired, not revoked) bearer ``token``.

    Only reads; call ``touch_token`` (in a write transaction) when ``token_needs_touch`` says so.
    """
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token)))
    t = now()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= t):
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


def token_needs_touch(row: ApiToken) -> bool:
    """True when ``last_used_at`` is older than a minute (busy API clients do not write on every call)."""
    return row.last_used_at is None or now() - row.last_used_at > timedelta(minutes=1)


def touch_token(session: Session, token_id: str) -> None:
    """Record that the token was just used (``last_used_at``); not audited, it is bookkeeping."""
    session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now()))


# --------------------------------------------------------------------------- login and sessions


def authenticate(session: Session, username: str, password: str, *, ip: str | None = None,
                 settings: Settings | None = None) -> User:
    """Check a username and password; return the user, or raise.

    Unknown user, wrong password and inactive account all give the same 401 message. After
    ``login_max_failures`` wrong passwords in a row the account is locked for ``lockout_minutes``
    (429, even with the right password). A failed attempt is committed before the error is raised,
    so the counter survives the rollback of the request.
    """
    settings = settings or get_settings()
    user = queries.get_user_by_username(session, username or "")
    t = now()
    if user is None:
        verify_password(None, password or "")
        raise Unauthorized(LOGIN_FAILED, title="Login failed")
    if user.locked_until is not None and user.locked_until > t:
        retry = int((user.locked_until - t).total_seconds()) + 1
        raise TooManyRequests(
            f"Tài khoản tạm khóa do nhập sai mật khẩu nhiều lần; thử lại sau {retry // 60 + 1} phút "
            "(account locked after repeated failures).", retry_after=retry,
        )
    ok = verify_password(user.password_hash, password or "")
    if not ok or not user.active:
        user.failed_logins = (user.failed_logins or 0) + 1
        actor = actor_for_user(session, user)
        record_change(session, actor=actor, topic="identity.login.failed", object_type="user", object_id=user.id,
                      data={"ip": ip, "failures": user.failed_logins}, org_path=_path(user.org))
        if user.failed_logins >= settings.login_max_failures:
            user.locked_until = t + timedelta(minutes=settings.lockout_minutes)
            user.failed_logins = 0
            record_change(session, actor=actor, topic="identity.user.locked", object_type="user", object_id=user.id,
                          data={"until": user.locked_until.isoformat()}, org_path=_path(user.org))
        session.commit()
        raise Unauthorized(LOGIN_FAILED, title="Login failed")
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = t
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.flush()
    return user


@dataclass(frozen=True)
class NewSession:
    """A started browser session: ``secret`` goes into the ``sp_session`` cookie, ``csrf_token`` into ``sp_csrf``."""

    id: str
    user_id: str
    secret: str
    csrf_token: str
    expires_at: datetime


def start_session(session: Session, user: User, *, ip: str | None = None, user_agent: str | None = None,
                  auth_method: str = "password", settings: Settings | None = None) -> NewSession:
    """Open a server-side session for an authenticated ``user`` (lasts ``session_hours``)."""
    if not user.active:
        raise Unauthorized(LOGIN_FAILED, title="Login failed")
    settings = settings or get_settings()
    secret = new_secret(SESSION_PREFIX)
    t = now()
    row = UserSession(id=new_id(), user_id=user.id, secret_hash=sha256_hex(secret), created_at=t,
                      expires_at=t + timedelta(hours=settings.session_hours), ip=(ip or None),
                      user_agent=(user_agent or "")[:512] or None, auth_method=auth_method[:16])
    session.add(row)
    session.flush()
    actor = actor_for_user(session, user, auth_method="session", session_id=row.id)
    record_change(session, actor=actor, topic="identity.session.started", object_type="session", object_id=row.id,
                  data={"user_id": user.id, "ip": ip, "method": auth_method}, org_path=_path(user.org))
    return NewSession(id=row.id, user_id=user.id, secret=secret, csrf_token=new_secret(), expires_at=row.expires_at)


def resolve_session(session: Session, secret: str) -> tuple[User, UserSession] | None:
    """The active user and session for a cookie ``secret``; ``None`` when unknown, ended or expired."""
    row = session.scalar(select(UserSession).where(UserSession.secret_hash == sha256_hex(secret)))
    if row is None or row.revoked_at is not None or row.expires_at <= now():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return user, row


def end_session(session: Session, *, actor: Actor, session_id: str) -> None:
    """End (log out) a session of the actor; ending someone else's needs identity.user.manage over them."""
    row = session.get(UserSession, session_id)
    if row is None:
        raise NotFound("Không tìm thấy phiên (session not found).")
    if row.user_id != actor.id:
        queries.access_user_by_id(session, actor, row.user_id, permission="identity.user.manage")
    if row.revoked_at is None:
        row.revoked_at = now()
        session.flush()
        record_change(session, actor=actor, topic="identity.session.ended", object_type="session", object_id=row.id,
                      data={"user_id": row.user_id})


__all__ = [
    "SYSTEM",
    "NewSession",
    "actor_for_user",
    "assign_role",
    "authenticate",
    "create_organisation",
    "create_role",
    "create_user",
    "deactivate_organisation",
    "deactivate_user",
    "delete_role",
    "end_session",
    "issue_token",
    "move_organisation",
    "resolve_session",
    "resolve_token",
    "revoke_role",
    "revoke_token",
    "set_password",
    "start_session",
    "update_organisation",
    "update_role",
    "update_user",
]
