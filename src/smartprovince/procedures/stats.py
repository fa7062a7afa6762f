"""Thống kê — statistics of dossier handling per period × agency × procedure (Decision 766/QĐ-TTg).

For a period [from, to] (local dates, both included):

* **received** (tiếp nhận) — dossiers accepted in the period; **received_online** — those submitted
  online. Online rate (tỷ lệ hồ sơ trực tuyến) = received_online / received.
* **finished early / on time / late** — dossiers finished in the period, classified as in
  :mod:`.timing`: late when finished after the due instant or when supplements were asked more than
  once; early when finished on a day before the due day.
* **open within / past due** — dossiers received by the end of the period and neither finished nor
  closed by then, judged at the end of the period (or now, if the period has not ended).
* **On-time rate** (chỉ số tiến độ giải quyết) = (early + on time) / (finished + open past due).
* **Online payment rate** (thanh toán trực tuyến) = dossiers paid online / received dossiers with a fee.
* **Digitisation rate** (số hóa hồ sơ) = received dossiers whose documents are all digitised / received.
* **Average processing time** — mean calendar days from acceptance to finishing, finished dossiers.

:func:`compute` reads the daily aggregate table (:mod:`.daily`, kept in the same transaction as
every change) and counts only the dossiers still open from the dossier table, so a half year of a
million dossiers takes well under the 2 s target on SQLite (see ``bench/procedures_stats.py``).
:func:`compute_from_dossiers` counts everything from the dossier rows; it is the reference the
tests compare the aggregate with.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from smartprovince.core.clock import VN_TZ, now
from smartprovince.procedures.models import DailyStats, Dossier, MonthlyOpenStats, Procedure
from smartprovince.procedures.schemas import StatsOut, StatsRow

COUNT_FIELDS = ("received", "received_online", "finished", "finished_early", "finished_on_time", "finished_late",
                "open_within_due", "open_overdue", "stopped_or_refused", "fee_dossiers", "paid_online", "digitised")


@dataclass
class _Acc:
    values: dict[str, float]
    processing_seconds: float = 0.0


def _rows(session: Any, stmt: Any) -> list[Any]:
    """Result rows of a grouped statement (typed ``Any``: the key columns vary by grouping)."""
    return list(session.execute(stmt))


def _bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    start = datetime.combine(date_from, time(0), tzinfo=VN_TZ)
    end = datetime.combine(date_to + timedelta(days=1), time(0), tzinfo=VN_TZ)
    return start, end


def _local_day(session: Session, column: Any) -> Any:
    # Vietnam has no daylight-saving time: the local day is the UTC instant plus seven hours.
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("Asia/Ho_Chi_Minh", column))
    return func.date(column, "+7 hours")


def _seconds_between(session: Session, a: Any, b: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", b - a)
    return (func.julianday(b) - func.julianday(a)) * 86400.0


def _in_subtree(column: Any, prefix: str) -> Any:
    # Materialised paths hold only ``/`` and hex digits; ``~`` sorts after all of them (index range).
    return and_(column >= prefix, column < prefix + "~")


def _scope_filter(scopes: list[str] | None, path: Any) -> Any:
    if scopes is None or "" in scopes:
        return literal(True)
    if not scopes:
        return literal(False)
    return or_(*[_in_subtree(path, p) for p in scopes])


def _agency_filter(session: Session, agency: str | None, code: Any, path: Any) -> Any:
    if not agency:
        return literal(True)
    from smartprovince import identity

    org = identity.get_org_by_code(session, agency)
    if org is not None:
        return or_(code == agency, _in_subtree(path, org.path))
    return code == agency


def compute(
    session: Session,
    date_from: date,
    date_to: date,
    *,
    agency: str | None = None,
    procedure: str | None = None,
    scopes: list[str] | None = None,
    by: str = "agency_procedure",
) -> StatsOut:
    """Statistics for the period, one row per agency × procedure, plus the total.

    ``agency`` (an organisation code) includes its whole subtree; ``scopes`` (path prefixes from
    ``actor.scopes``) limit the rows to what the reader may see; ``None`` means everything.
    ``by`` = ``procedure`` adds up the agencies (one row per procedure, like the plan's table);
    ``agency`` adds up the procedures.

    Reads the daily table (:mod:`.daily`) plus the dossiers still open now;
    :func:`compute_from_dossiers` counts the same from the dossier rows (the tests compare them).
    """
    acc = _from_daily(session, date_from, date_to, agency=agency, procedure=procedure, scopes=scopes)
    return _finish(session, acc, date_from, date_to, agency=agency, by=by)


def _from_daily(
    session: Session, date_from: date, date_to: date, *, agency: str | None, procedure: str | None,
    scopes: list[str] | None,
) -> dict[tuple[str, str], _Acc]:
    start, end = _bounds(date_from, date_to)
    judge_at = min(end, now())
    t = DailyStats
    base = and_(_scope_filter(scopes, t.agency_path), _agency_filter(session, agency, t.agency_code, t.agency_path),
                t.procedure_code == procedure if procedure else literal(True))
    keys = (t.agency_code, t.procedure_code)
    acc: dict[tuple[str, str], _Acc] = {}

    def bucket(k: tuple[str, str]) -> _Acc:
        if k not in acc:
            acc[k] = _Acc(values=dict.fromkeys(COUNT_FIELDS, 0))
        return acc[k]

    summed = ("received", "received_online", "fee_dossiers", "paid_online", "digitised", "finished",
              "finished_early", "finished_late", "stopped_or_refused")
    q1 = select(*keys, *[func.sum(getattr(t, f)) for f in summed], func.sum(t.processing_seconds)).where(
        base, t.day >= date_from, t.day <= date_to).group_by(*keys)
    for a, p, *values, secs in _rows(session, q1):
        b = bucket((a, p))
        for f, v in zip(summed, values, strict=True):
            b.values[f] += int(v or 0)
        b.values["finished_on_time"] = b.values["finished"] - b.values["finished_early"] - b.values["finished_late"]
        b.processing_seconds = float(secs or 0)

    # Dossiers already over but open at the end of the period: running sums of the differences,
    # whole months from the monthly table, then the days of the last month.
    m = MonthlyOpenStats
    month_start = date_to.replace(day=1)
    mbase = and_(_scope_filter(scopes, m.agency_path), _agency_filter(session, agency, m.agency_code, m.agency_path),
                 m.procedure_code == procedure if procedure else literal(True))
    q2m = select(m.agency_code, m.procedure_code, func.sum(m.open_delta), func.sum(m.overdue_delta)).where(
        mbase, m.month < month_start).group_by(m.agency_code, m.procedure_code)
    q2d = select(*keys, func.sum(t.open_delta), func.sum(t.overdue_delta)).where(
        base, t.day >= month_start, t.day <= date_to).group_by(*keys)
    opened: dict[tuple[str, str], list[int]] = {}
    for a, p, n_open, n_over in [*_rows(session, q2m), *_rows(session, q2d)]:
        o = opened.setdefault((a, p), [0, 0])
        o[0] += int(n_open or 0)
        o[1] += int(n_over or 0)
    for k, (n_open, n_over) in opened.items():
        if n_open or n_over:
            b = bucket(k)
            b.values["open_within_due"] += n_open - n_over
            b.values["open_overdue"] += n_over

    # Dossiers still open now (few; a partial index holds only them).
    d = Dossier
    dbase = and_(_scope_filter(scopes, d.agency_path), _agency_filter(session, agency, d.agency_code, d.agency_path),
                 d.procedure_code == procedure if procedure else literal(True))
    overdue = or_(d.due_at < judge_at, d.supplement_requests > 1)
    q3 = select(d.agency_code, d.procedure_code, func.count(), func.sum(case((overdue, 1), else_=0))).where(
        d.finished_at.is_(None), d.closed_at.is_(None), d.received_at < end, d.due_at.is_not(None), dbase,
    ).group_by(d.agency_code, d.procedure_code)
    if session.get_bind().dialect.name == "sqlite":
        q3 = q3.with_hint(d, "INDEXED BY ix_procedure_dossier_open", "sqlite")
    for a, p, n, n_over in _rows(session, q3):
        b = bucket((a, p))
        b.values["open_within_due"] += n - (n_over or 0)
        b.values["open_overdue"] += n_over or 0
    return {k: v for k, v in acc.items() if any(v.values.values())}


def compute_from_dossiers(
    session: Session,
    date_from: date,
    date_to: date,
    *,
    agency: str | None = None,
    procedure: str | None = None,
    scopes: list[str] | None = None,
    by: str = "agency_procedure",
) -> StatsOut:
    """The same statistics as :func:`compute`, counted from the dossier rows (slow; the reference)."""
    start, end = _bounds(date_from, date_to)
    judge_at = min(end, now())
    base = and_(_scope_filter(scopes, Dossier.agency_path),
                _agency_filter(session, agency, Dossier.agency_code, Dossier.agency_path),
                Dossier.procedure_code == procedure if procedure else literal(True))
    keys = (Dossier.agency_code, Dossier.procedure_code)
    acc: dict[tuple[str, str], _Acc] = {}

    def bucket(k: tuple[str, str]) -> _Acc:
        if k not in acc:
            acc[k] = _Acc(values=dict.fromkeys(COUNT_FIELDS, 0))
        return acc[k]

    def one(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    received_in = and_(Dossier.received_at >= start, Dossier.received_at < end)
    q1 = select(
        *keys, func.count(), one(Dossier.channel == "online"), one(Dossier.fee_total > 0),
        one(and_(Dossier.fee_total > 0, Dossier.paid_online.is_(True))), one(Dossier.digitised.is_(True)),
    ).where(base, received_in).group_by(*keys)
    for a, p, n, online, fee, paid, dig in _rows(session, q1):
        b = bucket((a, p))
        b.values.update(received=n, received_online=online or 0, fee_dossiers=fee or 0, paid_online=paid or 0,
                        digitised=dig or 0)

    late = or_(Dossier.supplement_requests > 1, Dossier.finished_at > Dossier.due_at)
    early = and_(~late, _local_day(session, Dossier.finished_at) < _local_day(session, Dossier.due_at))
    finished_in = and_(Dossier.finished_at >= start, Dossier.finished_at < end, Dossier.due_at.is_not(None))
    q2 = select(
        *keys, func.count(), one(early), one(late),
        func.sum(_seconds_between(session, Dossier.received_at, Dossier.finished_at)),
    ).where(base, finished_in).group_by(*keys)
    for a, p, n, n_early, n_late, secs in _rows(session, q2):
        b = bucket((a, p))
        b.values.update(finished=n, finished_early=n_early or 0, finished_late=n_late or 0,
                        finished_on_time=n - (n_early or 0) - (n_late or 0))
        b.processing_seconds = float(secs or 0)

    open_at_end = and_(
        Dossier.received_at < end, Dossier.due_at.is_not(None),
        or_(Dossier.finished_at.is_(None), Dossier.finished_at >= end),
        or_(Dossier.closed_at.is_(None), Dossier.closed_at >= end),
    )
    overdue = or_(Dossier.due_at < judge_at, Dossier.supplement_requests > 1)
    q3 = select(*keys, func.count(), one(overdue)).where(base, open_at_end).group_by(*keys)
    for a, p, n, n_over in _rows(session, q3):
        b = bucket((a, p))
        b.values.update(open_within_due=n - (n_over or 0), open_overdue=n_over or 0)

    closed_in = and_(Dossier.closed_at >= start, Dossier.closed_at < end)
    q4 = select(*keys, func.count()).where(base, closed_in).group_by(*keys)
    for a, p, n in _rows(session, q4):
        bucket((a, p)).values["stopped_or_refused"] = n
    return _finish(session, acc, date_from, date_to, agency=agency, by=by)


def _finish(
    session: Session, acc: dict[tuple[str, str], _Acc], date_from: date, date_to: date, *, agency: str | None,
    by: str,
) -> StatsOut:
    if by in ("procedure", "agency"):
        merged: dict[tuple[str, str], _Acc] = {}
        for (a, p), b in acc.items():
            k = ("*", p) if by == "procedure" else (a, "*")
            m = merged.setdefault(k, _Acc(values=dict.fromkeys(COUNT_FIELDS, 0)))
            for f in COUNT_FIELDS:
                m.values[f] += b.values[f]
            m.processing_seconds += b.processing_seconds
        acc = merged
    names = dict(session.execute(select(Procedure.code, Procedure.name).where(Procedure.is_current.is_(True))).all())
    names["*"] = "Tất cả thủ tục"
    rows = [_row(a, p, names.get(p, p), acc[(a, p)]) for a, p in sorted(acc)]
    total_acc = _Acc(values=dict.fromkeys(COUNT_FIELDS, 0))
    for b in acc.values():
        for f in COUNT_FIELDS:
            total_acc.values[f] += b.values[f]
        total_acc.processing_seconds += b.processing_seconds
    total = _row("*", "*", "Tổng cộng", total_acc)
    return StatsOut(date_from=date_from.isoformat(), date_to=date_to.isoformat(), agency=agency, rows=rows,
                    total=total)


def _rate(num: float, den: float) -> float | None:
    return round(100.0 * num / den, 2) if den else None


def _row(agency: str, proc: str, name: str, b: _Acc) -> StatsRow:
    v = {k: int(x) for k, x in b.values.items()}
    handled = v["finished"] + v["open_overdue"]
    return StatsRow(
        agency_code=agency, procedure_code=proc, procedure_name=name, **v,
        avg_processing_days=round(b.processing_seconds / 86400.0 / v["finished"], 2) if v["finished"] else None,
        online_rate=_rate(v["received_online"], v["received"]),
        on_time_rate=_rate(v["finished_early"] + v["finished_on_time"], handled),
        online_payment_rate=_rate(v["paid_online"], v["fee_dossiers"]),
        digitisation_rate=_rate(v["digitised"], v["received"]),
    )


CSV_COLUMNS = ["agency_code", "procedure_code", "procedure_name", *COUNT_FIELDS, "avg_processing_days",
               "online_rate", "on_time_rate", "online_payment_rate", "digitisation_rate"]


def to_csv(result: StatsOut) -> str:
    """The statistics as CSV (UTF-8 with a byte-order mark so spreadsheet programs show Vietnamese)."""
    buf = io.StringIO()
    buf.write("\ufeff")
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in [*result.rows, result.total]:
        d = r.model_dump()
        w.writerow(["" if d[c] is None else d[c] for c in CSV_COLUMNS])
    return buf.getvalue()
