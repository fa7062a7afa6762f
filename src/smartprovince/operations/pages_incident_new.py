"""Mở sự cố — the IOC console's form to open an incident by hand (a call to the hotline, a radio message,
a patrol's report): category (its SOP checklist comes with it), title, severity, place and responsible unit.

The same service function as the API's ``POST /api/v1/operations/incidents``: an open incident of the same
category nearby is joined instead of opening a second one. Registered before the incident pages so that
``/ioc/incidents/new`` is this form and not an incident id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Problem, ValidationProblem
from smartprovince.core.security import Actor, require, verify_csrf
from smartprovince.operations import service
from smartprovince.operations.pages import _ctx
from smartprovince.web import redirect, render

router = APIRouter()

READ = "operations.incident.read"
MANAGE = "operations.incident.manage"
UNIT_LEVELS = ("province", "department", "unit", "district")
LIMITS = {"title": 300, "description": 4000, "address": 500}


def _units(session: Any, actor: Actor) -> list[Any]:
    """Units the actor may make responsible (province, departments, centres, districts in the actor's scope)."""
    org = identity.Organisation
    rows = session.scalars(select(org).where(org.level.in_(UNIT_LEVELS)).order_by(org.path).limit(2000))
    return [o for o in rows if actor.can(MANAGE, o.path)]


def _number(values: dict[str, str], name: str) -> float | None:
    raw = values.get(name, "").strip().replace(",", ".")
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise ValidationProblem(f"{name} phải là số (must be a number).") from exc


def _page(request: Request, session: Any, actor: Actor, *, form: dict[str, str], error: str | None,
          status: int = 200) -> Response:
    return render(request, "operations/incident_new.html",
                  _ctx(request, form=form, error=error, units=_units(session, actor)), status=status)


@router.get("/ioc/incidents/new")
def new_incident_page(request: Request, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> Response:
    """The empty form."""
    return _page(request, session, actor, form={}, error=None)


@router.post("/ioc/incidents/new")
async def new_incident_post(request: Request, session: DbSession,
                            actor: Actor = Depends(require(MANAGE))) -> Response:
    """Open the incident (or join the open duplicate) and show it; a mistake comes back with the form."""
    form = await request.form(max_files=0, max_fields=30)
    verify_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        for name, limit in LIMITS.items():
            if len(values.get(name, "")) > limit:
                raise ValidationProblem(f"{name}: tối đa {limit} ký tự (at most {limit} characters).")
        org_id = values.get("org_id") or None
        if org_id:
            org = identity.get_org(session, org_id)
            if org is None or not actor.can(MANAGE, org.path):
                raise ValidationProblem("Đơn vị không có hoặc ngoài phạm vi của bạn (unknown unit, or not yours).")
        data = service.IncidentInput(
            source="manual", category=values.get("category", "") or "other", title=values.get("title", "").strip(),
            description=values.get("description", "").strip(), severity=values.get("severity") or None,
            lat=_number(values, "lat"), lon=_number(values, "lon"), address=values.get("address", "").strip(),
            org_id=org_id)
        with session.begin_nested():
            inc, created = service.open_incident(session, actor=actor, data=data)
            if not actor.can(READ, inc.org_path):
                raise ValidationProblem("Sự cố thuộc đơn vị ngoài phạm vi của bạn: hãy chọn đơn vị chủ trì "
                                        "(the unit is outside your organisations; choose one).")
    except Problem as exc:
        return _page(request, session, actor, form=values, error=exc.detail or exc.title, status=exc.status)
    message = "Đã mở sự cố." if created else "Đã gộp vào sự cố đang mở cùng loại ở gần đó."
    return redirect(request, f"/ioc/incidents/{inc.id}", message=message)
