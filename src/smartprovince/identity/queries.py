"""Reads of the identity module, and the ``access_<noun>_by_id`` helpers that apply scope rules.

An object outside the actor's scope raises the same ``NotFound`` as a missing one, so nobody can
learn that it exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor, Grant
from smartprovince.identity.models import ApiToken, Organisation, Role, RoleAssignment, User


def get_org(session: Session, org_id: str) -> Organisation | None:
    """The organisation with id ``org_id``, or ``None``."""
    return session.get(Organisation, org_id)


def get_org_by_code(session: Session, code: str) -> Organisation | None:
    """The organisation with statistics-office code (or slug) ``code``, or ``None``."""
    return session.scalar(select(Organisation).where(Organisation.code == code))


def org_subtree_ids(session: Session, org_id: str) -> list[str]:
    """Ids of ``org_id`` and every organisation below it (empty when it does not exist)."""
    org = get_org(session, org_id)
    if org is None:
        return []
    return list(session.scalars(select(Organisation.id).where(Organisation.path.startswith(org.path))))


def access_org_by_id(session: Session, org_id: str) -> Organisation:
    """The organisation ``org_id`` or ``NotFound`` (the organisation tree is public)."""
    org = get_org(session, org_id)
    if org is None:
        raise NotFound("Không tìm thấy tổ chức (organisation not found).")
    return org


def orgs_query(*, parent_id: str | None = None, level: str | None = None, q: str | None = None,
               include_inactive: bool = False) -> Select[Any]:
    """A query of organisations filtered by parent, level and a name/code search text."""
    stmt = select(Organisation)
    if parent_id is not None:
        stmt = stmt.where(Organisation.parent_id == parent_id)
    if level:
        stmt = stmt.where(Organisation.level == level)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(Organisation.name.ilike(like), Organisation.code.ilike(like),
                              Organisation.short_name.ilike(like)))
    if not include_inactive:
        stmt = stmt.where(Organisation.active.is_(True))
    return stmt


def scope_filter(stmt: Select, actor: Actor, permission: str) -> Select:
    """Restrict a query of users to those in the subtrees where ``actor`` holds ``permission``.

    Users without an organisation (most citizens) are only visible with a whole-tree grant.
    """
    scopes = actor.scopes(permission)
    if scopes == [""]:
        return stmt
    if not scopes:
        return stmt.where(User.id.is_(None))
    return stmt.join(Organisation, User.org_id == Organisation.id).where(
        or_(*[Organisation.path.startswith(p) for p in scopes])
    )


def users_query(actor: Actor, *, permission: str = "identity.user.read", q: str | None = None,
                kind: str | None = None, org_id: str | None = None) -> Select[Any]:
    """Users the actor may see, filtered by a search text, kind and organisation."""
    stmt = scope_filter(select(User), actor, permission)
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(or_(User.username.ilike(like), User.full_name.ilike(like)))
    if kind:
        stmt = stmt.where(User.kind == kind)
    if org_id:
        stmt = stmt.where(User.org_id == org_id)
    return stmt


def user_in_scope(actor: Actor, user: User, permission: str) -> bool:
    """True when ``actor`` holds ``permission`` over the organisation of ``user``."""
    return actor.can(permission, user.org.path if user.org is not None else None)


def access_user_by_id(session: Session, actor: Actor, user_id: str, *, permission: str = "identity.user.read") -> User:
    """The user ``user_id`` when the actor may see it; otherwise ``NotFound`` (same as missing)."""
    user = session.get(User, user_id)
    if user is None or not user_in_scope(actor, user, permission):
        raise NotFound("Không tìm thấy người dùng (user not found).")
    return user


def get_user_by_username(session: Session, username: str) -> User | None:
    """The user with login name ``username`` (case-insensitive), or ``None``."""
    return session.scalar(select(User).where(User.username == username.strip().lower()))


def get_role_by_code(session: Session, code: str) -> Role | None:
    """The role with ``code``, or ``None``."""
    return session.scalar(select(Role).where(Role.code == code))


def access_role_by_id(session: Session, role_id: str) -> Role:
    """The role ``role_id`` (or its code) or ``NotFound``."""
    role = session.get(Role, role_id) or get_role_by_code(session, role_id)
    if role is None:
        raise NotFound("Không tìm thấy vai trò (role not found).")
    return role


def list_roles(session: Session) -> list[Role]:
    """Every role, built-in first, then by code."""
    return list(session.scalars(select(Role).order_by(Role.builtin.desc(), Role.code)))


def user_grants(session: Session, user: User) -> tuple[Grant, ...]:
    """The permissions ``user`` holds, each over the subtree of its role assignment."""
    grants: list[Grant] = []
    for a in session.scalars(select(RoleAssignment).where(RoleAssignment.user_id == user.id)):
        path = a.scope_org.path if a.scope_org is not None else ""
        if a.scope_org is not None and not a.scope_org.active:
            continue
        for perm in a.role.permissions or []:
            grants.append(Grant(permission=perm, scope_path=path, scope_org_id=a.scope_org_id))
    return tuple(dict.fromkeys(grants))


def list_tokens(session: Session, user_id: str) -> list[ApiToken]:
    """The API tokens of a user, newest first (revoked ones included)."""
    return list(session.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ))
