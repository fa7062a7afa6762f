"""Thời hạn giải quyết — due dates and the on-time classification of Decision 766/QĐ-TTg.

Due date (ngày hẹn trả) is computed once, when the one-stop desk accepts the dossier:

* ``working_days`` — :func:`smartprovince.core.calendar.add_working_days` (the day of receipt is not
  counted; a dossier received at or after the procedure's cutoff hour counts from the next working
  day; the due instant is the end of office hours);
* ``hours`` — the given number of office hours (giờ hành chính) on working days after receipt;
* ``calendar_days`` — the same clock time ``n`` days later.

Time waiting for the applicant's supplement is not processing time: when the applicant hands in the
supplement, the due date moves later by the working days spent waiting (:func:`shift_for_supplement`).

Classification (Decision 766/QĐ-TTg, chỉ số "Tiến độ giải quyết"):

* a finished dossier is **early** (trước hạn) when it was finished on a day before the due day,
  **on time** (đúng hạn) when finished on the due day not after the due instant, **late** (quá hạn)
  after the due instant — and also late whenever supplements were requested more than once;
* a dossier still open at the end of the period is **open within due** or **open past due** by
  comparing the due instant with the period end.

The apology-and-extension letter (thư xin lỗi, hẹn lại) gives the citizen a new date, but the
classification keeps the original due date: an extension does not turn a late dossier into an
on-time one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from smartprovince.core import calendar
from smartprovince.core.clock import VN_TZ

EARLY = "early"
ON_TIME = "on_time"
LATE = "late"
OPEN_WITHIN = "open_within"
OPEN_OVERDUE = "open_overdue"

CLASS_LABELS = {
    EARLY: "Trước hạn",
    ON_TIME: "Đúng hạn",
    LATE: "Quá hạn",
    OPEN_WITHIN: "Đang xử lý trong hạn",
    OPEN_OVERDUE: "Đang xử lý quá hạn",
}


def compute_due(
    received_at: datetime,
    amount: Decimal | float | int,
    unit: str,
    *,
    cutoff_hour: int | None = None,
    session: Session | None = None,
) -> datetime:
    """The due instant (aware UTC) of a dossier accepted at ``received_at``."""
    if unit == "working_days":
        return calendar.add_working_days(received_at, int(amount), cutoff_hour=cutoff_hour, session=session)
    if unit == "calendar_days":
        return received_at + timedelta(days=float(amount))
    if unit == "hours":
        return _add_office_hours(received_at, float(amount), session=session)
    raise ValueError(f"unknown processing-time unit {unit!r}")


def _add_office_hours(start: datetime, hours: float, *, session: Session | None) -> datetime:
    """``start`` plus ``hours`` of office time (giờ hành chính) on working days."""
    office = calendar.DEFAULT_OFFICE_HOURS
    remaining = timedelta(hours=hours)
    local = start.astimezone(VN_TZ)
    day = local.date()
    for _ in range(3660):
        if calendar.is_working_day(session, day):
            for p_start, p_end in office.periods:
                lo = max(local, datetime.combine(day, p_start, tzinfo=VN_TZ))
                hi = datetime.combine(day, p_end, tzinfo=VN_TZ)
                if hi <= lo:
                    continue
                if hi - lo >= remaining:
                    return (lo + remaining).astimezone(start.tzinfo or VN_TZ)
                remaining -= hi - lo
        day += timedelta(days=1)
    raise ValueError("no working time within ten years")  # pragma: no cover


def shift_for_supplement(
    due_at: datetime, requested_at: datetime, supplied_at: datetime, *, session: Session | None = None
) -> tuple[datetime, int]:
    """Move ``due_at`` later by the working days spent waiting for a supplement; returns (new due, days)."""
    days = max(calendar.working_days_between(requested_at, supplied_at, session=session), 0)
    if days == 0:
        return due_at, 0
    local = due_at.astimezone(VN_TZ)
    day = local.date()
    for _ in range(days):
        day = calendar.next_working_day(day, session=session)
    return datetime.combine(day, local.timetz()).astimezone(due_at.tzinfo), days


def classify(
    *,
    due_at: datetime | None,
    finished_at: datetime | None,
    supplement_requests: int,
    at: datetime,
) -> str | None:
    """The Decision 766 class of a dossier judged at instant ``at`` (normally the period end).

    Returns ``None`` when the dossier has no due date (never accepted) or is finished after ``at``
    but not yet due at ``at`` (it is then open within due).
    """
    if due_at is None:
        return None
    if finished_at is not None and finished_at <= at:
        if supplement_requests > 1 or finished_at > due_at:
            return LATE
        if finished_at.astimezone(VN_TZ).date() < due_at.astimezone(VN_TZ).date():
            return EARLY
        return ON_TIME
    if due_at < at or supplement_requests > 1:
        return OPEN_OVERDUE
    return OPEN_WITHIN


def is_nearly_late(due_at: datetime | None, now: datetime, *, session: Session | None = None) -> bool:
    """True when an open dossier is due today or on the next working day (sắp đến hạn)."""
    if due_at is None or due_at < now:
        return False
    return calendar.working_days_between(now, due_at, session=session) <= 1
