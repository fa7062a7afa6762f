"""IOC pages of the operations module: the incident console (live feed, map, list), one incident
(timeline, SOP checklist, actions) and the handling statistics."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.clock import VN_TZ, local_now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Problem
from smartprovince.core.pagination import CursorParams, paginate
from smartprovince.core.security import Actor, require, verify_csrf
from smartprovince.operations import kpi, lifecycle, live, queries, service
from smartprovince.operations.models import Incident, IncidentEntry
from smartprovince.operations.sops import all_sops
from smartprovince.web import environment, redirect, render, request_lang, translator

router = APIRouter()

READ = "operations.incident.read"
MANAGE = "operations.incident.manage"
SEVERITY_COLOURS = {"low": "#2e7d32", "medium": "#b8860b", "high": "#d35400", "critical": "#b71c1c"}
ENTRY_LABELS = {
    "opened": "Mở sự cố",
    "linked": "Gộp bản ghi trùng",
    "relinked": "Cảnh báo báo lại",
    "acknowledged": "Tiếp nhận",
    "acknowledge": "Tiếp nhận",
    "start": "Bắt đầu xử lý",
    "escalate": "Chuyển cấp trên",
    "resolve": "Đã xử lý xong",
    "reopen": "Mở lại",
    "close": "Đóng sự cố",
    "assigned": "Giao đơn vị chủ trì",
    "step_done": "Hoàn thành bước",
    "step_undone": "Bỏ đánh dấu bước",
    "link_cleared": "Bản ghi liên kết đã kết thúc",
}
SOURCE_LABELS = {
    "citizen_report": "Phản ánh của người dân",
    "sensor": "Cảm biến",
    "camera": "Camera AI",
    "soc": "An toàn thông tin",
    "manual": "Nhập tay",
    "external": "Hệ thống khác",
}


def _ctx(request: Request, **extra: Any) -> dict[str, Any]:
    lang = request_lang(request)
    sops = all_sops()

    def cat_label(code: str) -> str:
        sop = sops.get(code)
        if sop is None:
            return code
        return sop.name_en if lang == "en" and sop.name_en else sop.name

    return {
        "status_labels": lifecycle.STATUS_LABELS,
        "severity_labels": lifecycle.SEVERITY_LABELS,
        "verb_labels": lifecycle.VERB_LABELS,
        "entry_labels": ENTRY_LABELS,
        "source_labels": SOURCE_LABELS,
        "colours": SEVERITY_COLOURS,
        "role_labels": {code: name for code, (name, _) in identity.BUILTIN_ROLES.items()},
        "cat_label": cat_label,
        "sops": sops,
        **extra,
    }


def _feed(session: Any, actor: Actor, limit: int = 25) -> list[tuple[IncidentEntry, Incident]]:
    stmt = (
        select(IncidentEntry, Incident)
        .join(Incident, Incident.id == IncidentEntry.incident_id)
        .order_by(IncidentEntry.id.desc())
        .limit(limit)
    )
    cond = queries._scope(IncidentEntry.org_path, actor, READ)
    if cond is not None:
        stmt = stmt.where(cond)
    return [(e, i) for e, i in session.execute(stmt)]


@router.get("/ioc/incidents")
def console(
    request: Request,
    session: DbSession,
    params: CursorParams = Depends(),
    status: str | None = Query(None, max_length=20),
    category: str | None = Query(None, max_length=60),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """Bảng điều hành sự cố — tiles, map of open incidents, live feed and the incident list."""
    status = status if status in lifecycle.STATUSES or status == "open" else None
    category = category if category in all_sops() else None
    stmt = queries.incidents_query(
        actor, status=None if status == "open" else status, category=category, open_only=status == "open"
    )
    page = paginate(session, stmt, params, key=Incident.opened_at, descending=True, tiebreak=Incident.id)
    midnight = datetime.combine(local_now().date(), time(), tzinfo=VN_TZ)
    markers = [
        {
            "id": i.id,
            "lat": i.lat,
            "lon": i.lon,
            "title": i.title,
            "severity": i.severity,
            "colour": SEVERITY_COLOURS[i.severity],
            "status": i.status,
        }
        for i in session.scalars(
            queries.incidents_query(actor, open_only=True).where(Incident.lat.is_not(None)).limit(2000)
        )
    ]
    feed = _feed(session, actor)
    return render(
        request,
        "operations/console.html",
        _ctx(
            request,
            page=page,
            status=status or "",
            category=category or "",
            markers=markers,
            feed=feed,
            tiles=queries.tiles(session, actor, since=midnight),
            last_entry=feed[0][0].id if feed else "",
            org_names=queries.org_names(session, {i.org_id for i in page.items}),
        ),
    )


@router.get("/ioc/wall")
def wall(request: Request, session: DbSession, actor: Actor = Depends(require(READ))) -> Response:
    """Màn hình tổng quan — the IOC wall: KPI tiles, incident tiles, map of open incidents, live feed."""
    midnight = datetime.combine(local_now().date(), time(), tzinfo=VN_TZ)
    markers = [
        {
            "id": i.id,
            "lat": i.lat,
            "lon": i.lon,
            "title": i.title,
            "severity": i.severity,
            "colour": SEVERITY_COLOURS[i.severity],
            "status": i.status,
        }
        for i in session.scalars(
            queries.incidents_query(actor, open_only=True).where(Incident.lat.is_not(None)).limit(2000)
        )
    ]
    feed = _feed(session, actor)
    return render(
        request,
        "operations/wall.html",
        _ctx(
            request,
            markers=markers,
            feed=feed,
            last_entry=feed[0][0].id if feed else "",
            tiles=queries.tiles(session, actor, since=midnight),
            kpis=kpi.wall_kpis(session, actor),
        ),
    )


@router.get("/ioc/wall/tiles")
def wall_tiles(request: Request, session: DbSession, actor: Actor = Depends(require(READ))) -> Response:
    """The wall's two tile rows alone (HTML fragment); the wall reloads them after each live message."""
    midnight = datetime.combine(local_now().date(), time(), tzinfo=VN_TZ)
    return render(
        request,
        "operations/_wall_tiles.html",
        _ctx(request, tiles=queries.tiles(session, actor, since=midnight), kpis=kpi.wall_kpis(session, actor)),
    )


@router.get("/ioc/incidents/feed")
async def feed_stream(
    request: Request,
    after: str | None = Query(None, max_length=32),
    timeout: float = Query(300, ge=0, le=live.MAX_TIMEOUT_SECONDS),
    actor: Actor = Depends(require(READ)),
) -> StreamingResponse:
    """Live feed for the console page (text/event-stream): each message is an HTML line of the feed."""
    lang = request_lang(request)
    t = translator(lang)
    template = environment(request).get_template("operations/_feed_item.html")
    ctx = _ctx(request)

    def fmt(entry: Any, inc: Any) -> tuple[str, str]:
        return "incident", template.render(t=t, lang=lang, e=entry, i=inc, **ctx).replace("\n", " ")

    gen = live.incident_stream(request, actor, after=live.start_after(request, after), timeout=timeout, fmt=fmt)
    return StreamingResponse(gen, media_type="text/event-stream", headers=live.SSE_HEADERS)


@router.get("/ioc/incidents/stats")
def stats_page(
    request: Request,
    session: DbSession,
    days: int = Query(30, ge=1, le=3660),
    by: str = Query("org_category", pattern="^(org_category|org|category)$"),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """Thống kê xử lý sự cố — mean time to acknowledge and to resolve per unit and category."""
    since = datetime.combine(local_now().date() - timedelta(days=days - 1), time(), tzinfo=VN_TZ)
    rows = queries.stats(session, actor, since=since, by=by)
    return render(request, "operations/stats.html", _ctx(request, rows=rows, days=days, by=by))


def _units(session: Any, actor: Actor) -> list[Any]:
    """Units the actor may assign incidents to: provincial bodies, departments and districts in scope."""
    stmt = (
        select(identity.Organisation)
        .where(identity.Organisation.level.in_(("province", "department", "district", "body")))
        .order_by(identity.Organisation.path)
    )
    return [o for o in session.scalars(stmt.limit(500)) if actor.can(MANAGE, o.path)]


@router.get("/ioc/incidents/{incident_id}")
def incident_page(
    incident_id: str, request: Request, session: DbSession, actor: Actor = Depends(require(READ))
) -> Response:
    """Chi tiết sự cố — map, SOP checklist, actions, linked records and the timeline."""
    inc = queries.access_incident_by_id(session, actor, incident_id)
    can_manage = actor.can(MANAGE, inc.org_path)
    return render(
        request,
        "operations/incident.html",
        _ctx(
            request,
            i=inc,
            steps=queries.steps(session, inc.id),
            links=queries.links(session, inc.id),
            timeline=queries.timeline(session, inc.id),
            org_name=queries.org_names(session, {inc.org_id}).get(inc.org_id),
            can_manage=can_manage,
            verbs=lifecycle.allowed_verbs(inc.status) if can_manage else [],
            units=_units(session, actor) if can_manage and inc.status != "closed" else [],
        ),
    )


def _back(request: Request, incident_id: str, exc: Problem | None = None) -> Response:
    if exc is not None:
        return redirect(
            request,
            f"/ioc/incidents/{incident_id}",
            message="Không thực hiện được: {reason}",
            kind="error",
            reason=exc.detail or exc.title,
        )
    return redirect(request, f"/ioc/incidents/{incident_id}", message="Đã cập nhật sự cố.")


@router.post("/ioc/incidents/{incident_id}/action")
def action_form(
    incident_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    verb: str = Form(..., max_length=20),
    note: str = Form("", max_length=2000),
    actor: Actor = Depends(require(MANAGE)),
) -> Response:
    """Form post of an action button (tiếp nhận, chuyển cấp trên, đóng …)."""
    verify_csrf(request, csrf_token)
    try:
        with session.begin_nested():
            service.act_on_incident(session, actor=actor, incident_id=incident_id, verb=verb, note=note)
    except Problem as exc:
        if exc.status == 404:
            raise
        return _back(request, incident_id, exc)
    return _back(request, incident_id)


@router.post("/ioc/incidents/{incident_id}/steps/{step_id}")
def step_form(
    incident_id: str,
    step_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    done: str = Form("1", max_length=5),
    actor: Actor = Depends(require(MANAGE)),
) -> Response:
    """Form post of an SOP checkbox."""
    verify_csrf(request, csrf_token)
    try:
        with session.begin_nested():
            service.set_step(session, actor=actor, incident_id=incident_id, step_id=step_id, done=done == "1")
    except Problem as exc:
        if exc.status == 404:
            raise
        return _back(request, incident_id, exc)
    return _back(request, incident_id)


@router.post("/ioc/incidents/{incident_id}/assign")
def assign_form(
    incident_id: str,
    request: Request,
    session: DbSession,
    csrf_token: str = Form(""),
    org_id: str = Form(..., max_length=32),
    note: str = Form("", max_length=2000),
    actor: Actor = Depends(require(MANAGE)),
) -> Response:
    """Form post of the unit picker."""
    verify_csrf(request, csrf_token)
    try:
        with session.begin_nested():
            service.assign_incident(session, actor=actor, incident_id=incident_id, org_id=org_id, note=note)
    except Problem as exc:
        if exc.status == 404:
            raise
        return _back(request, incident_id, exc)
    return _back(request, incident_id)
