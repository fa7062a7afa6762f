"""Reads of the feedback module and the access helpers that apply the scope rules.

An officer sees the reports routed to an organisation inside the subtree where they hold
``feedback.report.read``; a report outside it raises the same ``NotFound`` as a missing one. The
public views (map, report page, Open311) never show the reporter's contact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Select, String, case, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor
from smartprovince.feedback import categories, lifecycle
from smartprovince.feedback.models import Report, ReportActivity, ReportMedia, ReportStat
from smartprovince.feedback.stats import FIELDS as stats_fields

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


def _public_filters(stmt: Any, *, category: str | None = None, status: str | None = None,
                    bbox: tuple[float, float, float, float] | None = None, since: datetime | None = None,
                    until: datetime | None = None, status_col: Any = Report.status,
                    category_col: Any = Report.category_code) -> Any:
    if category:
        stmt = stmt.where(category_col.in_([c for c in category.split(",") if c]))
    if status == "open":
        stmt = stmt.where(status_col.in_(lifecycle.OPEN_STATUSES))
    elif status == "closed":
        stmt = stmt.where(status_col.in_(lifecycle.DONE_STATUSES))
    elif status:
        stmt = stmt.where(status_col == status)
    if bbox is not None:
        west, south, east, north = bbox
        stmt = stmt.where(Report.lat.between(south, north), Report.lon.between(west, east))
    if since is not None:
        stmt = stmt.where(Report.created_at >= since)
    if until is not None:
        stmt = stmt.where(Report.created_at <= until)
    return stmt


def public_query(**filters: Any) -> Select[Any]:
    """Reports for the public lists and Open311 (filters: category, status, bbox, since, until)."""
    return _public_filters(select(Report), **filters)


def timeline(session: Session, report_id: str) -> list[ReportActivity]:
    """The timeline steps of a report, oldest first."""
    return list(session.scalars(select(ReportActivity).where(ReportActivity.report_id == report_id)
                                .order_by(ReportActivity.at, ReportActivity.id)))


def media(session: Session, report_id: str) -> list[ReportMedia]:
    """The photos and videos of a report (reporter's first, then the results)."""
    return list(session.scalars(select(ReportMedia).where(ReportMedia.report_id == report_id)
                                .order_by(ReportMedia.kind.desc(), ReportMedia.created_at)))


def media_item(session: Session, media_id: str) -> ReportMedia:
    """One photo; ``NotFound`` when missing."""
    m = session.get(ReportMedia, media_id)
    if m is None:
        raise NotFound("Không tìm thấy ảnh hoặc video (photo or video not found).")
    return m


def merged_children(session: Session, report_id: str) -> list[Report]:
    """Reports merged into ``report_id``."""
    return list(session.scalars(select(Report).where(Report.merged_into_id == report_id).order_by(Report.created_at)))


MAP_LIMIT = 2000
"""Default number of points in one map answer: the newest reports of the viewport. A wider viewport holding more
is answered with ``"truncated": true`` and the page asks to zoom in (nobody reads more markers than this)."""


def geojson(session: Session, *, limit: int = MAP_LIMIT, **filters: Any) -> bytes:
    """A GeoJSON FeatureCollection (public fields only, newest first, at most ``limit``) as JSON bytes.

    Besides ``features`` the collection has ``limit`` and ``truncated`` (true when the viewport holds more
    reports than ``limit``: the page then asks the user to zoom in).

    Written for speed (docs/feedback.md, bench/feedback_map_stats.py): serialised with orjson directly (the
    framework's encoder is several times slower); on SQLite the time is read as its stored UTC text and
    written as ISO 8601 without building a datetime per row; the status and category filters are written
    so that SQLite answers from the covering ``ix_feedback_report_map`` (lat, lon, …) index instead of
    walking the single-column status or category index and reading every matching row of the table.
    """
    sqlite = session.get_bind().dialect.name == "sqlite"
    created = type_coerce(Report.created_at, String).label("created_at") if sqlite else Report.created_at
    # ``coalesce(merged_into_id, '') = ''`` rather than ``IS NULL``: almost every report is not merged, but
    # SQLite without ANALYZE statistics takes the equality for selective and walks the merged_into_id
    # index over the whole table. For the same reason ``status || ''``: a plain ``status IN (…)`` makes
    # it walk ix_feedback_report_status (5× slower for a city viewport).
    cols = select(Report.id, Report.code, Report.category_code, Report.status, Report.lat, Report.lon,
                  created).where(Report.lat.is_not(None), func.coalesce(Report.merged_into_id, "") == "")
    bbox = filters.pop("bbox", None)
    stmt = _public_filters(cols, status_col=Report.status.concat(""), category_col=Report.category_code.concat(""),
                           **filters)
    if bbox is not None:
        west, south, east, north = bbox
        lat: Any = Report.lat
        lon: Any = Report.lon
        if sqlite and _wide_viewport(session, bbox):
            # ``lat + 0``: SQLite then cannot use the (lat, lon) index and reads the time-ordered
            # ix_feedback_report_recent newest first (SQLAlchemy writes no index hints for SQLite).
            lat, lon = Report.lat + 0, Report.lon + 0
        stmt = stmt.where(lat.between(south, north), lon.between(west, east))
    rows = session.execute(stmt.order_by(Report.created_at.desc()).limit(limit + 1)).all()
    truncated = len(rows) > limit
    feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [r[5], r[4]]},
              "properties": {"id": r[0], "code": r[1], "category": r[2], "status": r[3],
                             "created_at": _iso_utc(r[6])}} for r in rows[:limit]]
    return orjson.dumps({"type": "FeatureCollection", "features": feats, "limit": limit, "truncated": truncated})


WIDE_VIEWPORT = 0.4
"""A viewport whose latitude range covers at least this part of the reports' latitude range is *wide*."""


def _wide_viewport(session: Session, bbox: tuple[float, float, float, float] | None) -> bool:
    """Whether SQLite should read the map's time-ordered index (newest first, stop after ``limit``) rather
    than the (lat, lon) one (every report of the latitude band, then sort).

    A wide viewport holds most reports: the newest ``limit`` are found after a short walk of the time
    index (province, open only: 134 ms → 13 ms at 200 k reports). A small one (a town) holds few: the time
    index would be read to its end, the latitude band is short. The reports' latitude range costs two
    index look-ups (SQLite reads the ends of ix_feedback_report_map).
    """
    if bbox is None:
        return True
    row = session.execute(select(select(func.min(Report.lat)).scalar_subquery(),
                                 select(func.max(Report.lat)).scalar_subquery())).one()
    if row[0] is None or row[1] is None or float(row[1]) <= float(row[0]):
        return True
    low, high = float(row[0]), float(row[1])
    _west, south, _east, north = bbox
    covered = max(0.0, min(north, high) - max(south, low))
    return covered / (high - low) >= WIDE_VIEWPORT


def _iso_utc(value: Any) -> str:
    """ISO 8601 UTC text of a stored time: SQLite's text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (UTC) or a datetime."""
    if isinstance(value, str):
        return value.replace(" ", "T", 1) + "+00:00"
    return str(value.astimezone(UTC).isoformat())


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


def _kept_rows(session: Session, actor: Actor, by: str) -> list[Any]:
    """Sums per unit or per category from ``feedback_stat``, kept up to date on every write (``stats.py``):
    the database adds up a few thousand rows, however many reports there are."""
    table = ReportStat.__table__
    group = table.c.unit_id if by == "unit" else table.c.category_code
    stmt = select(group, *[func.sum(table.c[f]).label(f) for f in stats_fields]).where(table.c.total > 0)
    scopes = actor.scopes("feedback.stats.read")
    if "" not in scopes:
        stmt = stmt.where(or_(*[table.c.unit_path.startswith(p) for p in scopes]) if scopes
                          else table.c.unit_id.is_(None))
    return list(session.execute(stmt.group_by(group)).all())


def _stat_rows(session: Session, actor: Actor, since: datetime | None, until: datetime | None) -> list[Any]:
    """Sums and counts per (unit, category) of the reports received in a period (one scan of the covering
    index ``ix_feedback_report_stats``); the callers add them up per unit or per category."""
    handled = Report.status.in_(lifecycle.DONE_STATUSES)
    stmt = select(
        Report.unit_id, Report.category_code,
        func.count().label("total"),
        func.sum(case((handled, 1), else_=0)).label("handled"),
        func.sum(case((handled & (Report.resolved_at <= Report.due_at), 1), else_=0)).label("on_time"),
        func.count(Report.rating).label("rated"),
        func.sum(case((Report.rating >= 4, 1), else_=0)).label("satisfied"),
        func.sum(Report.rating).label("rating_sum"),
        func.sum(Report.ack_hours).label("ack_sum"), func.count(Report.ack_hours).label("ack_n"),
        func.sum(Report.resolve_hours).label("res_sum"), func.count(Report.resolve_hours).label("res_n"),
    ).where(Report.merged_into_id.is_(None)).group_by(Report.unit_id, Report.category_code)
    scope = _scope_filter(actor, "feedback.stats.read")
    if scope is not None:
        stmt = stmt.where(scope)
    if since is not None:
        stmt = stmt.where(Report.created_at >= since)
    if until is not None:
        stmt = stmt.where(Report.created_at <= until)
    return list(session.execute(stmt).all())


def _fold(session: Session, rows: list[Any], by: str) -> list[StatRow]:
    sums: dict[str, list[float]] = {}
    for r in rows:
        key = r.unit_id if by == "unit" else r.category_code
        acc = sums.setdefault(key, [0.0] * 11)
        for i, v in enumerate((r.total, r.handled, r.on_time, r.rated, r.satisfied, r.rating_sum, r.ack_sum,
                               r.ack_n, r.res_sum, r.res_n)):
            acc[i] += float(v or 0)
    if by == "unit":
        names: dict[str, str] = dict(session.execute(
            select(identity.Organisation.id, identity.Organisation.name)
            .where(identity.Organisation.id.in_(list(sums)))).all()) if sums else {}
    else:
        names = {c.code: c.name for c in categories.all_categories()}

    def ratio(a: float, b: float, digits: int = 4) -> float | None:
        return round(a / b, digits) if b else None

    out = []
    for key, (total, done, on_time, rated, sat, rating_sum, ack_sum, ack_n, res_sum, res_n, _) in sums.items():
        out.append(StatRow(
            key=str(key), name=names.get(key, str(key)), total=int(total), handled=int(done), on_time=int(on_time),
            rated=int(rated), satisfied=int(sat), handled_rate=ratio(done, total), on_time_rate=ratio(on_time, done),
            satisfaction_rate=ratio(sat, rated), mean_rating=ratio(rating_sum, rated, 2),
            mean_hours_to_acknowledge=ratio(ack_sum, ack_n, 2), mean_hours_to_resolve=ratio(res_sum, res_n, 2)))
    out.sort(key=lambda s: (-s.total, s.name))
    return out


def statistics(session: Session, actor: Actor, *, by: str = "unit", since: datetime | None = None,
               until: datetime | None = None) -> list[StatRow]:
    """Thống kê — handled rate, on-time rate, satisfaction and mean times, per ``unit`` or ``category``.

    Handled = resolved or closed. On time = resolved before the deadline. Satisfied = rating 4 or 5.
    Merged duplicates are not counted (their main report is). Only reports the actor may read. Without
    ``since`` / ``until``: all reports, from the statistics kept on write.
    """
    if since is None and until is None:
        return _fold(session, _kept_rows(session, actor, by), by)
    return _fold(session, _stat_rows(session, actor, since, until), by)


def statistics_both(session: Session, actor: Actor, *, since: datetime | None = None,
                    until: datetime | None = None) -> tuple[list[StatRow], list[StatRow]]:
    """The statistics per unit and per category (the statistics page): from the kept statistics, or from
    one scan of the period's reports."""
    if since is None and until is None:
        return _fold(session, _kept_rows(session, actor, "unit"), "unit"), \
            _fold(session, _kept_rows(session, actor, "category"), "category")
    rows = _stat_rows(session, actor, since, until)
    return _fold(session, rows, "unit"), _fold(session, rows, "category")


def public_view(session: Session, r: Report) -> dict[str, Any]:
    """The public fields of a report (schema ``ReportPublic``): never the reporter's contact."""
    cat = categories.get_category(r.category_code)
    unit = identity.get_org(session, r.unit_id)
    items = media(session, r.id)
    return {
        "id": r.id, "code": r.code, "category": r.category_code, "category_name": cat.name if cat else None,
        "description": r.description, "lat": r.lat, "lon": r.lon, "address": r.address, "status": r.status,
        "unit_name": unit.name if unit else None, "created_at": r.created_at, "updated_at": r.updated_at,
        "due_at": r.due_at, "resolved_at": r.resolved_at, "merged_into": r.merged_into_id, "rating": r.rating,
        "media": [f"/api/v1/feedback/media/{m.id}" for m in items],
        "media_items": [{"url": f"/api/v1/feedback/media/{m.id}", "content_type": m.content_type,
                         "video": m.content_type.startswith("video/"), "kind": m.kind} for m in items],
        "timeline": [{"at": a.at, "action": a.action, "status": a.status, "actor_name": a.actor_name,
                      "unit_name": a.unit_name, "note": a.note} for a in timeline(session, r.id)],
    }
