"""Reads of the feedback module and the access helpers that apply the scope rules.

An officer sees the reports routed to an organisation inside the subtree where they hold
``feedback.report.read``; a report outside it raises the same ``NotFound`` as a missing one. The
public views (map, report page, Open311) never show the reporter's contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor
from smartprovince.feedback import categories, lifecycle
from smartprovince.feedback.models import Report, ReportActivity, ReportMedia

READ = "feedback.report.read"
NOT_FOUND = "Không tìm thấy phản ánh (report not found)."


def _scope_filter(actor: Actor, permission: str = READ) -> Any:
    scopes = actor.scopes(permission)
    if "" in scopes:
        return None
    if not scopes:
        return Report.id.is_(None)
    return or_(*[Report.unit_path.startswith(p) for p in scopes])


def access_report_by_id(session: Session, actor: Actor, report_id: str) -> Report:
    """The report ``report_id`` when the officer may see it; ``NotFound`` otherwise (same message)."""
    r = session.get(Report, report_id)
    if r is None or not actor.can(READ, r.unit_path):
        raise NotFound(NOT_FOUND)
    return r


def public_report(session: Session, id_or_code: str) -> Report:
    """A report by id or code, for public pages (the caller shows only public fields)."""
    r = session.get(Report, id_or_code) if len(id_or_code) == 32 else None
    r = r or session.scalar(select(Report).where(Report.code == id_or_code))
    if r is None:
        raise NotFound(NOT_FOUND)
    return r


def report_by_token(session: Session, token: str) -> Report:
    """The report created with the Open311 ``token``."""
    r = session.scalar(select(Report).where(Report.token == token))
    if r is None:
        raise NotFound(NOT_FOUND)
    return r


def worklist_query(actor: Actor, *, status: str | None = None, category: str | None = None,
                   overdue: bool = False, now: datetime | None = None) -> Select[Any]:
    """Reports of the officer's units, newest first, with optional filters."""
    stmt = select(Report)
    scope = _scope_filter(actor)
    if scope is not None:
        stmt = stmt.where(scope)
    if status == "open":
        stmt = stmt.where(Report.status.in_(lifecycle.OPEN_STATUSES))
    elif status:
        stmt = stmt.where(Report.status == status)
    if category:
        stmt = stmt.where(Report.category_code == category)
    if overdue and now is not None:
        stmt = stmt.where(Report.status.in_(lifecycle.OPEN_STATUSES), Report.due_at < now)
    return stmt


def public_query(*, category: str | None = None, status: str | None = None,
                 bbox: tuple[float, float, float, float] | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> Select[Any]:
    """Reports for the public map and Open311 lists (all statuses unless filtered)."""
    stmt = select(Report)
    if category:
        stmt = stmt.where(Report.category_code.in_([c for c in category.split(",") if c]))
    if status == "open":
        stmt = stmt.where(Report.status.in_(lifecycle.OPEN_STATUSES))
    elif status == "closed":
        stmt = stmt.where(Report.status.in_(lifecycle.DONE_STATUSES))
    elif status:
        stmt = stmt.where(Report.status == status)
    if bbox is not None:
        west, south, east, north = bbox
        stmt = stmt.where(Report.lat.between(south, north), Report.lon.between(west, east))
    if since is not None:
        stmt = stmt.where(Report.created_at >= since)
    if until is not None:
        stmt = stmt.where(Report.created_at <= until)
    return stmt


def timeline(session: Session, report_id: str) -> list[ReportActivity]:
    """The timeline steps of a report, oldest first."""
    return list(session.scalars(select(ReportActivity).where(ReportActivity.report_id == report_id)
                                .order_by(ReportActivity.at, ReportActivity.id)))


def media(session: Session, report_id: str) -> list[ReportMedia]:
    """The photos of a report (reporter's first, then the results)."""
    return list(session.scalars(select(ReportMedia).where(ReportMedia.report_id == report_id)
                                .order_by(ReportMedia.kind.desc(), ReportMedia.created_at)))


def media_item(session: Session, media_id: str) -> ReportMedia:
    """One photo; ``NotFound`` when missing."""
    m = session.get(ReportMedia, media_id)
    if m is None:
        raise NotFound("Không tìm thấy ảnh (photo not found).")
    return m


def merged_children(session: Session, report_id: str) -> list[Report]:
    """Reports merged into ``report_id``."""
    return list(session.scalars(select(Report).where(Report.merged_into_id == report_id).order_by(Report.created_at)))


def geojson(session: Session, stmt: Select[Any], *, limit: int = 5000) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (public fields only) of the reports of ``stmt`` that have a point."""
    cols = select(Report.id, Report.code, Report.category_code, Report.status, Report.lat, Report.lon,
                  Report.created_at).where(Report.lat.is_not(None))
    cols = cols.where(Report.id.in_(stmt.with_only_columns(Report.id).scalar_subquery())) if stmt is not None else cols
    rows = session.execute(cols.order_by(Report.created_at.desc()).limit(limit)).all()
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
              "properties": {"id": r.id, "code": r.code, "category": r.category_code, "status": r.status,
                             "created_at": r.created_at.isoformat()}} for r in rows]
    return {"type": "FeatureCollection", "features": feats}


# --------------------------------------------------------------------------------- statistics


@dataclass
class StatRow:
    """Figures for one unit or category: counts, rates (0–1) and mean times in hours."""

    key: str
    name: str
    total: int
    handled: int
    on_time: int
    rated: int
    satisfied: int
    handled_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    mean_rating: float | None
    mean_hours_to_acknowledge: float | None
    mean_hours_to_resolve: float | None


def _hours_expr(session: Session, later: Any, earlier: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return func.extract("epoch", later - earlier) / 3600.0


def statistics(session: Session, actor: Actor, *, by: str = "unit", since: datetime | None = None,
               until: datetime | None = None) -> list[StatRow]:
    """Thống kê — handled rate, on-time rate, satisfaction and mean times, per ``unit`` or ``category``.

    Handled = resolved or closed. On time = resolved before the deadline. Satisfied = rating 4 or 5.
    Merged duplicates are not counted (their main report is). Only reports the actor may read.
    """
    key_col = Report.unit_id if by == "unit" else Report.category_code
    handled = Report.status.in_(lifecycle.DONE_STATUSES)
    stmt = select(
        key_col.label("key"),
        func.count().label("total"),
        func.sum(case((handled, 1), else_=0)).label("handled"),
        func.sum(case((handled & (Report.resolved_at <= Report.due_at), 1), else_=0)).label("on_time"),
        func.sum(case((Report.rating.is_not(None), 1), else_=0)).label("rated"),
        func.sum(case((Report.rating >= 4, 1), else_=0)).label("satisfied"),
        func.avg(Report.rating).label("mean_rating"),
        func.avg(_hours_expr(session, Report.acknowledged_at, Report.created_at)).label("ack"),
        func.avg(_hours_expr(session, Report.resolved_at, Report.created_at)).label("res"),
    ).where(Report.merged_into_id.is_(None)).group_by(key_col)
    scope = _scope_filter(actor, "feedback.stats.read")
    if scope is not None:
        stmt = stmt.where(scope)
    if since is not None:
        stmt = stmt.where(Report.created_at >= since)
    if until is not None:
        stmt = stmt.where(Report.created_at <= until)
    rows = session.execute(stmt).all()
    names: dict[str, str] = {}
    if by == "unit":
        ids = [r.key for r in rows]
        if ids:
            names = dict(session.execute(select(identity.Organisation.id, identity.Organisation.name)
                                         .where(identity.Organisation.id.in_(ids))).all())
    else:
        names = {c.code: c.name for c in categories.all_categories()}

    def rate(a: int, b: int) -> float | None:
        return round(a / b, 4) if b else None

    out = []
    for r in rows:
        total, done, on_time, rated, sat = int(r.total), int(r.handled or 0), int(r.on_time or 0), int(
            r.rated or 0), int(r.satisfied or 0)
        out.append(StatRow(
            key=str(r.key), name=names.get(r.key, str(r.key)), total=total, handled=done, on_time=on_time,
            rated=rated, satisfied=sat, handled_rate=rate(done, total), on_time_rate=rate(on_time, done),
            satisfaction_rate=rate(sat, rated),
            mean_rating=round(float(r.mean_rating), 2) if r.mean_rating is not None else None,
            mean_hours_to_acknowledge=round(float(r.ack), 2) if r.ack is not None else None,
            mean_hours_to_resolve=round(float(r.res), 2) if r.res is not None else None))
    out.sort(key=lambda s: (-s.total, s.name))
    return out


def public_view(session: Session, r: Report) -> dict[str, Any]:
    """The public fields of a report (schema ``ReportPublic``): never the reporter's contact."""
    cat = categories.get_category(r.category_code)
    unit = identity.get_org(session, r.unit_id)
    return {
        "id": r.id, "code": r.code, "category": r.category_code, "category_name": cat.name if cat else None,
        "description": r.description, "lat": r.lat, "lon": r.lon, "address": r.address, "status": r.status,
        "unit_name": unit.name if unit else None, "created_at": r.created_at, "updated_at": r.updated_at,
        "due_at": r.due_at, "resolved_at": r.resolved_at, "merged_into": r.merged_into_id, "rating": r.rating,
        "media": [f"/api/v1/feedback/media/{m.id}" for m in media(session, r.id)],
        "timeline": [{"at": a.at, "action": a.action, "status": a.status, "actor_name": a.actor_name,
                      "unit_name": a.unit_name, "note": a.note} for a in timeline(session, r.id)],
    }
