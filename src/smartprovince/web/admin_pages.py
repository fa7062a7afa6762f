"""Administration pages: index, organisations tree, users, roles.

Routes parse the form, check the CSRF token and call identity's service functions (which check
the scope, write the audit row and publish the event). A refused or invalid change rolls back the
transaction and shows the form again with the message; nothing is half-written.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Forbidden, NotFound, Problem
from smartprovince.core.pagination import CursorParams, paginate
from smartprovince.core.security import Actor, authenticated, require, verify_csrf
from smartprovince.web.admin_common import admin_sections
from smartprovince.web.people import LEVEL_LABELS
from smartprovince.web.rendering import redirect, render

router = APIRouter(prefix="/admin")

ORG_PERM = "identity.org.manage"
USER_READ = "identity.user.read"
USER_MANAGE = "identity.user.manage"
ROLE_PERM = "identity.role.manage"
USERS_PER_PAGE = 25


def _idn() -> Any:
    from smartprovince import identity

    return identity


def _fail(session: Session, exc: Problem) -> tuple[str, int]:
    """Roll back the failed change; the message and status to show with the form again."""
    session.rollback()
    status = exc.status if 400 <= exc.status < 500 else 400
    return exc.detail or exc.title, status


def _none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _route_paths(app: Any) -> set[str]:
    """Paths of every route of the app (included routers expanded), computed once."""
    paths = getattr(app.state, "route_paths", None)
    if paths is None:
        from fastapi.routing import iter_route_contexts

        paths = {rc.path for rc in iter_route_contexts(app.routes) if rc.path}
        app.state.route_paths = paths
    return paths


@router.get("")
def admin_index(request: Request, actor: Actor = Depends(authenticated())) -> Response:
    """Quản trị — the administration sections the actor may open."""
    paths = _route_paths(request.app)
    sections = [s for s in admin_sections(actor) if s.href in paths]
    if not sections:
        raise Forbidden("Tài khoản không có quyền quản trị (no administration permission).")
    return render(request, "admin/index.html", {"sections": sections})


# --------------------------------------------------------------------------- organisations


def _orgs_query(q: str | None = None) -> Any:
    """Organisations (active and inactive), optionally matching a name / code search text."""
    model = _idn().Organisation
    stmt = select(model)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(model.name.ilike(like), model.code.ilike(like), model.short_name.ilike(like)))
    return stmt.order_by(model.depth, model.name)


def _all_orgs(session: Session) -> list[Any]:
    return list(session.scalars(_orgs_query()))


def _tree(orgs: list[Any]) -> list[dict[str, Any]]:
    """Nested nodes ``{"org", "children"}`` sorted by level then name (roots first)."""
    nodes = {o.id: {"org": o, "children": []} for o in orgs}
    roots: list[dict[str, Any]] = []
    for o in orgs:
        parent = nodes.get(o.parent_id) if o.parent_id else None
        (parent["children"] if parent else roots).append(nodes[o.id])
    order = {lv: i for i, lv in enumerate(LEVEL_LABELS)}

    def sort(items: list[dict[str, Any]]) -> None:
        items.sort(key=lambda n: (order.get(n["org"].level, 99), n["org"].name))
        for n in items:
            sort(n["children"])

    sort(roots)
    return roots


def _org_options(orgs: list[Any]) -> list[dict[str, Any]]:
    """Active organisations for a select box, in tree order, indented by depth."""
    out: list[dict[str, Any]] = []

    def walk(items: list[dict[str, Any]]) -> None:
        for n in items:
            o = n["org"]
            if not o.active:
                continue
            out.append({"id": o.id, "label": ("\u00a0\u00a0" * (o.depth or 0)) + o.name, "path": o.path})
            walk(n["children"])

    walk(_tree(orgs))
    return out


def _orgs_page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    q: str = "",
    selected: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    orgs = _all_orgs(session)
    matches = list(session.scalars(_orgs_query(q).limit(200))) if q else []
    by_id = {o.id: o for o in orgs}
    sel = by_id.get(selected) if selected else None
    open_ids: set[str] = set()
    if sel is not None:
        open_ids = {p for p in sel.path.strip("/").split("/") if p}
    manageable = [o for o in _org_options(orgs) if actor.can(ORG_PERM, o["path"])]
    return render(
        request,
        "admin/organisations.html",
        {
            "tree": _tree(orgs),
            "q": q,
            "matches": matches,
            "selected": sel,
            "open_ids": open_ids,
            "chain": [by_id[i] for i in (sel.path.strip("/").split("/") if sel else []) if i in by_id],
            "children_count": sum(1 for o in orgs if sel is not None and o.parent_id == sel.id),
            "levels": LEVEL_LABELS,
            "options": manageable,
            "error": error,
            "total": len(orgs),
            "can_root": actor.can(ORG_PERM, None),
        },
        status=status,
    )


@router.get("/organisations")
def organisations(
    request: Request,
    session: DbSession,
    q: str = "",
    selected: str | None = None,
    actor: Actor = Depends(require(ORG_PERM)),
) -> Response:
    """Tổ chức, đơn vị — browse and search the organisation tree; manage the selected node."""
    return _orgs_page(request, session, actor, q=q.strip()[:100], selected=selected)


@router.post("/organisations")
def create_org(
    request: Request,
    session: DbSession,
    code: str = Form(""),
    name: str = Form(""),
    level: str = Form(""),
    parent_id: str = Form(""),
    short_name: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(ORG_PERM)),
) -> Response:
    """Create an organisation under the chosen parent."""
    verify_csrf(request, csrf_token)
    if not name.strip():
        return _orgs_page(
            request, session, actor, selected=_none(parent_id), status=422, error="Tên tổ chức không được để trống."
        )
    try:
        org = _idn().create_organisation(
            session,
            actor=actor,
            code=code.strip(),
            name=name.strip(),
            level=level,
            parent_id=_none(parent_id),
            short_name=_none(short_name),
        )
    except Problem as exc:
        message, status = _fail(session, exc)
        return _orgs_page(request, session, actor, selected=_none(parent_id), error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, f"/admin/organisations?selected={org.id}", message="Đã tạo tổ chức {name}.", name=org.name)


@router.post("/organisations/{org_id}")
def edit_org(
    org_id: str,
    request: Request,
    session: DbSession,
    code: str = Form(""),
    name: str = Form(""),
    level: str = Form(""),
    short_name: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(ORG_PERM)),
) -> Response:
    """Change an organisation's code, name, short name or level."""
    verify_csrf(request, csrf_token)
    if not name.strip():
        return _orgs_page(
            request, session, actor, selected=org_id, status=422, error="Tên tổ chức không được để trống."
        )
    try:
        _idn().update_organisation(
            session,
            actor=actor,
            org_id=org_id,
            code=code.strip(),
            name=name.strip(),
            level=level,
            short_name=_none(short_name),
        )
    except Problem as exc:
        message, status = _fail(session, exc)
        if isinstance(exc, NotFound):
            raise
        return _orgs_page(request, session, actor, selected=org_id, error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, f"/admin/organisations?selected={org_id}", message="Đã lưu thay đổi.")


@router.post("/organisations/{org_id}/move")
def move_org(
    org_id: str,
    request: Request,
    session: DbSession,
    new_parent_id: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(ORG_PERM)),
) -> Response:
    """Move an organisation (with everything below it) under another parent."""
    verify_csrf(request, csrf_token)
    try:
        _idn().move_organisation(session, actor=actor, org_id=org_id, new_parent_id=_none(new_parent_id))
    except Problem as exc:
        message, status = _fail(session, exc)
        if isinstance(exc, NotFound):
            raise
        return _orgs_page(request, session, actor, selected=org_id, error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, f"/admin/organisations?selected={org_id}", message="Đã chuyển tổ chức.")


@router.post("/organisations/{org_id}/deactivate")
def deactivate_org(
    org_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(ORG_PERM)),
) -> Response:
    """Stop an organisation and everything below it (they stay in the tree, greyed out)."""
    verify_csrf(request, csrf_token)
    try:
        _idn().deactivate_organisation(session, actor=actor, org_id=org_id)
    except Problem as exc:
        message, status = _fail(session, exc)
        if isinstance(exc, NotFound):
            raise
        return _orgs_page(request, session, actor, selected=org_id, error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, f"/admin/organisations?selected={org_id}", message="Đã ngừng hoạt động tổ chức.")


# --------------------------------------------------------------------------- users


def _role(session: Session, role_id: str) -> Any:
    """The role with id (or code) ``role_id``, or ``NotFound``."""
    idn = _idn()
    role = session.get(idn.Role, role_id) or idn.get_role_by_code(session, role_id)
    if role is None:
        raise NotFound("Không tìm thấy vai trò (role not found).")
    return role


def _roles(session: Session) -> list[Any]:
    return _idn().list_roles(session)


@router.get("/users")
def users(
    request: Request,
    session: DbSession,
    q: str = "",
    kind: str = "",
    cursor: str | None = None,
    actor: Actor = Depends(require(USER_READ)),
) -> Response:
    """Người dùng — users in the actor's scope, with search and paging."""
    idn = _idn()
    q = q.strip()[:100]
    kind = kind if kind in ("officer", "citizen") else ""
    stmt = idn.users_query(actor, q=q or None, kind=kind or None)
    try:
        page = paginate(session, stmt, CursorParams(cursor=cursor, limit=USERS_PER_PAGE), key=idn.User.username)
    except Problem:
        page = paginate(session, stmt, CursorParams(limit=USERS_PER_PAGE), key=idn.User.username)
    return render(
        request,
        "admin/users.html",
        {
            "page": page,
            "q": q,
            "kind": kind,
            "first_page": not cursor,
            "can_manage": actor.has(USER_MANAGE),
        },
    )


def _user_form_page(
    request: Request,
    session: Session,
    actor: Actor,
    *,
    values: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    orgs = _all_orgs(session)
    options = [o for o in _org_options(orgs) if actor.can(USER_MANAGE, o["path"])]
    return render(
        request,
        "admin/user_new.html",
        {
            "values": values or {},
            "error": error,
            "options": options,
            "roles": _roles(session),
            "can_no_org": actor.can(USER_MANAGE, None),
        },
        status=status,
    )


@router.get("/users/new")
def new_user(request: Request, session: DbSession, actor: Actor = Depends(require(USER_MANAGE))) -> Response:
    """The form that creates a user."""
    return _user_form_page(request, session, actor)


@router.post("/users")
def create_user(
    request: Request,
    session: DbSession,
    username: str = Form(""),
    full_name: str = Form(""),
    kind: str = Form("officer"),
    org_id: str = Form(""),
    password: str = Form(""),
    email: str = Form(""),
    phone: str = Form(""),
    cccd: str = Form(""),
    role: str = Form(""),
    scope_org_id: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Create a user, optionally with one role (more can be assigned on the user's page)."""
    verify_csrf(request, csrf_token)
    values = {
        "username": username,
        "full_name": full_name,
        "kind": kind,
        "org_id": org_id,
        "email": email,
        "phone": phone,
        "cccd": cccd,
        "role": role,
        "scope_org_id": scope_org_id,
    }
    roles = [(role, _none(scope_org_id) or _none(org_id))] if role else []
    try:
        user = _idn().create_user(
            session,
            actor=actor,
            username=username,
            password=password or None,
            full_name=full_name,
            kind=kind,
            org_id=_none(org_id),
            roles=roles,
            cccd=_none(cccd),
            email=_none(email),
            phone=_none(phone),
        )
    except Problem as exc:
        message, status = _fail(session, exc)
        return _user_form_page(request, session, actor, values=values, error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, f"/admin/users/{user.id}", message="Đã tạo người dùng {name}.", name=user.username)


def _user_page(
    request: Request, session: Session, actor: Actor, user_id: str, *, error: str | None = None, status: int = 200
) -> Response:
    idn = _idn()
    user = idn.access_user_by_id(session, actor, user_id, permission=USER_READ)
    orgs = _all_orgs(session)
    options = [o for o in _org_options(orgs) if actor.can(USER_MANAGE, o["path"])]
    from smartprovince.core.clock import now

    locked_until = user.locked_until if user.locked_until and user.locked_until > now() else None
    return render(
        request,
        "admin/user_detail.html",
        {
            "user": user,
            "options": options,
            "roles": _roles(session),
            "error": error,
            "locked_until": locked_until,
            "can_manage": actor.can(USER_MANAGE, user.org.path if user.org else None),
        },
        status=status,
    )


@router.get("/users/{user_id}")
def user_detail(
    user_id: str, request: Request, session: DbSession, actor: Actor = Depends(require(USER_READ))
) -> Response:
    """One user: details, roles, lock state; managers edit them here."""
    return _user_page(request, session, actor, user_id)


def _user_action(
    request: Request, session: Session, actor: Actor, user_id: str, fn: Any, message: str, **values: Any
) -> Response:
    try:
        fn()
    except NotFound:
        raise
    except Problem as exc:
        text, status = _fail(session, exc)
        return _user_page(request, session, actor, user_id, error=text, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, f"/admin/users/{user_id}", message=message, **values)


@router.post("/users/{user_id}")
def edit_user(
    user_id: str,
    request: Request,
    session: DbSession,
    full_name: str = Form(""),
    org_id: str = Form(""),
    email: str = Form(""),
    phone: str = Form(""),
    cccd: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Change a user's name, contacts, CCCD and organisation."""
    verify_csrf(request, csrf_token)
    changes = {
        "full_name": full_name,
        "org_id": _none(org_id),
        "email": _none(email),
        "phone": _none(phone),
        "cccd": _none(cccd),
    }
    return _user_action(
        request,
        session,
        actor,
        user_id,
        lambda: _idn().update_user(session, actor=actor, user_id=user_id, **changes),
        "Đã lưu thay đổi.",
    )


@router.post("/users/{user_id}/roles")
def assign_role(
    user_id: str,
    request: Request,
    session: DbSession,
    role: str = Form(""),
    scope_org_id: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Give the user a role over an organisation subtree (empty scope = the whole province)."""
    verify_csrf(request, csrf_token)
    return _user_action(
        request,
        session,
        actor,
        user_id,
        lambda: _idn().assign_role(
            session, actor=actor, user_id=user_id, role_code=role, scope_org_id=_none(scope_org_id)
        ),
        "Đã phân vai trò.",
    )


@router.post("/users/{user_id}/roles/{assignment_id}/revoke")
def revoke_role(
    user_id: str,
    assignment_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Take a role assignment away from the user."""
    verify_csrf(request, csrf_token)
    return _user_action(
        request,
        session,
        actor,
        user_id,
        lambda: _idn().revoke_role(session, actor=actor, user_id=user_id, assignment_id=assignment_id),
        "Đã thu hồi vai trò.",
    )


@router.post("/users/{user_id}/lock")
def lock_user(
    user_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Khóa tài khoản — the user can no longer log in; sessions and tokens are revoked."""
    verify_csrf(request, csrf_token)
    return _user_action(
        request,
        session,
        actor,
        user_id,
        lambda: _idn().deactivate_user(session, actor=actor, user_id=user_id),
        "Đã khóa tài khoản.",
    )


@router.post("/users/{user_id}/unlock")
def unlock_user(
    user_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Mở khóa tài khoản — the user may log in again."""
    verify_csrf(request, csrf_token)
    return _user_action(
        request,
        session,
        actor,
        user_id,
        lambda: _idn().update_user(session, actor=actor, user_id=user_id, active=True),
        "Đã mở khóa tài khoản.",
    )


@router.post("/users/{user_id}/password")
def reset_password(
    user_id: str,
    request: Request,
    session: DbSession,
    password: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(USER_MANAGE)),
) -> Response:
    """Đặt lại mật khẩu — set a new password (also lifts a lockout after failed logins)."""
    verify_csrf(request, csrf_token)
    return _user_action(
        request,
        session,
        actor,
        user_id,
        lambda: _idn().set_password(session, actor=actor, user_id=user_id, password=password),
        "Đã đặt lại mật khẩu.",
    )


# --------------------------------------------------------------------------- roles


def _permission_groups(request: Request) -> list[dict[str, Any]]:
    """Every registered permission, grouped by module (code → Vietnamese description)."""
    groups = []
    for m in getattr(request.app.state, "modules", ()):
        perms = dict(m.permissions)
        if perms:
            groups.append({"module": m.name, "title": m.title, "permissions": sorted(perms.items())})
    return groups


@router.get("/roles")
def roles(request: Request, session: DbSession, actor: Actor = Depends(require(ROLE_PERM))) -> Response:
    """Vai trò — every role with its permissions."""
    return render(request, "admin/roles.html", {"roles": _roles(session)})


def _role_page(
    request: Request, role: Any, *, values: dict[str, Any] | None = None, error: str | None = None, status: int = 200
) -> Response:
    return render(
        request,
        "admin/role_form.html",
        {
            "role": role,
            "values": values or {},
            "groups": _permission_groups(request),
            "error": error,
        },
        status=status,
    )


@router.get("/roles/new")
def new_role(request: Request, actor: Actor = Depends(require(ROLE_PERM))) -> Response:
    """The form that creates a role."""
    return _role_page(request, None)


@router.post("/roles")
def create_role(
    request: Request,
    session: DbSession,
    code: str = Form(""),
    name: str = Form(""),
    description: str = Form(""),
    permissions: list[str] = Form(default=[]),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(ROLE_PERM)),
) -> Response:
    """Create a custom role with the ticked permissions."""
    verify_csrf(request, csrf_token)
    values = {"code": code.strip(), "name": name.strip(), "description": description, "permissions": permissions}
    try:
        if not values["name"]:
            from smartprovince.core.errors import ValidationProblem

            raise ValidationProblem("Tên vai trò không được để trống.")
        role = _idn().create_role(session, actor=actor, **values)
    except Problem as exc:
        message, status = _fail(session, exc)
        return _role_page(request, None, values=values, error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, "/admin/roles", message="Đã tạo vai trò {name}.", name=role.name)


@router.get("/roles/{role_id}")
def role_detail(
    role_id: str, request: Request, session: DbSession, actor: Actor = Depends(require(ROLE_PERM))
) -> Response:
    """One role: its name and permission set (built-in roles are read-only here)."""
    role = _role(session, role_id)
    return _role_page(
        request,
        role,
        values={
            "code": role.code,
            "name": role.name,
            "description": role.description,
            "permissions": list(role.permissions or []),
        },
    )


@router.post("/roles/{role_id}")
def edit_role(
    role_id: str,
    request: Request,
    session: DbSession,
    name: str = Form(""),
    description: str = Form(""),
    permissions: list[str] = Form(default=[]),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(ROLE_PERM)),
) -> Response:
    """Change a role's name, description and (custom roles only) permissions."""
    verify_csrf(request, csrf_token)
    idn = _idn()
    role = _role(session, role_id)
    values = {"code": role.code, "name": name.strip(), "description": description, "permissions": permissions}
    try:
        idn.update_role(
            session,
            actor=actor,
            role_id=role.id,
            name=values["name"] or role.name,
            description=values["description"],
            permissions=None if role.builtin else values["permissions"],
        )
    except Problem as exc:
        message, status = _fail(session, exc)
        return _role_page(request, _role(session, role_id), values=values, error=message, status=status)
    session.commit()  # now: DbSession would commit only after the response is sent
    return redirect(request, "/admin/roles", message="Đã lưu vai trò {name}.", name=values["name"] or role.name)
