"""Administration page of the working-day calendar: /admin/calendar (Lịch ngày nghỉ, ngày làm bù).

An administrator sees one year: a month grid (working days, weekends, holidays, decided days off,
make-up working days), the public holidays of the Labour Code, and the override table. A form adds
or replaces the override of a day; a button removes one. Both forms carry the CSRF token and call the
kernel's service functions (``core.calendar.set_override`` / ``delete_override``), which write the
audit row and publish the event. An invalid change rolls back and shows the page again with the
message; nothing is half-written.
"""

from __future__ import annotations

import calendar as _stdcal
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from smartprovince.core import calendar
from smartprovince.core.clock import local_now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Problem
from smartprovince.core.security import Actor, require, verify_csrf
from smartprovince.web.rendering import redirect, render

router = APIRouter(prefix="/admin/calendar")

MANAGE = "core.calendar.manage"
MONTHS_VI = (
    "Tháng 1",
    "Tháng 2",
    "Tháng 3",
    "Tháng 4",
    "Tháng 5",
    "Tháng 6",
    "Tháng 7",
    "Tháng 8",
    "Tháng 9",
    "Tháng 10",
    "Tháng 11",
    "Tháng 12",
)
WEEKDAYS_VI = ("T2", "T3", "T4", "T5", "T6", "T7", "CN")
WEEKDAY_NAMES_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
KIND_LABELS = {
    "off": "Ngày nghỉ",
    "working": "Ngày làm bù",
}


@dataclass(frozen=True)
class Month:
    """One month of the grid: its Vietnamese name and its weeks (``None`` pads days of other months)."""

    name: str
    weeks: list[list[calendar.DayInfo | None]]


def _months(year: int, days: list[calendar.DayInfo]) -> list[Month]:
    by_day = {d.day: d for d in days}
    months = []
    for m in range(1, 13):
        weeks = [
            [by_day.get(d) if d.month == m else None for d in week]
            for week in _stdcal.Calendar(firstweekday=0).monthdatescalendar(year, m)
        ]
        months.append(Month(MONTHS_VI[m - 1], weeks))
    return months


def _page(
    request: Request,
    session: Session,
    year: int,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    days = calendar.calendar_days(date(year, 1, 1), date(year, 12, 31), session=session)
    overrides = calendar.list_overrides(session, year=year)
    by_day = {d.day: d for d in days}
    holidays = [
        {"day": d, "name": names[0], "name_en": names[1], "current": by_day[d]}
        for d, names in calendar.legal_holidays(year).items()
    ]
    context: dict[str, Any] = {
        "year": year,
        "months": _months(year, days),
        "weekdays": WEEKDAYS_VI,
        "weekday_names": WEEKDAY_NAMES_VI,
        "holidays": holidays,
        "overrides": overrides,
        "kind_labels": KIND_LABELS,
        "working_days": sum(1 for d in days if d.working),
        "days_off_on_weekdays": sum(1 for d in days if not d.working and d.day.weekday() < 5),
        "min_year": calendar.MIN_YEAR,
        "max_year": calendar.MAX_YEAR,
        "error": error,
        "form": form or {"day": "", "kind": "off", "reason": "", "reference": ""},
    }
    return render(request, "admin/calendar.html", context, status=status)


def _year(value: int | None) -> int:
    year = value or local_now().year
    if not calendar.MIN_YEAR <= year <= calendar.MAX_YEAR:
        raise calendar.CalendarRangeError(f"Năm phải từ {calendar.MIN_YEAR} đến {calendar.MAX_YEAR}.")
    return year


@router.get("")
def calendar_page(
    request: Request, session: DbSession, year: int | None = None, actor: Actor = Depends(require(MANAGE))
) -> Response:
    """Lịch ngày nghỉ — the year's calendar, holidays and overrides, with the forms to edit them."""
    return _page(request, session, _year(year))


@router.post("/overrides")
def add_override(
    request: Request,
    session: DbSession,
    day: str = Form(""),
    kind: str = Form("off"),
    reason: str = Form(""),
    reference: str = Form(""),
    csrf_token: str = Form(""),
    actor: Actor = Depends(require(MANAGE)),
) -> Response:
    """Add or replace the override of one day from the form."""
    verify_csrf(request, csrf_token)
    form = {"day": day, "kind": kind, "reason": reason, "reference": reference}
    error = None
    try:
        parsed = date.fromisoformat(day.strip())
    except ValueError:
        parsed = None
        error = "Ngày không hợp lệ (định dạng YYYY-MM-DD)."
    if parsed is not None and not calendar.MIN_YEAR <= parsed.year <= calendar.MAX_YEAR:
        error = "Năm phải từ 1995 đến 2099."
    elif kind not in calendar.KINDS:
        error = "Loại ngày không hợp lệ."
    elif not reason.strip():
        error = "Lý do không được để trống."
    elif len(reason.strip()) > 300 or len(reference.strip()) > 200:
        error = "Lý do tối đa 300 ký tự, văn bản tối đa 200 ký tự."
    if error is not None or parsed is None:
        return _page(request, session, local_now().year, error=error, form=form, status=422)
    year = parsed.year
    try:
        calendar.set_override(session, actor=actor, day=parsed, kind=kind, reason=reason, reference=reference)
    except Problem as exc:
        session.rollback()
        status = exc.status if 400 <= exc.status < 500 else 400
        return _page(request, session, year, error=exc.detail or exc.title, form=form, status=status)
    return redirect(
        request, f"/admin/calendar?year={parsed.year}", message="Đã lưu ngày {day}.", day=parsed.strftime("%d/%m/%Y")
    )


@router.post("/overrides/{day}/delete")
def remove_override(
    day: date, request: Request, session: DbSession, csrf_token: str = Form(""), actor: Actor = Depends(require(MANAGE))
) -> Response:
    """Remove the override of ``day``: the day falls back to the legal rules."""
    verify_csrf(request, csrf_token)
    _year(day.year)
    calendar.delete_override(session, actor=actor, day=day)
    return redirect(
        request,
        f"/admin/calendar?year={day.year}",
        message="Đã xóa quyết định của ngày {day}.",
        day=day.strftime("%d/%m/%Y"),
    )


@router.post("/import")
def import_shipped(
    request: Request, session: DbSession, csrf_token: str = Form(""), actor: Actor = Depends(require(MANAGE))
) -> Response:
    """Load the decisions shipped with the platform (after an upgrade brings a new year's decisions)."""
    verify_csrf(request, csrf_token)
    changed = calendar.import_decisions(session, actor=actor)
    return redirect(request, "/admin/calendar", message="Đã nạp {n} quyết định đi kèm phần mềm.", n=changed)
