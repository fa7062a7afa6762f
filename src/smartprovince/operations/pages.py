"""IOC pages of the operations module: the incident console (live feed, map, list), one incident
(timeline, SOP checklist, actions) and the handling statistics."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.clock import VN_TZ, local_now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound, Problem, ValidationProblem
from smartprovince.core.pagination import CursorParams, paginate
from smartprovince.core.security import Actor, require, verify_csrf
from smartprovince.operations import cameras, headline, kpi_engine, lifecycle, live, queries, rooms, service
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


def _feed(
    session: Any, actor: Actor, limit: int = 25, *, categories: list[str] | None = None
) -> list[tuple[IncidentEntry, Incident]]:
    stmt = (
        select(IncidentEntry, Incident)
        .join(Incident, Incident.id == IncidentEntry.incident_id)
        .order_by(IncidentEntry.id.desc())
        .limit(limit)
    )
    cond = queries._scope(IncidentEntry.org_path, actor, READ)
    if cond is not None:
        stmt = stmt.where(cond)
    if categories:
        stmt = stmt.where(Incident.category.in_(categories))
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


# The province wall's KPI tiles (the third row); the top row (headline.py) already shows dossiers received,
# the online share, on-time settlement and citizen reports.
WALL_KPIS = [
    "d766_digitised_rate",
    "d766_online_payment_rate",
    "d766_open_overdue",
    "incidents_opened",
    "incidents_resolved_rate",
]
KPI_COLOURS = {"green": "#2e7d32", "amber": "#d35400", "red": "#b71c1c", "none": "#7f8c8d"}


def _markers(session: Any, actor: Actor, categories: list[str] | None) -> list[dict[str, Any]]:
    stmt = queries.incidents_query(actor, open_only=True, categories=categories).where(Incident.lat.is_not(None))
    # Only the marker's columns (not whole incidents): the wall shows up to 2,000 of them.
    cols = stmt.with_only_columns(
        Incident.id, Incident.lat, Incident.lon, Incident.title, Incident.severity, Incident.status
    )
    return [
        {
            "id": i.id,
            "lat": i.lat,
            "lon": i.lon,
            "title": i.title,
            "severity": i.severity,
            "colour": SEVERITY_COLOURS.get(i.severity, SEVERITY_COLOURS["medium"]),
            "status": i.status,
        }
        for i in session.execute(cols.order_by(Incident.opened_at.desc()).limit(2000))
    ]


def _wall_filter(
    session: Any, actor: Actor, *, area: str | None, room_code: str | None
) -> tuple[Any, Any, Actor, list[str] | None]:
    """(room or None, area organisation, the actor narrowed to the area, incident categories or None)."""
    room = rooms.access_room_by_code(session, actor, room_code) if room_code else None
    if area:
        org = rooms.access_area(session, actor, area)
    elif room is not None and room.area_org_id:
        org = identity.get_org(session, room.area_org_id)
    else:
        org = rooms.default_area(session, actor)
    if room is not None and room.area_path and org is not None and not org.path.startswith(room.area_path):
        raise NotFound("No such area.")  # a room's drill-down stays inside its area
    scoped = rooms.narrow(actor, org.path) if org is not None and org.parent_id is not None else actor
    categories = list(room.categories) if room is not None and room.categories else None
    return room, org, scoped, categories


def _kpi_tiles(session: Any, actor: Actor, codes: list[str], org: Any) -> list[dict[str, Any]]:
    """KPI tiles of the wall: the area's newest value of each KPI, else the province's (marked so)."""
    defs = {d.code: d for d in kpi_engine.definitions(session)}
    codes = [c for c in codes if c in defs]
    area_id = org.id if org is not None and org.parent_id is not None else ""
    values = rooms.latest_kpi_values(session, actor, set(codes), {"", area_id})
    out = []
    for code in codes:
        v = values.get((code, area_id))
        province_value = v is None and area_id != ""
        v = v or values.get((code, ""))
        status = v.status if v is not None else "none"
        out.append(
            {
                "definition": defs[code],
                "value": v,
                "status": status,
                "colour": KPI_COLOURS.get(status, "#7f8c8d"),
                "province_value": province_value,
            }
        )
    return out


def _headline(session: Any, actor: Actor, org: Any) -> list[dict[str, Any]]:
    """The top KPI row from the stored (warehouse-backed) KPI values, with the names of enclosing areas."""
    ids = [p for p in str(getattr(org, "path", "")).strip("/").split("/") if p]
    return headline.headline(session, actor, org, names=queries.org_names(session, set(ids)))


def _under(org: Any) -> str:
    """The subtree the wall's figures cover: the area's path, '' for the province (no filter)."""
    return org.path if org is not None and org.parent_id is not None else ""


def _wall_ctx(
    request: Request, session: Any, actor: Actor, *, area: str | None, room_code: str | None, kpi_code: str | None
) -> dict[str, Any]:
    room, org, scoped, categories = _wall_filter(session, actor, area=area, room_code=room_code)
    midnight = datetime.combine(local_now().date(), time(), tzinfo=VN_TZ)
    codes = list(room.kpis) if room is not None and room.kpis else list(WALL_KPIS)
    # One scan of the month's daily counts feeds the tile row and the area table.
    daily = rooms.daily_sums(session, actor, under=_under(org), days=30, metrics=rooms.WALL_METRICS)
    rows = rooms.area_rows(session, actor, org, categories=categories, daily=daily) if org is not None else []
    kpi_def = None
    if kpi_code:
        kpi_def = next((d for d in kpi_engine.definitions(session) if d.code == kpi_code), None)
        if kpi_def is None:
            raise NotFound("No such KPI.")
        vals = rooms.latest_kpi_values(session, actor, {kpi_code}, {r.org_id for r in rows})
        kpi_by_area = {r.org_id: vals.get((kpi_code, r.org_id)) for r in rows}
    else:
        kpi_by_area = {}
    feed = _feed(session, scoped, categories=categories)
    query: dict[str, str] = {}
    if room is not None:
        query["room"] = room.code
    if area:
        query["area"] = area
    base = f"/ioc/rooms/{room.code}" if room is not None else "/ioc/wall"
    layout = dict(room.layout) if room is not None else {}
    layers = layout.get("layers") or ["incidents", "reports", "sensors", "cameras", "hotspots", "areas", "heat"]
    settings = getattr(request.app.state, "settings", None)
    child_level = "commune" if org is not None and org.level == "district" else "district"
    return _ctx(
        request,
        room=room,
        area=org,
        area_param=area or "",
        base_url=base,
        crumbs=rooms.breadcrumbs(session, actor, org) if org is not None else [],
        markers=_markers(session, scoped, categories),
        feed=feed,
        last_entry=feed[0][0].id if feed else "",
        tiles=queries.tiles(session, scoped, since=midnight, categories=categories),
        headline=_headline(session, actor, org),
        active_alerts=rooms.active_alerts(session, actor, under=_under(org)),
        kpi_tiles=_kpi_tiles(session, actor, codes, org),
        kpi_def=kpi_def,
        kpi_by_area=kpi_by_area,
        kpi_colours=KPI_COLOURS,
        area_rows=rows,
        query=query,
        wall_map={
            "layers": layers,
            "center": layout.get("center"),
            "zoom": layout.get("zoom"),
            "tileUrl": str(getattr(settings, "map_tile_url", "") or ""),
            "areaId": org.id if org is not None else "",
            # Reports, sensors and cameras are kept inside the area's outline (a room's or a drill-down's area).
            "outline": rooms.area_outline(session, org),
            "areaLevel": child_level,
            "base": base,
            "query": query,
            "categories": categories or [],
            "areas": [
                {
                    "id": r.org_id,
                    "name": r.name,
                    "open": r.open,
                    "critical": r.critical,
                    "lat": r.lat,
                    "lon": r.lon,
                    "kpi": getattr(kpi_by_area.get(r.org_id), "status", None),
                }
                for r in rows
            ],
            "kpi": kpi_code or "",
        },
    )


@router.get("/ioc/wall")
def wall(
    request: Request,
    session: DbSession,
    area: str | None = Query(None, max_length=32, description="Organisation id to narrow the wall to"),
    kpi_code: str | None = Query(None, alias="kpi", max_length=60),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """Màn hình tổng quan — the IOC wall: KPI tiles, incident tiles, the layered map, areas, live feed.

    ``?area=<org id>`` drills down (province → district → commune); ``?kpi=<code>`` colours the areas
    by that KPI. A leader without the whole province lands on their room.
    """
    if area is None and kpi_code is None:
        home = rooms.home_room(session, actor)
        if home is not None:
            return RedirectResponse(f"/ioc/rooms/{home.code}", status_code=303)
    ctx = _wall_ctx(request, session, actor, area=area, room_code=None, kpi_code=kpi_code)
    return render(request, "operations/wall.html", ctx)


@router.get("/ioc/wall/tiles")
def wall_tiles(
    request: Request,
    session: DbSession,
    area: str | None = Query(None, max_length=32),
    room: str | None = Query(None, max_length=64),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """The wall's tile rows alone (HTML fragment); the wall reloads them after each live message."""
    _, org, scoped, categories = _wall_filter(session, actor, area=area, room_code=room)
    r = rooms.access_room_by_code(session, actor, room) if room else None
    codes = list(r.kpis) if r is not None and r.kpis else list(WALL_KPIS)
    midnight = datetime.combine(local_now().date(), time(), tzinfo=VN_TZ)
    return render(
        request,
        "operations/_wall_tiles.html",
        _ctx(
            request,
            tiles=queries.tiles(session, scoped, since=midnight, categories=categories),
            headline=_headline(session, actor, org),
            active_alerts=rooms.active_alerts(session, actor, under=_under(org)),
            kpi_tiles=_kpi_tiles(session, actor, codes, org),
            query={k: v for k, v in (("area", area), ("room", room)) if v},
            area=org,
            room=r,
            base_url=f"/ioc/rooms/{r.code}" if r is not None else "/ioc/wall",
        ),
    )


@router.get("/ioc/wall/feed")
async def wall_feed(
    request: Request,
    after: str | None = Query(None, max_length=32),
    area: str | None = Query(None, max_length=32),
    room: str | None = Query(None, max_length=64),
    timeout: float = Query(300, ge=0, le=live.MAX_TIMEOUT_SECONDS),
    actor: Actor = Depends(require(READ)),
) -> StreamingResponse:
    """Live wall (text/event-stream): ``incident`` (an HTML feed line), ``alert`` (a sensor or camera
    alert, JSON) and ``kpi`` (figures changed, JSON) messages, narrowed to the wall's area and room."""
    db = request.app.state.db
    with db.session(write=False) as s:
        _, _, scoped, categories = _wall_filter(s, actor, area=area, room_code=room)
    lang = request_lang(request)
    t = translator(lang)
    template = environment(request).get_template("operations/_feed_item.html")
    ctx = _ctx(request)
    cats = set(categories or [])

    def fmt(entry: Any, inc: Any) -> list[tuple[str, str]]:
        if cats and inc.category not in cats:
            return []
        out = [("incident", template.render(t=t, lang=lang, e=entry, i=inc, **ctx).replace("\n", " "))]
        if inc.source in ("sensor", "camera") and entry.kind in ("opened", "linked", "relinked"):
            out.append(("alert", live.alert_json(entry, inc, t(SOURCE_LABELS.get(inc.source, inc.source)))))
        return out

    gen = live.incident_stream(
        request, scoped, after=live.start_after(request, after), timeout=timeout, fmt=fmt, kpi_watch=True
    )
    return StreamingResponse(gen, media_type="text/event-stream", headers=live.SSE_HEADERS)


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


# ------------------------------------------------------------------------------------------ rooms


@router.get("/ioc/rooms")
def rooms_page(request: Request, session: DbSession, actor: Actor = Depends(require(READ))) -> Response:
    """Phòng điều hành — every room the viewer may open, with its state (the provincial centre sees all)."""
    states = rooms.room_states(session, actor, rooms.visible_rooms(session, actor))
    names = queries.org_names(session, {s["room"].org_id for s in states})
    return render(
        request,
        "operations/rooms.html",
        _ctx(request, states=states, org_names=names, can_manage=actor.has(rooms.MANAGE), kpi_colours=KPI_COLOURS),
    )


def _room_form_ctx(
    request: Request, session: Any, room: Any, errors: str = "", form: dict[str, Any] | None = None
) -> dict[str, Any]:
    if form is None and room is not None:
        org = identity.get_org(session, room.org_id)
        area = identity.get_org(session, room.area_org_id) if room.area_org_id else None
        form = {
            "code": room.code,
            "name": room.name,
            "name_en": room.name_en,
            "kind": room.kind,
            "plan_ref": room.plan_ref,
            "org": org.code if org else "",
            "area": area.code if area else "",
            "categories": list(room.categories or []),
            "kpis": ", ".join(room.kpis or []),
            "layers": list((room.layout or {}).get("layers") or rooms.LAYERS),
        }
    form = form or {
        "code": "",
        "name": "",
        "name_en": "",
        "kind": "custom",
        "plan_ref": "",
        "org": "",
        "area": "",
        "categories": [],
        "kpis": "",
        "layers": list(rooms.LAYERS),
    }
    return _ctx(request, room=room, form=form, errors=errors, layer_names=rooms.LAYERS)


def _room_form_data(form: Any) -> dict[str, Any]:
    return {
        "code": str(form.get("code", ""))[:64].strip(),
        "name": str(form.get("name", ""))[:200],
        "name_en": str(form.get("name_en", ""))[:200],
        "kind": str(form.get("kind", "custom"))[:20],
        "plan_ref": str(form.get("plan_ref", ""))[:100],
        "org": str(form.get("org", ""))[:64].strip(),
        "area": str(form.get("area", ""))[:64].strip(),
        "categories": [str(c)[:60] for c in form.getlist("categories")][:20],
        "kpis": str(form.get("kpis", ""))[:2000],
        "layers": [str(c)[:20] for c in form.getlist("layers")][:10],
    }


def _room_in(data: dict[str, Any], layout: dict[str, Any] | None, *, with_code: bool) -> Any:
    from pydantic import ValidationError

    fields = {k: data[k] for k in ("name", "name_en", "kind", "plan_ref", "org", "categories")}
    fields["area"] = data["area"] or None
    fields["kpis"] = [k.strip() for k in data["kpis"].split(",") if k.strip()]
    fields["layout"] = {**(layout or {}), "layers": data["layers"]}
    try:
        return rooms.RoomCreate(code=data["code"], **fields) if with_code else rooms.RoomIn(**fields)
    except ValidationError as exc:
        raise ValidationProblem(
            "; ".join(f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        ) from exc


@router.get("/ioc/rooms/new")
def room_new(request: Request, session: DbSession, actor: Actor = Depends(require(rooms.MANAGE))) -> Response:
    """Form: a new operations room (administrators)."""
    return render(request, "operations/room_form.html", _room_form_ctx(request, session, None))


@router.post("/ioc/rooms/new")
async def room_create(request: Request, session: DbSession, actor: Actor = Depends(require(rooms.MANAGE))) -> Response:
    """Create a room from the form (CSRF-checked)."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token", "")))
    data = _room_form_data(form)
    try:
        with session.begin_nested():
            room = rooms.create_room(session, actor=actor, data=_room_in(data, None, with_code=True))
    except Problem as exc:
        if exc.status not in (409, 422):
            raise
        return render(
            request,
            "operations/room_form.html",
            _room_form_ctx(request, session, None, errors=exc.detail or exc.title, form=data),
            status=exc.status,
        )
    return redirect(request, f"/ioc/rooms/{room.code}", message="Đã lưu phòng điều hành.")


@router.get("/ioc/rooms/{code}/edit")
def room_edit(
    code: str, request: Request, session: DbSession, actor: Actor = Depends(require(rooms.MANAGE))
) -> Response:
    """Form: change a room (administrators)."""
    room = rooms.access_room_by_code(session, actor, code)
    if not actor.can(rooms.MANAGE, room.org_path):
        raise NotFound("No such room.")
    return render(request, "operations/room_form.html", _room_form_ctx(request, session, room))


@router.post("/ioc/rooms/{code}/edit")
async def room_update(
    code: str, request: Request, session: DbSession, actor: Actor = Depends(require(rooms.MANAGE))
) -> Response:
    """Save a changed room (CSRF-checked)."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token", "")))
    room = rooms.access_room_by_code(session, actor, code)
    data = {**_room_form_data(form), "code": room.code}
    try:
        with session.begin_nested():
            rooms.update_room(session, actor=actor, code=code, data=_room_in(data, room.layout, with_code=False))
    except Problem as exc:
        if exc.status != 422:
            raise
        return render(
            request,
            "operations/room_form.html",
            _room_form_ctx(request, session, room, errors=exc.detail or exc.title, form=data),
            status=422,
        )
    return redirect(request, f"/ioc/rooms/{code}", message="Đã lưu phòng điều hành.")


@router.get("/ioc/rooms/{code}")
def room_page(
    code: str,
    request: Request,
    session: DbSession,
    area: str | None = Query(None, max_length=32),
    kpi_code: str | None = Query(None, alias="kpi", max_length=60),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """One operations room: the wall narrowed to the room's sector and area, with its KPIs."""
    ctx = _wall_ctx(request, session, actor, area=area, room_code=code, kpi_code=kpi_code)
    ctx["can_edit"] = actor.can(rooms.MANAGE, ctx["room"].org_path)
    return render(request, "operations/wall.html", ctx)


# ------------------------------------------------------------------------------------------ cameras


@router.get("/ioc/cameras/{code}")
def camera_page(code: str, request: Request, session: DbSession, actor: Actor = Depends(require(READ))) -> Response:
    """One camera of the central registry: where it is, who runs it, its stream and its health."""
    cam = cameras.access_camera_by_code(session, actor, code)
    return render(
        request,
        "operations/camera.html",
        _ctx(
            request,
            cam=cam,
            status=cameras.effective_status(cam),
            stream_kind=cameras.stream_kind(cam.stream_url),
            owner=queries.org_names(session, {cam.owner_org_id}).get(cam.owner_org_id, ""),
            kind_labels=cameras.KIND_LABELS,
            camera_status_labels=cameras.STATUS_LABELS,
            stale_minutes=cameras.STALE_MINUTES,
        ),
    )
