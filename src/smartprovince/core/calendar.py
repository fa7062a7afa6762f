"""Lịch ngày làm việc — the working-day calendar of Vietnamese public offices.

What is a working day (ngày làm việc)?

1. Saturday and Sunday are days off (weekly rest, Decree 45/2020 for public offices).
2. Public holidays of the Labour Code 2019, article 112, are days off: 1/1, Tết Nguyên Đán (the last
   day of the lunar year and the first days of the new one), Giỗ Tổ Hùng Vương (10/3 lunar), 30/4,
   1/5, 2/9 with one adjacent day (1/9 or 3/9), and the compensating day (nghỉ bù) when a holiday
   falls on a weekend. The ``holidays`` package computes these, including the lunar dates.
3. Every year the government decides extra days off (hoán đổi, Tết bridging days) and make-up
   working days (làm bù, e.g. a Saturday worked). These decisions live in the **override table**
   ``core_calendar_override``, which an administrator edits. An override always wins over rules 1
   and 2. The table is seeded from ``calendar_data/vn_decisions.json`` when the database is created.

Due dates (ngày hẹn trả) — the rule used by :func:`add_working_days`:

* Like article 147 of the Civil Code 2015, the day a dossier is received is **not** counted: day 1
  is the first working day after the day of receipt. A dossier received on a day off is counted the
  same way (day 1 = the first working day after it).
* With ``cutoff_hour`` (local time, Asia/Ho_Chi_Minh), a dossier received at or after that hour is
  treated as received on the next working day, so counting starts one working day later.
* The result is the **end of office hours** (17:00 by default) of the n-th working day. With
  ``n = 0`` it is the end of office hours of the day of receipt (or of the next working day when
  the receipt day is a day off or past the cutoff), and never earlier than the receipt itself.

:func:`working_days_between` counts the working days after the day of ``a`` up to and including
the day of ``b``; so ``working_days_between(t, add_working_days(t, n)) == n`` for every ``n >= 1``.

Reading the override table is cheap: the overrides of one year are read once and kept in memory
per database; an edit clears the cache (after commit and after rollback), and cached years expire
after :data:`CACHE_SECONDS` so that other processes see edits too.
"""

from __future__ import annotations

import json
import threading
import time as _time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import holidays as _holidays
from sqlalchemy import Date, String, delete, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince.core.clock import VN_TZ, now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.errors import NotFound, ValidationProblem
from smartprovince.core.ids import new_id

if TYPE_CHECKING:
    from smartprovince.core.db import Database
    from smartprovince.core.security import Actor

DATA_FILE = Path(__file__).resolve().parent / "calendar_data" / "vn_decisions.json"
MIN_YEAR = 1995  # the Labour Code rules the ``holidays`` package knows start here
MAX_YEAR = 2099  # the lunar calendar tables end here
MAX_RANGE_DAYS = 3 * 366  # longest range the read API lists or counts
CACHE_SECONDS = 60.0
KINDS = ("off", "working")


class CalendarRangeError(ValidationProblem, ValueError):
    """A date outside the years the calendar knows, or a bad argument (422 in the API)."""


# ---------------------------------------------------------------------------------------------
# Table


class CalendarOverride(Base):
    """Ngày nghỉ / ngày làm bù — one government decision about one day.

    ``kind`` is ``"off"`` (an extra day off, e.g. a swapped day) or ``"working"`` (a make-up working
    day, e.g. a Saturday worked). ``reason`` is shown to people (Vietnamese); ``reference`` names
    the decision (e.g. "Công văn 2450/VPCP-KGVX ngày 10/4/2024").
    """

    __tablename__ = "core_calendar_override"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    day: Mapped[date] = mapped_column(Date, unique=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(300))
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


# ---------------------------------------------------------------------------------------------
# Office hours


@dataclass(frozen=True)
class OfficeHours:
    """Giờ hành chính — the office periods of a working day, local time (default 7:30–11:30, 13:30–17:00)."""

    periods: tuple[tuple[time, time], ...] = ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 0)))

    def __post_init__(self) -> None:
        last = time(0, 0)
        for start, end in self.periods:
            if not (last <= start < end):
                raise ValueError("office periods must be in order and must not overlap")
            last = end

    @property
    def end(self) -> time:
        """When the office closes (end of the last period)."""
        return self.periods[-1][1]


DEFAULT_OFFICE_HOURS = OfficeHours()


# ---------------------------------------------------------------------------------------------
# What a day is


@dataclass(frozen=True)
class DayInfo:
    """One calendar day: is it a working day, and why.

    ``kind`` is ``working_day``, ``weekend``, ``holiday`` (public holiday by law),
    ``override_off`` (a government-decided day off) or ``override_working`` (a make-up working day).
    ``reason`` is Vietnamese, ``reason_en`` English (None when there is none).
    """

    day: date
    working: bool
    kind: str
    reason: str | None = None
    reason_en: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class _Override:
    kind: str
    reason: str
    reference: str | None


_WEEKDAY_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
_WEEKDAY_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _check_year(year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CalendarRangeError(f"The calendar covers the years {MIN_YEAR}–{MAX_YEAR}; {year} is outside.")


@lru_cache(maxsize=256)
def legal_holidays(year: int) -> dict[date, tuple[str, str]]:
    """Public holidays of ``year`` by the Labour Code (from the ``holidays`` package): day → (Vietnamese, English).

    This includes the compensating days (nghỉ bù) and the swaps the package already knows; the
    override table is applied on top by :func:`day_info`.
    """
    _check_year(year)
    vi = _holidays.country_holidays("VN", years=year, language="vi")
    en = _holidays.country_holidays("VN", years=year, language="en_US")
    return {d: (vi[d], en.get(d, vi[d])) for d in sorted(vi)}


# ---------------------------------------------------------------------------------------------
# Override cache


_lock = threading.Lock()
_cache: dict[tuple[str, int], tuple[float, dict[date, _Override]]] = {}
_bound: Database | None = None


def bind_database(db: Database | None) -> None:
    """Use ``db`` for the override table when a function is called without a session (app start-up does this)."""
    global _bound
    _bound = db
    clear_cache()


def bind_app(app: Any) -> None:
    """Start-up hook of the kernel: read overrides from the app's database."""
    bind_database(app.state.db)


def unbind_app(app: Any) -> None:
    """Shut-down hook of the kernel: stop using the app's database."""
    if _bound is app.state.db:
        bind_database(None)


def clear_cache() -> None:
    """Forget every cached year (after an edit, or in tests)."""
    with _lock:
        _cache.clear()


def _source_key(session: Session) -> str:
    # One cache per database: the engine's URL names it (a Connection bind leads to its Engine).
    return _engine_key(session.get_bind().engine)


def _engine_key(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _read_overrides(session: Session, year: int) -> dict[date, _Override]:
    rows = session.scalars(
        select(CalendarOverride).where(
            CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day <= date(year, 12, 31)
        )
    )
    return {r.day: _Override(r.kind, r.reason, r.reference) for r in rows}


@lru_cache(maxsize=1)
def shipped_decisions() -> tuple[dict[str, Any], ...]:
    """The government decisions shipped with the platform (``calendar_data/vn_decisions.json``)."""
    data = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    return tuple(data["days"])


def _seed_overrides(year: int) -> dict[date, _Override]:
    out: dict[date, _Override] = {}
    for row in shipped_decisions():
        d = date.fromisoformat(row["day"])
        if d.year == year:
            out[d] = _Override(row["kind"], row["reason"], row.get("reference"))
    return out


def _overrides(year: int, session: Session | None) -> dict[date, _Override]:
    """Overrides of ``year``: from ``session``'s database, else the bound database, else the shipped file."""
    bound = _bound
    if session is None and bound is None:
        return _seed_overrides(year)
    source = _source_key(session) if session is not None else _engine_key(bound.engine)  # type: ignore[union-attr]
    key = (source, year)
    with _lock:
        hit = _cache.get(key)
    if hit is not None and _time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    if session is not None:
        value = _read_overrides(session, year)
    else:
        with bound.session() as s:  # type: ignore[union-attr]
            value = _read_overrides(s, year)
    with _lock:
        _cache[key] = (_time.monotonic(), value)
    return value


# ---------------------------------------------------------------------------------------------
# Reading the calendar


def _resolve(day: date, ov: _Override | None) -> DayInfo:
    if ov is not None:
        if ov.kind == "working":
            return DayInfo(day, True, "override_working", ov.reason, None, ov.reference)
        return DayInfo(day, False, "override_off", ov.reason, None, ov.reference)
    holiday = legal_holidays(day.year).get(day)
    if holiday is not None:
        return DayInfo(day, False, "holiday", holiday[0], holiday[1])
    wd = day.weekday()
    if wd >= 5:
        return DayInfo(day, False, "weekend", _WEEKDAY_VI[wd], _WEEKDAY_EN[wd])
    return DayInfo(day, True, "working_day")


class _Lookup:
    """Answers :func:`day_info` for the many days of one call, fetching each year's overrides once."""

    def __init__(self, session: Session | None):
        self.session = session
        self.years: dict[int, dict[date, _Override]] = {}

    def _table(self, year: int) -> dict[date, _Override]:
        table = self.years.get(year)
        if table is None:
            _check_year(year)
            table = self.years[year] = _overrides(year, self.session)
        return table

    def __call__(self, day: date) -> DayInfo:
        return _resolve(day, self._table(day.year).get(day))

    def working(self, day: date) -> bool:
        # Same rule as _resolve, without building a DayInfo (this runs for every day of a range).
        ov = self._table(day.year).get(day)
        if ov is not None:
            return ov.kind == "working"
        return day.weekday() < 5 and day not in legal_holidays(day.year)

    def next_working(self, day: date) -> date:
        d = day
        for _ in range(3660):  # ten years: only a broken override table has no working day in that span
            d += timedelta(days=1)
            if self.working(d):
                return d
        raise CalendarRangeError(f"No working day within ten years after {day.isoformat()}.")


def day_info(day: date, *, session: Session | None = None) -> DayInfo:
    """What ``day`` is: working or not, and why (override first, then public holiday, then weekend)."""
    return _Lookup(session)(day)


def is_working_day(session_or_day: Session | date | None, day: date | None = None) -> bool:
    """Whether ``day`` is a working day (ngày làm việc).

    Call it as ``is_working_day(session, day)`` (reads the override table through ``session``),
    ``is_working_day(None, day)`` or simply ``is_working_day(day)`` (the bound database, or the
    shipped decisions when no database is bound).
    """
    if day is None:
        if not isinstance(session_or_day, date):
            raise TypeError("is_working_day needs a date")
        return day_info(session_or_day).working
    session = session_or_day if isinstance(session_or_day, Session) else None
    return day_info(day, session=session).working


def calendar_days(first: date, last: date, *, session: Session | None = None) -> list[DayInfo]:
    """Every day from ``first`` to ``last`` (both included), with whether it is a working day."""
    if last < first:
        raise CalendarRangeError("The end date is before the start date.")
    look = _Lookup(session)
    return [look(d) for d in _dates(first, last)]


def _dates(first: date, last: date) -> Iterator[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def next_working_day(day: date, *, session: Session | None = None) -> date:
    """The first working day strictly after ``day``."""
    return _Lookup(session).next_working(day)


def _local(instant: datetime, name: str) -> datetime:
    if instant.tzinfo is None:
        raise CalendarRangeError(f"'{name}' must carry a time zone (e.g. +07:00).")
    _check_year(instant.year)
    local = instant.astimezone(VN_TZ)
    _check_year(local.year)
    return local


def _receipt_day(start: datetime, cutoff_hour: int | None, look: _Lookup) -> date:
    if cutoff_hour is not None and not 0 <= cutoff_hour <= 23:
        raise CalendarRangeError("'cutoff_hour' must be between 0 and 23.")
    local = _local(start, "start")
    received = local.date()
    if cutoff_hour is not None and local.hour >= cutoff_hour:
        received = look.next_working(received)
    return received


def effective_receipt_day(start: datetime, *, cutoff_hour: int | None = None, session: Session | None = None) -> date:
    """The day a receipt counts from: its local date, or the next working day when received at/after ``cutoff_hour``."""
    return _receipt_day(start, cutoff_hour, _Lookup(session))


def add_working_days(
    start: datetime,
    n: int,
    *,
    cutoff_hour: int | None = None,
    session: Session | None = None,
    office: OfficeHours = DEFAULT_OFFICE_HOURS,
) -> datetime:
    """Ngày hẹn trả — the due instant ``n`` working days after ``start`` (aware, UTC).

    Day 1 is the first working day after the day of receipt; the result is the end of office hours
    (17:00 local by default) of the n-th working day. A receipt at or after ``cutoff_hour`` (local
    hour, 0–23) counts as received on the next working day. See the module docstring for the full
    rule. ``start`` must be timezone-aware; ``n`` must be 0 or more.
    """
    if n < 0:
        raise CalendarRangeError("'n' (number of working days) must be 0 or more.")
    look = _Lookup(session)
    received = _receipt_day(start, cutoff_hour, look)
    if n == 0:
        due = received if look.working(received) else look.next_working(received)
    else:
        due = received
        for _ in range(n):
            due = look.next_working(due)
    result = datetime.combine(due, office.end, tzinfo=VN_TZ).astimezone(UTC)
    return max(result, start.astimezone(UTC))


def working_days_between(a: datetime | date, b: datetime | date, *, session: Session | None = None) -> int:
    """Count the working days after the (local) day of ``a`` up to and including the day of ``b``.

    Negative when ``b`` is before ``a``. Dates may be given as ``date`` or as aware ``datetime``.
    Example: received Monday, finished Wednesday of the same normal week → 2.
    """
    da = _local(a, "a").date() if isinstance(a, datetime) else a
    db = _local(b, "b").date() if isinstance(b, datetime) else b
    _check_year(da.year)
    _check_year(db.year)
    sign = 1
    if db < da:
        da, db, sign = db, da, -1
    look = _Lookup(session)
    return sign * sum(1 for d in _dates(da + timedelta(days=1), db) if look.working(d))


def working_time_between(
    a: datetime, b: datetime, *, session: Session | None = None, office: OfficeHours = DEFAULT_OFFICE_HOURS
) -> timedelta:
    """Office time (giờ hành chính) on working days between two instants; negative when ``b`` is before ``a``."""
    la, lb = _local(a, "a"), _local(b, "b")
    if lb < la:
        return -working_time_between(b, a, session=session, office=office)
    look = _Lookup(session)
    total = timedelta()
    for d in _dates(la.date(), lb.date()):
        if not look.working(d):
            continue
        for p_start, p_end in office.periods:
            lo = max(la, datetime.combine(d, p_start, tzinfo=VN_TZ))
            hi = min(lb, datetime.combine(d, p_end, tzinfo=VN_TZ))
            if hi > lo:
                total += hi - lo
    return total


# ---------------------------------------------------------------------------------------------
# Editing the override table (service functions)


def list_overrides(session: Session, *, year: int | None = None) -> list[CalendarOverride]:
    """The override table, ordered by day; only ``year`` when given."""
    stmt = select(CalendarOverride).order_by(CalendarOverride.day)
    if year is not None:
        _check_year(year)
        stmt = stmt.where(CalendarOverride.day >= date(year, 1, 1), CalendarOverride.day <= date(year, 12, 31))
    return list(session.scalars(stmt))


def _invalidate_on_end(session: Session) -> None:
    clear_cache()
    for name in ("after_commit", "after_rollback"):
        if not event.contains(session, name, _clear_after):
            event.listen(session, name, _clear_after, once=True)


def _clear_after(_session: Session) -> None:
    clear_cache()


def _begin_write(session: Session) -> None:
    # SQLite: take the write lock before reading, so a concurrent commit makes us wait, not fail.
    from smartprovince.core.bus import begin_write

    begin_write(session)


def _announce(session: Session, *, actor: Actor, action: str, row: CalendarOverride) -> None:
    """Audit row and event for an edit, in the caller's transaction."""
    data = {"day": row.day.isoformat(), "kind": row.kind, "reason": row.reason, "reference": row.reference}
    from smartprovince.core import audit, bus

    audit.record(
        session,
        actor=actor,
        action=f"core.calendar_override.{action}",
        object_type="calendar_override",
        object_id=row.day.isoformat(),
        data=data,
    )
    bus.publish(session, f"core.calendar_override.{action}", data, key=row.day.isoformat())


def set_override(
    session: Session, *, actor: Actor, day: date, kind: str, reason: str, reference: str | None = None
) -> CalendarOverride:
    """Create or replace the override of ``day`` (one row per day); writes an audit row and an event.

    ``kind`` is ``"off"`` (extra day off) or ``"working"`` (make-up working day); ``reason`` is a
    short Vietnamese text shown to people (1–300 characters).
    """
    _check_year(day.year)
    if kind not in KINDS:
        raise ValidationProblem("'kind' must be 'off' or 'working'.")
    reason = (reason or "").strip()
    if not 1 <= len(reason) <= 300:
        raise ValidationProblem("'reason' must have 1 to 300 characters.")
    reference = (reference or "").strip() or None
    if reference is not None and len(reference) > 200:
        raise ValidationProblem("'reference' must have at most 200 characters.")
    _begin_write(session)
    row = session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    action = "updated" if row is not None else "created"
    if row is None:
        row = CalendarOverride(id=new_id(), day=day)
        session.add(row)
    row.kind, row.reason, row.reference = kind, reason, reference
    row.updated_at = now()
    row.updated_by = actor.id or actor.username
    session.flush()
    _announce(session, actor=actor, action=action, row=row)
    _invalidate_on_end(session)
    return row


def delete_override(session: Session, *, actor: Actor, day: date) -> None:
    """Remove the override of ``day`` (the day falls back to the legal rules); audit row and event."""
    _begin_write(session)
    row = session.scalar(select(CalendarOverride).where(CalendarOverride.day == day))
    if row is None:
        raise NotFound(f"No calendar override on {day.isoformat()}.")
    _announce(session, actor=actor, action="deleted", row=row)
    session.execute(delete(CalendarOverride).where(CalendarOverride.id == row.id))
    _invalidate_on_end(session)


def import_decisions(session: Session, *, actor: Actor, days: list[dict[str, Any]] | None = None) -> int:
    """Load government decisions into the override table (default: the shipped ``vn_decisions.json``).

    Each item has ``day`` (YYYY-MM-DD), ``kind``, ``reason`` and optionally ``reference``. A day that
    already has exactly the same decision is left alone; a different one is replaced. Returns how
    many days were created or changed. Use it after an upgrade ships the decisions of a new year.
    """
    items = list(shipped_decisions()) if days is None else days
    existing = {r.day: r for r in list_overrides(session)}
    changed = 0
    for item in items:
        try:
            day = date.fromisoformat(str(item["day"]))
        except (KeyError, ValueError) as exc:
            raise ValidationProblem(f"Bad decision item {item!r}: 'day' must be YYYY-MM-DD.") from exc
        row = existing.get(day)
        reference = (item.get("reference") or "").strip() or None
        if row is not None and (row.kind, row.reason, row.reference) == (
            item.get("kind"),
            item.get("reason"),
            reference,
        ):
            continue
        set_override(
            session,
            actor=actor,
            day=day,
            kind=str(item.get("kind")),
            reason=str(item.get("reason") or ""),
            reference=reference,
        )
        changed += 1
    return changed
