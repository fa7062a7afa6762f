"""HTTP API of the working-day calendar (lịch ngày làm việc), under ``/api/v1/calendar``.

Reading is public (the government's calendar is public information); editing the override table
needs the permission ``core.calendar.manage``. Instants without a time zone are read as Vietnam's
local time (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from smartprovince.core import calendar
from smartprovince.core.clock import VN_TZ
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import BadRequest
from smartprovince.core.security import Actor, public, require

router = APIRouter(prefix="/calendar", tags=["calendar"])

PUBLIC_REASON = "The working-day calendar and the government's holiday decisions are public information."
MANAGE = "core.calendar.manage"


class CalendarDay(BaseModel):
    """One day of the calendar."""

    date: date
    working: bool = Field(description="True when public offices work on this day.")
    kind: Literal["working_day", "weekend", "holiday", "override_off", "override_working"]
    reason: str | None = Field(None, description="Why (Vietnamese): holiday name, weekday, or the decision's text.")
    reason_en: str | None = Field(None, description="Why, in English, when known.")
    reference: str | None = Field(None, description="The government decision, for override days.")


class CalendarDayList(BaseModel):
    """Days of a range, in order."""

    items: list[CalendarDay]
    working_days: int = Field(description="How many of the listed days are working days.")


class DueDate(BaseModel):
    """Answer of ``working-days/add``: the due instant (ngày hẹn trả)."""

    start: datetime
    days: int
    cutoff_hour: int | None
    due_at: datetime = Field(description="End of office hours of the last working day, in UTC.")
    due_at_local: datetime = Field(description="The same instant in Vietnam's time (+07:00).")
    due_date: date = Field(description="The due day (local).")


class Between(BaseModel):
    """Answer of ``working-days/between``."""

    start: datetime
    end: datetime
    working_days: int = Field(description="Working days after the day of start up to and including the day of end.")
    working_hours: float = Field(
        description="Office hours (7:30–11:30, 13:30–17:00) on working days between the two instants."
    )


class OverrideIn(BaseModel):
    """A government decision about one day: ``off`` (extra day off) or ``working`` (make-up working day)."""

    day: date
    kind: Literal["off", "working"]
    reason: str = Field(min_length=1, max_length=300, description="Short Vietnamese text shown to people.")
    reference: str | None = Field(None, max_length=200, description="The decision, e.g. 'Công văn 2450/VPCP-KGVX'.")


class OverrideOut(BaseModel):
    """One row of the override table."""

    day: date
    kind: Literal["off", "working"]
    reason: str
    reference: str | None
    updated_at: datetime
    updated_by: str | None


class OverrideList(BaseModel):
    items: list[OverrideOut]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=VN_TZ)


def _check_span(first: date, last: date) -> None:
    if abs((last - first).days) > calendar.MAX_RANGE_DAYS:
        raise BadRequest(f"The range is longer than 3 years ({calendar.MAX_RANGE_DAYS} days); ask for a shorter one.")


def _day(d: calendar.DayInfo) -> CalendarDay:
    return CalendarDay(
        date=d.day,
        working=d.working,
        kind=d.kind,
        reason=d.reason,
        reason_en=d.reason_en,  # type: ignore[arg-type]
        reference=d.reference,
    )


def _override(row: calendar.CalendarOverride) -> OverrideOut:
    return OverrideOut(
        day=row.day,
        kind=row.kind,
        reason=row.reason,
        reference=row.reference,  # type: ignore[arg-type]
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


@router.get("/days", response_model=CalendarDayList, summary="List days with whether each is a working day")
def list_days(
    session: DbSession,
    first: Annotated[date, Query(alias="from", description="First day (YYYY-MM-DD).")],
    last: Annotated[
        date, Query(alias="to", description="Last day, included (YYYY-MM-DD); at most 3 years after 'from'.")
    ],
    _actor: Actor = Depends(public(PUBLIC_REASON)),
) -> CalendarDayList:
    if last < first:
        raise BadRequest("'to' is before 'from'.")
    _check_span(first, last)
    days = calendar.calendar_days(first, last, session=session)
    return CalendarDayList(items=[_day(d) for d in days], working_days=sum(1 for d in days if d.working))


@router.get("/working-days/add", response_model=DueDate, summary="Due date: add N working days to an instant")
def add_days(
    session: DbSession,
    start: Annotated[datetime, Query(description="When the dossier was received (ISO 8601; no zone = Vietnam time).")],
    days: Annotated[int, Query(ge=0, le=750, description="Number of working days (0–750).")],
    cutoff_hour: Annotated[
        int | None, Query(ge=0, le=23, description="Receipts at/after this local hour count from the next working day.")
    ] = None,
    _actor: Actor = Depends(public(PUBLIC_REASON)),
) -> DueDate:
    start = _aware(start)
    due = calendar.add_working_days(start, days, cutoff_hour=cutoff_hour, session=session)
    local = due.astimezone(VN_TZ)
    return DueDate(
        start=start, days=days, cutoff_hour=cutoff_hour, due_at=due, due_at_local=local, due_date=local.date()
    )


@router.get(
    "/working-days/between", response_model=Between, summary="Count working days and office hours between two instants"
)
def between(
    session: DbSession,
    start: Annotated[datetime, Query(description="First instant (ISO 8601; no zone = Vietnam time).")],
    end: Annotated[datetime, Query(description="Second instant; at most 3 years from 'start'.")],
    _actor: Actor = Depends(public(PUBLIC_REASON)),
) -> Between:
    start, end = _aware(start), _aware(end)
    calendar.working_days_between(start, start, session=session)  # checks the years before any arithmetic
    calendar.working_days_between(end, end, session=session)
    _check_span(start.astimezone(VN_TZ).date(), end.astimezone(VN_TZ).date())
    n = calendar.working_days_between(start, end, session=session)
    hours = calendar.working_time_between(start, end, session=session) / timedelta(hours=1)
    return Between(start=start, end=end, working_days=n, working_hours=round(hours, 4))


@router.get(
    "/overrides", response_model=OverrideList, summary="The table of government-decided days off and make-up days"
)
def list_overrides(
    session: DbSession,
    year: Annotated[
        int | None, Query(ge=calendar.MIN_YEAR, le=calendar.MAX_YEAR, description="Only this year.")
    ] = None,
    _actor: Actor = Depends(public(PUBLIC_REASON)),
) -> OverrideList:
    return OverrideList(items=[_override(r) for r in calendar.list_overrides(session, year=year)])


@router.post("/overrides", response_model=OverrideOut, status_code=201, summary="Add or replace the override of a day")
def put_override(session: DbSession, body: OverrideIn, actor: Actor = Depends(require(MANAGE))) -> OverrideOut:
    row = calendar.set_override(
        session, actor=actor, day=body.day, kind=body.kind, reason=body.reason, reference=body.reference
    )
    return _override(row)


@router.delete("/overrides/{day}", status_code=204, summary="Remove the override of a day")
def remove_override(session: DbSession, day: date, actor: Actor = Depends(require(MANAGE))) -> Response:
    calendar.delete_override(session, actor=actor, day=day)
    return Response(status_code=204)
