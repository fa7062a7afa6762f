"""Thống kê tổng hợp — keeps ``feedback_stat`` (:class:`ReportStat`) in step with the reports.

Before every flush of a session, the reports it inserts or changes are compared with their rows in the
database (their state before this flush): the difference of their contributions is added to the
``feedback_stat`` rows of their (unit, category) with one atomic upsert per row
(``INSERT … ON CONFLICT DO UPDATE SET total = total + excluded.total …``, SQLite and PostgreSQL). It runs
in the same transaction as the change, so a rolled-back change leaves the statistics as they were.

Writes that bypass the ORM (a bulk ``insert(Report)`` of a benchmark or an import) must be followed by
:func:`rebuild` (``smartprovince feedback rebuild-stats``), which recounts everything.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, event, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from smartprovince.feedback import lifecycle
from smartprovince.feedback.models import Report, ReportStat

FIELDS = ("total", "handled", "on_time", "rated", "satisfied", "rating_sum", "ack_sum", "ack_n", "res_sum", "res_n")
_COLUMNS = (Report.id, Report.unit_id, Report.unit_path, Report.category_code, Report.merged_into_id,
            Report.status, Report.resolved_at, Report.due_at, Report.rating, Report.ack_hours, Report.resolve_hours)

Key = tuple[str, str, str]


def contribution(r: Any) -> tuple[Key, tuple[float, ...]] | None:
    """What one report adds to the statistics of its (unit, path, category); ``None`` when merged (its main
    report counts instead). Same rules as the recount in :func:`rebuild`."""
    if r.merged_into_id is not None:
        return None
    done = r.status in lifecycle.DONE_STATUSES
    on_time = done and r.resolved_at is not None and r.due_at is not None and r.resolved_at <= r.due_at
    rated = r.rating is not None
    return (r.unit_id, r.unit_path, r.category_code), (
        1, int(done), int(on_time), int(rated), int(rated and r.rating >= 4), r.rating or 0,
        r.ack_hours or 0.0, int(r.ack_hours is not None), r.resolve_hours or 0.0, int(r.resolve_hours is not None))


def _add(deltas: dict[Key, list[float]], item: tuple[Key, tuple[float, ...]] | None, sign: int) -> None:
    if item is None:
        return
    key, values = item
    acc = deltas.setdefault(key, [0.0] * len(FIELDS))
    for i, v in enumerate(values):
        acc[i] += sign * v


def apply(session: Session, deltas: dict[Key, list[float]]) -> None:
    """Add ``deltas`` to the ``feedback_stat`` rows (created when missing), on the session's connection."""
    conn = session.connection()
    insert_fn: Any = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for (unit_id, unit_path, category), values in deltas.items():
        if not any(values):
            continue
        row = {f: (v if f in ("ack_sum", "res_sum") else int(round(v))) for f, v in zip(FIELDS, values, strict=True)}
        stmt = insert_fn(ReportStat).values(unit_id=unit_id, unit_path=unit_path, category_code=category, **row)
        table: Any = ReportStat.__table__
        stmt = stmt.on_conflict_do_update(
            index_elements=[table.c.unit_id, table.c.unit_path, table.c.category_code],
            set_={f: table.c[f] + stmt.excluded[f] for f in FIELDS})
        conn.execute(stmt)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    new = [o for o in session.new if isinstance(o, Report)]
    dirty = [o for o in session.dirty if isinstance(o, Report) and session.is_modified(o)]
    gone = [o for o in session.deleted if isinstance(o, Report)]
    if not new and not dirty and not gone:
        return
    deltas: dict[Key, list[float]] = {}
    for o in new:
        _add(deltas, contribution(o), +1)
    before = [o.id for o in dirty + gone]
    if before:
        # The rows as the database has them now are the state before this flush.
        for row in session.connection().execute(select(*_COLUMNS).where(Report.id.in_(before))):
            _add(deltas, contribution(row), -1)
    for o in dirty:
        _add(deltas, contribution(o), +1)
    apply(session, deltas)


def recount_query() -> Any:
    """The statistics counted from the reports themselves, per (unit, path, category)."""
    handled = Report.status.in_(lifecycle.DONE_STATUSES)
    return select(
        Report.unit_id, Report.unit_path, Report.category_code,
        func.count().label("total"),
        func.sum(case((handled, 1), else_=0)).label("handled"),
        func.sum(case((handled & (Report.resolved_at <= Report.due_at), 1), else_=0)).label("on_time"),
        func.count(Report.rating).label("rated"),
        func.sum(case((Report.rating >= 4, 1), else_=0)).label("satisfied"),
        func.coalesce(func.sum(Report.rating), 0).label("rating_sum"),
        func.coalesce(func.sum(Report.ack_hours), 0.0).label("ack_sum"), func.count(Report.ack_hours).label("ack_n"),
        func.coalesce(func.sum(Report.resolve_hours), 0.0).label("res_sum"),
        func.count(Report.resolve_hours).label("res_n"),
    ).where(Report.merged_into_id.is_(None)).group_by(Report.unit_id, Report.unit_path, Report.category_code)


def rebuild(session: Session) -> int:
    """Recount ``feedback_stat`` from every report (after bulk loads); returns the number of rows."""
    session.flush()
    session.execute(delete(ReportStat))
    cols = ["unit_id", "unit_path", "category_code", *FIELDS]
    session.execute(insert(ReportStat).from_select(cols, recount_query()))
    return int(session.scalar(select(func.count()).select_from(ReportStat)) or 0)
