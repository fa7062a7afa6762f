"""HTTP routes of the identity module (mounted under ``/api/v1``): parse, authorise, call the service, return."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from smartprovince.core.deps import AppSettings, DbSession
from smartprovince.core.errors import Unauthorized
from smartprovince.core.pagination import CursorParams, Page, paginate
from smartprovince.core.security import Actor, authenticated, public, require
from smartprovince.identity import auth, queries, service
from smartprovince.identity.models import ApiToken, Organisation, RoleAssignment, User
from smartprovince.identity.passwords import sha256_hex
from smartprovince.identity.schemas import (
    AssignmentCreate,
    AssignmentPublic,
    GrantPublic,
    LoginRequest,
    LoginResponse,
    MePublic,
    OrganisationCreate,
    OrganisationPublic,
    OrganisationUpdate,
    PasswordSet,
    PermissionPublic,
    RoleCreate,
    RolePublic,
    RoleUpdate,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)

router = APIRouter(tags=["identity"])

ORG_TREE_IS_PUBLIC = "the organisation tree of a province is public information"


# ---------------------------------------------------------------- converters


def _assignment_out(a: RoleAssignment) -> AssignmentPublic:
    return AssignmentPublic(id=a.id, role=a.role.code, role_name=a.role.name, scope_org_id=a.scope_org_id,
                            scope_org_name=a.scope_org.name if a.scope_org else None)


def _user_out(user: User) -> UserPublic:
    return UserPublic(
        id=user.id, username=user.username, full_name=user.full_name, kind=user.kind, email=user.email,
        phone=user.phone, cccd=user.cccd, org_id=user.org_id, org_name=user.org.name if user.org else None,
        active=user.active, locked_until=user.locked_until, last_login_at=user.last_login_at,
        created_at=user.created_at, roles=[_assignment_out(a) for a in user.assignments],
    )


def _me_out(session: DbSession, user: User, actor: Actor) -> MePublic:
    grants = service.actor_for_user(session, user).grants
    return MePublic(
        id=user.id, username=user.username, full_name=user.full_name, kind=user.kind, org_id=user.org_id,
        org_name=user.org.name if user.org else None, email=user.email, phone=user.phone,
        auth_method=actor.auth_method, roles=[_assignment_out(a) for a in user.assignments],
        grants=[GrantPublic(permission=g.permission, scope_org_id=g.scope_org_id, scope_path=g.scope_path)
                for g in grants],
    )


def _current_user(session: DbSession, actor: Actor) -> User:
    user = session.get(User, actor.id) if actor.id else None
    if user is None:
        raise Unauthorized()
    return user


# ---------------------------------------------------------------- login, me, tokens


@router.post("/auth/login", response_model=LoginResponse)
def login(body: LoginRequest, request: Request, response: Response, session: DbSession, settings: AppSettings,
          _: Actor = Depends(public("anyone may try to log in; lockout limits guessing"))) -> LoginResponse:
    """Đăng nhập — log in with username and password; sets the session cookie and returns a CSRF token."""
    user = service.authenticate(session, body.username, body.password, ip=auth.client_ip(request), settings=settings)
    new = service.start_session(session, user, ip=auth.client_ip(request),
                                user_agent=request.headers.get("user-agent"), settings=settings)
    auth.set_login_cookies(response, new, settings)
    actor = service.actor_for_user(session, user, auth_method="session", session_id=new.id)
    return LoginResponse(user=_me_out(session, user, actor), csrf_token=new.csrf_token, expires_at=new.expires_at)


@router.post("/auth/logout", status_code=204)
def logout(session: DbSession, settings: AppSettings, actor: Actor = Depends(authenticated())) -> Response:
    """Đăng xuất — end the current session (cookie) and remove the cookies."""
    if actor.session_id:
        service.end_session(session, actor=actor, session_id=actor.session_id)
    response = Response(status_code=204)
    auth.clear_login_cookies(response, settings)
    return response


@router.get("/auth/me", response_model=MePublic)
def me(session: DbSession, actor: Actor = Depends(authenticated())) -> MePublic:
    """The logged-in user, their roles and every permission they hold with its scope."""
    return _me_out(session, _current_user(session, actor), actor)


@router.post("/auth/password", status_code=204)
def change_own_password(body: PasswordSet, session: DbSession, actor: Actor = Depends(authenticated())) -> Response:
    """Đổi mật khẩu — change your own password (needs the current one); your other sessions end."""
    service.set_password(session, actor=actor, user_id=_current_user(session, actor).id, password=body.password,
                         current_password=body.current_password)
    return Response(status_code=204)


@router.get("/auth/tokens", response_model=list[TokenPublic])
def list_tokens(session: DbSession, actor: Actor = Depends(authenticated())) -> list[TokenPublic]:
    """Your API tokens (revoked ones included, newest first); the secret itself is never shown again."""
    return [TokenPublic.model_validate(t) for t in queries.list_tokens(session, _current_user(session, actor).id)]


@router.post("/auth/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenCreate, session: DbSession, settings: AppSettings,
                 actor: Actor = Depends(authenticated())) -> TokenCreated:
    """Tạo mã truy cập API — issue a bearer token for yourself; the response is the only time it is shown."""
    user = _current_user(session, actor)
    token = service.issue_token(session, user_id=user.id, name=body.name, actor=actor, days=body.days,
                                settings=settings)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(token)))
    return TokenCreated.model_validate({**TokenPublic.model_validate(row).model_dump(), "token": token})


@router.delete("/auth/tokens/{token_id}", status_code=204)
def delete_token(token_id: str, session: DbSession, actor: Actor = Depends(authenticated())) -> Response:
    """Thu hồi mã truy cập — revoke one of your tokens; it stops working at once."""
    service.revoke_token(session, actor=actor, token_id=token_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- organisations


@router.get("/organisations", response_model=Page[OrganisationPublic])
def list_organisations(
    session: DbSession, params: CursorParams = Depends(), parent_id: str | None = None, level: str | None = None,
    q: str | None = None, include_inactive: bool = False, roots: bool = False,
    _: Actor = Depends(public(ORG_TREE_IS_PUBLIC)),
) -> Page[Any]:
    """Tổ chức — organisations, filtered by parent, level or a search text (name or code)."""
    stmt = queries.orgs_query(parent_id=parent_id, level=level, q=q, include_inactive=include_inactive)
    if roots:
        stmt = stmt.where(Organisation.parent_id.is_(None))
    return paginate(session, stmt, params, key=Organisation.code, into=OrganisationPublic)


@router.get("/organisations/{org_id}", response_model=OrganisationPublic)
def get_organisation(org_id: str, session: DbSession,
                     _: Actor = Depends(public(ORG_TREE_IS_PUBLIC))) -> OrganisationPublic:
    """One organisation by id or code."""
    org = queries.get_org(session, org_id) or queries.get_org_by_code(session, org_id)
    if org is None:
        queries.access_org_by_id(session, org_id)
    return OrganisationPublic.model_validate(org)


@router.get("/organisations/{org_id}/children", response_model=Page[OrganisationPublic])
def list_children(org_id: str, session: DbSession, params: CursorParams = Depends(), include_inactive: bool = False,
                  _: Actor = Depends(public(ORG_TREE_IS_PUBLIC))) -> Page[Any]:
    """The organisations directly below ``org_id``."""
    org = queries.access_org_by_id(session, org_id)
    stmt = queries.orgs_query(parent_id=org.id, include_inactive=include_inactive)
    return paginate(session, stmt, params, key=Organisation.code, into=OrganisationPublic)


@router.post("/organisations", response_model=OrganisationPublic, status_code=201)
def create_organisation(body: OrganisationCreate, session: DbSession,
                        actor: Actor = Depends(require("identity.org.manage"))) -> OrganisationPublic:
    """Thêm tổ chức — create an organisation under a parent in your scope."""
    org = service.create_organisation(session, actor=actor, **body.model_dump())
    return OrganisationPublic.model_validate(org)


@router.patch("/organisations/{org_id}", response_model=OrganisationPublic)
def update_organisation(org_id: str, body: OrganisationUpdate, session: DbSession,
                        actor: Actor = Depends(require("identity.org.manage"))) -> OrganisationPublic:
    """Sửa tổ chức — change fields; ``parent_id`` moves it (with its subtree); ``active: false`` deactivates it."""
    changes = body.model_dump(exclude_unset=True)
    move = "parent_id" in changes
    new_parent = changes.pop("parent_id", None)
    org = queries.access_org_by_id(session, org_id)
    if changes:
        org = service.update_organisation(session, actor=actor, org_id=org.id, **changes)
    if move and new_parent != org.parent_id:
        org = service.move_organisation(session, actor=actor, org_id=org.id, new_parent_id=new_parent)
    return OrganisationPublic.model_validate(org)


# ---------------------------------------------------------------- users


@router.get("/users", response_model=Page[UserPublic])
def list_users(session: DbSession, params: CursorParams = Depends(), q: str | None = None, kind: str | None = None,
               org_id: str | None = None, actor: Actor = Depends(require("identity.user.read"))) -> Page[Any]:
    """Người dùng — the users in your scope, by username."""
    stmt = queries.users_query(actor, q=q, kind=kind, org_id=org_id)
    return paginate(session, stmt, params, key=User.username, tiebreak=User.id).map(_user_out)


@router.post("/users", response_model=UserPublic, status_code=201)
def create_user(body: UserCreate, session: DbSession,
                actor: Actor = Depends(require("identity.user.manage"))) -> UserPublic:
    """Tạo người dùng — create an officer or citizen in your scope, with roles."""
    data = body.model_dump()
    roles = [(r["role"], r["scope_org_id"]) for r in data.pop("roles")]
    user = service.create_user(session, actor=actor, roles=roles, **data)
    return _user_out(user)


@router.get("/users/{user_id}", response_model=UserPublic)
def get_user(user_id: str, session: DbSession, actor: Actor = Depends(require("identity.user.read"))) -> UserPublic:
    """One user (404 when missing or outside your scope)."""
    return _user_out(queries.access_user_by_id(session, actor, user_id))


@router.patch("/users/{user_id}", response_model=UserPublic)
def update_user(user_id: str, body: UserUpdate, session: DbSession,
                actor: Actor = Depends(require("identity.user.manage"))) -> UserPublic:
    """Sửa người dùng — change name, contacts, CCCD or organisation; ``active: false`` deactivates."""
    user = service.update_user(session, actor=actor, user_id=user_id, **body.model_dump(exclude_unset=True))
    return _user_out(user)


@router.delete("/users/{user_id}", response_model=UserPublic)
def deactivate_user(user_id: str, session: DbSession,
                    actor: Actor = Depends(require("identity.user.manage"))) -> UserPublic:
    """Khóa người dùng — deactivate (the account stays for the audit trail; sessions and tokens are revoked)."""
    return _user_out(service.deactivate_user(session, actor=actor, user_id=user_id))


@router.post("/users/{user_id}/password", status_code=204)
def reset_password(user_id: str, body: PasswordSet, session: DbSession,
                   actor: Actor = Depends(require("identity.user.manage"))) -> Response:
    """Đặt lại mật khẩu — set a user's password (also lifts a lockout)."""
    service.set_password(session, actor=actor, user_id=user_id, password=body.password,
                         current_password=body.current_password)
    return Response(status_code=204)


@router.post("/users/{user_id}/roles", response_model=AssignmentPublic, status_code=201)
def assign_role(user_id: str, body: AssignmentCreate, session: DbSession,
                actor: Actor = Depends(require("identity.user.manage"))) -> AssignmentPublic:
    """Phân quyền — give the user a role over an organisation subtree."""
    a = service.assign_role(session, actor=actor, user_id=user_id, role_code=body.role, scope_org_id=body.scope_org_id)
    return _assignment_out(a)


@router.delete("/users/{user_id}/roles/{assignment_id}", status_code=204)
def revoke_role(user_id: str, assignment_id: str, session: DbSession,
                actor: Actor = Depends(require("identity.user.manage"))) -> Response:
    """Thu hồi quyền — take a role assignment away."""
    service.revoke_role(session, actor=actor, user_id=user_id, assignment_id=assignment_id)
    return Response(status_code=204)


# ---------------------------------------------------------------- roles and permissions


@router.get("/roles", response_model=list[RolePublic])
def list_roles(session: DbSession, _: Actor = Depends(authenticated())) -> list[RolePublic]:
    """Vai trò — every role and its permissions."""
    return [RolePublic.model_validate(r) for r in queries.list_roles(session)]


@router.get("/permissions", response_model=list[PermissionPublic])
def list_permissions(request: Request, _: Actor = Depends(authenticated())) -> list[PermissionPublic]:
    """Every permission code the installed modules define, with its Vietnamese description."""
    out: list[PermissionPublic] = []
    for m in request.app.state.modules:
        for code, description in sorted(m.permissions.items()):
            out.append(PermissionPublic(code=code, description=description, module=m.name))
    return out


@router.post("/roles", response_model=RolePublic, status_code=201)
def create_role(body: RoleCreate, session: DbSession,
                actor: Actor = Depends(require("identity.role.manage"))) -> RolePublic:
    """Tạo vai trò — create a custom role."""
    return RolePublic.model_validate(service.create_role(session, actor=actor, **body.model_dump()))


@router.patch("/roles/{role_id}", response_model=RolePublic)
def update_role(role_id: str, body: RoleUpdate, session: DbSession,
                actor: Actor = Depends(require("identity.role.manage"))) -> RolePublic:
    """Sửa vai trò — change name, description, or (custom roles only) permissions."""
    role = service.update_role(session, actor=actor, role_id=role_id, **body.model_dump(exclude_unset=True))
    return RolePublic.model_validate(role)


@router.delete("/roles/{role_id}", status_code=204)
def delete_role(role_id: str, session: DbSession, actor: Actor = Depends(require("identity.role.manage"))) -> Response:
    """Xóa vai trò — delete a custom role nobody holds."""
    service.delete_role(session, actor=actor, role_id=role_id)
    return Response(status_code=204)
