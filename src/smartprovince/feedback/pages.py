"""Web pages of the feedback module: the citizen portal (report form with a map picker, public map,
report page with its timeline, rating and reopening) and the officer console (worklist, report page
with actions, statistics)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.clock import now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound, Problem
from smartprovince.core.pagination import CursorParams, paginate
from smartprovince.core.security import Actor, authenticated, public, require, verify_csrf
from smartprovince.core.storage import Storage
from smartprovince.feedback import api, categories, lifecycle, notify, queries, service
from smartprovince.feedback.models import Report
from smartprovince.web import redirect, render

router = APIRouter()

PUBLIC_REASON = "citizens report problems and follow them without an account; contacts are never shown"


def _ctx(request: Request, **extra: Any) -> dict[str, Any]:
    limits = api.video_limits(request)
    return {"categories": categories.all_categories(), "status_labels": lifecycle.STATUS_LABELS,
            "video_mb": limits.max_bytes // (1024 * 1024), "video_seconds": f"{limits.max_seconds:g}",
            "action_labels": lifecycle.ACTION_LABELS,
            "cat_names": {c.code: c.name for c in categories.all_categories()}, **extra}


def _areas(session: Any) -> list[tuple[str, list[Any]]]:
    """Communes grouped by district, for the area picker."""
    org = identity.Organisation
    districts = list(session.scalars(select(org).where(org.level == "district").order_by(org.name)))
    communes = list(session.scalars(select(org).where(org.level == "commune").order_by(org.name)))
    by_parent: dict[str, list[Any]] = {}
    for c in communes:
        by_parent.setdefault(c.parent_id or "", []).append(c)
    return [(d.name, by_parent.get(d.id, [])) for d in districts if by_parent.get(d.id)]


async def _photos(form: Any, field: str = "photos") -> list[service.Photo]:
    items = []
    for f in form.getlist(field):
        if not isinstance(f, str) and getattr(f, "filename", None):
            items.append(service.Photo(data=await f.read(), filename=f.filename, content_type=f.content_type))
    return items


# ------------------------------------------------------------------------------------------ portal


@router.get("/portal/feedback")
def map_page(request: Request, session: DbSession,
             category: str | None = Query(None, max_length=64),
             status: str | None = Query(None, max_length=20),
             _: Actor = Depends(public(PUBLIC_REASON))) -> Response:
    """Bản đồ phản ánh — the public map with clustering and filters, and the latest reports."""
    stmt = queries.public_query(category=category or None, status=status or None)
    latest = list(session.scalars(stmt.where(Report.merged_into_id.is_(None))
                                  .order_by(Report.created_at.desc()).limit(20)))
    return render(request, "feedback/map.html", _ctx(request, latest=latest, category=category or "",
                                                     status=status or ""))


@router.get("/portal/feedback/mine")
def mine_page(request: Request, session: DbSession, actor: Actor = Depends(authenticated())) -> Response:
    """Phản ánh của tôi — the logged-in reporter's reports and in-app notifications."""
    reports = list(session.scalars(select(Report).where(Report.reporter_user_id == actor.id)
                                   .order_by(Report.created_at.desc()).limit(100))) if actor.id else []
    inbox = notify.inbox(session, actor.id) if actor.id else []
    return render(request, "feedback/mine.html", _ctx(request, reports=reports, inbox=inbox))


@router.get("/portal/feedback/new")
def new_page(request: Request, session: DbSession, actor: Actor = Depends(public(PUBLIC_REASON))) -> Response:
    """Gửi phản ánh — the form with a map picker (an intake officer also picks the channel: hotline, desk)."""
    return render(request, "feedback/new.html", _ctx(request, areas=_areas(session), form={}, error=None,
                                                     intake=actor.has(service.INTAKE_PERMISSION)))


@router.post("/portal/feedback/new")
async def new_post(request: Request, session: DbSession, actor: Actor = Depends(public(PUBLIC_REASON))) -> Response:
    """Receive the report form (with photos and videos); on success show the report page with the follow key."""
    form = await request.form(max_files=10)
    verify_csrf(request, str(form.get("csrf_token") or ""))
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}

    def num(name: str) -> float | None:
        try:
            return float(values[name]) if values.get(name) else None
        except ValueError:
            return None

    try:
        api.limit_submissions(request, actor)
        r = service.submit_report(session, actor=actor, storage=Storage(request.app.state.settings),
                                  video_limits=api.video_limits(request), report=service.NewReport(
            category_code=values.get("category", ""), description=values.get("description", ""),
            lat=num("lat"), lon=num("lon"), address=values.get("address") or None,
            area_code=values.get("area_code") or None, reporter_name=values.get("name") or None,
            reporter_email=values.get("email") or None, reporter_phone=values.get("phone") or None,
            channel=values["channel"] if values.get("channel") in service.INTAKE_CHANNELS else "web",
            photos=await _photos(form)))
    except Problem as exc:
        session.rollback()
        page = render(request, "feedback/new.html", _ctx(request, areas=_areas(session), form=values,
                                                         error=exc.detail or exc.title,
                                                         intake=actor.has(service.INTAKE_PERMISSION)),
                      status=exc.status)
        if "retry_after" in exc.extra:
            page.headers["Retry-After"] = str(int(exc.extra["retry_after"]))
        return page
    session.commit()
    return redirect(request, f"/portal/feedback/{r.code}?key={r.follow_key}",
                    message="Đã gửi phản ánh {code}.", code=r.code)


@router.get("/portal/feedback/{code}")
def report_page(code: str, request: Request, session: DbSession, key: str | None = Query(None, max_length=64),
                actor: Actor = Depends(public(PUBLIC_REASON))) -> Response:
    """Trang phản ánh — status, photos, timeline; rating and reopening for its reporter."""
    r = queries.public_report(session, code)
    view = queries.public_view(session, r)
    is_reporter = (actor.id is not None and actor.id == r.reporter_user_id) or (key is not None and key == r.follow_key)
    main = session.get(Report, r.merged_into_id) if r.merged_into_id else None
    return render(request, "feedback/report.html", _ctx(request, r=view, key=key or "", is_reporter=is_reporter,
                                                        main=main, can_reopen=r.status in lifecycle.DONE_STATUSES
                                                        and r.resolved_at is not None))


@router.post("/portal/feedback/{code}/{verb}")
async def reporter_post(code: str, verb: str, request: Request, session: DbSession,
                        actor: Actor = Depends(public(PUBLIC_REASON))) -> Response:
    """The reporter rates (``rate``) or reopens (``reopen``) the report."""
    form = await request.form()
    verify_csrf(request, str(form.get("csrf_token") or ""))
    if verb not in ("rate", "reopen"):
        raise NotFound("No such action.")
    r = queries.public_report(session, code)
    key = str(form.get("key") or "") or None
    back = f"/portal/feedback/{r.code}" + (f"?key={key}" if key else "")
    try:
        if verb == "rate":
            try:
                rating = int(str(form.get("rating") or "0"))
            except ValueError:
                rating = 0
            service.rate_report(session, actor=actor, report=r, rating=rating,
                                comment=str(form.get("comment") or ""), follow_key=key)
        else:
            service.reopen_report(session, actor=actor, report=r, reason=str(form.get("reason") or ""), follow_key=key)
    except Problem as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail or exc.title, kind="error")
    session.commit()
    return redirect(request, back, message="Cảm ơn bạn đã đánh giá." if verb == "rate" else "Đã mở lại phản ánh.")


# ------------------------------------------------------------------------------------------ console


@router.get("/console/feedback")
def worklist_page(request: Request, session: DbSession, params: CursorParams = Depends(),
                  status: str = Query("open", max_length=20), category: str | None = Query(None, max_length=64),
                  actor: Actor = Depends(require("feedback.report.read"))) -> Response:
    """Danh sách phản ánh — reports routed to the officer's units, newest first, late ones marked."""
    stmt = queries.worklist_query(actor, status=status or None, category=category or None)
    page = paginate(session, stmt, params, key=Report.created_at, descending=True)
    units = dict(session.execute(select(identity.Organisation.id, identity.Organisation.name)
                                 .where(identity.Organisation.id.in_({r.unit_id for r in page.items}))).all())
    return render(request, "feedback/worklist.html", _ctx(request, page=page, status=status, category=category or "",
                                                          units=units, at=now()))


@router.get("/console/feedback/stats")
def stats_page(request: Request, session: DbSession,
               actor: Actor = Depends(require("feedback.stats.read"))) -> Response:
    """Thống kê phản ánh — per unit and per category."""
    by_unit, by_category = queries.statistics_both(session, actor)
    return render(request, "feedback/stats.html", _ctx(request, by_unit=by_unit, by_category=by_category))


@router.get("/console/feedback/{report_id}")
def officer_page(report_id: str, request: Request, session: DbSession,
                 actor: Actor = Depends(require("feedback.report.read"))) -> Response:
    """A report for its unit: contact, duplicate suggestion, timeline and the action forms."""
    r = queries.access_report_by_id(session, actor, report_id)
    dup = session.get(Report, r.duplicate_of_id) if r.duplicate_of_id else None
    return render(request, "feedback/officer.html", _ctx(
        request, r=r, view=queries.public_view(session, r), dup=dup, children=queries.merged_children(session, r.id),
        can_handle=actor.can("feedback.report.handle", r.unit_path),
        can_assign=actor.can("feedback.report.assign", r.unit_path)))


@router.post("/console/feedback/{report_id}")
async def officer_post(report_id: str, request: Request, session: DbSession,
                       actor: Actor = Depends(require("feedback.report.handle"))) -> Response:
    """Officer actions from the report page (accept, send back, assign, update, resolve with photos, merge)."""
    form = await request.form(max_files=10)
    verify_csrf(request, str(form.get("csrf_token") or ""))
    r = queries.access_report_by_id(session, actor, report_id)
    action = str(form.get("action") or "")
    note = str(form.get("note") or "")
    back = f"/console/feedback/{r.id}"
    try:
        if action == "accept":
            service.accept_report(session, actor=actor, report=r, note=note or None)
        elif action == "send_back":
            service.send_back_report(session, actor=actor, report=r, note=note)
        elif action == "assign":
            service.assign_report(session, actor=actor, report=r, unit_code=str(form.get("unit_code") or ""),
                                  note=note or None)
        elif action == "update":
            service.update_report(session, actor=actor, report=r, note=note)
        elif action == "resolve":
            service.resolve_report(session, actor=actor, report=r, note=note, photos_after=await _photos(form),
                                   storage=Storage(request.app.state.settings), video_limits=api.video_limits(request))
        elif action == "merge":
            into = queries.access_report_by_id(session, actor, str(form.get("into") or ""))
            service.merge_reports(session, actor=actor, report=r, into=into)
        else:
            raise NotFound("No such action.")
    except Problem as exc:
        session.rollback()
        return redirect(request, back, message=exc.detail or exc.title, kind="error")
    session.commit()
    return redirect(request, back, message="Đã cập nhật phản ánh {code}.", code=r.code)
