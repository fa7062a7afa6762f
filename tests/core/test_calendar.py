"""Working-day calendar: known Vietnamese dates, the due-date rule, and the override table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from smartprovince.core import calendar
from smartprovince.core.calendar import (
    CalendarRangeError,
    add_working_days,
    calendar_days,
    day_info,
    is_working_day,
    working_days_between,
    working_time_between,
)
from smartprovince.core.clock import VN_TZ
from smartprovince.core.errors import NotFound, ValidationProblem
from smartprovince.core.security import SYSTEM


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN_TZ)  # type: ignore[misc]


@pytest.fixture(autouse=True)
def _fresh_cache():
    calendar.bind_database(None)
    yield
    calendar.bind_database(None)


def off_days(first: date, last: date) -> list[date]:
    return [d.day for d in calendar_days(first, last) if not d.working]


# ------------------------------------------------------------------ known dates


def test_tet_2025_is_nine_days_off_from_25_january_to_2_february():
    assert off_days(date(2025, 1, 24), date(2025, 2, 3)) == [date(2025, 1, 25) + timedelta(days=i) for i in range(9)]
    assert is_working_day(date(2025, 1, 24)) and is_working_day(date(2025, 2, 3))
    assert day_info(date(2025, 1, 29)).reason == "Tết Nguyên Đán"
    assert day_info(date(2025, 1, 27)).kind == "override_off"  # the compensating day, decided by the government


def test_tet_2026_is_nine_days_off_from_14_to_22_february():
    assert off_days(date(2026, 2, 13), date(2026, 2, 23)) == [date(2026, 2, 14) + timedelta(days=i) for i in range(9)]
    assert day_info(date(2026, 2, 17)).kind == "holiday"


def test_hung_kings_day_is_a_lunar_date_with_a_compensating_day_when_on_sunday():
    assert not is_working_day(date(2025, 4, 7))  # 10/3 Ất Tỵ, a Monday
    assert day_info(date(2025, 4, 7)).reason == "Ngày Giỗ Tổ Hùng Vương"
    assert day_info(date(2026, 4, 26)).kind == "weekend" or not is_working_day(date(2026, 4, 26))
    assert not is_working_day(date(2026, 4, 27))  # 2026: 10/3 lunar is a Sunday → Monday off


def test_30_april_2025_swap_friday_off_and_saturday_26_april_worked():
    assert is_working_day(date(2025, 4, 26))  # Saturday, make-up day
    assert day_info(date(2025, 4, 26)).kind == "override_working"
    assert off_days(date(2025, 4, 28), date(2025, 5, 5)) == [
        date(2025, 4, 30),
        date(2025, 5, 1),
        date(2025, 5, 2),
        date(2025, 5, 3),
        date(2025, 5, 4),
    ]


def test_national_day_2025_with_monday_1_september():
    assert off_days(date(2025, 8, 29), date(2025, 9, 3)) == [
        date(2025, 8, 30),
        date(2025, 8, 31),
        date(2025, 9, 1),
        date(2025, 9, 2),
    ]


def test_national_day_2026_with_tuesday_1_september_and_the_swap_of_31_august():
    assert off_days(date(2026, 8, 28), date(2026, 9, 3)) == [
        date(2026, 8, 29),
        date(2026, 8, 30),
        date(2026, 8, 31),
        date(2026, 9, 1),
        date(2026, 9, 2),
    ]
    assert is_working_day(date(2026, 8, 22))  # Saturday worked


def test_new_year_2026_swap_is_carried_by_our_table_not_by_the_holidays_package():
    assert date(2026, 1, 2) not in calendar.legal_holidays(2026)
    assert not is_working_day(date(2026, 1, 2))
    assert is_working_day(date(2026, 1, 10))


def test_is_working_day_accepts_the_contract_form_with_a_session_first():
    assert is_working_day(None, date(2025, 5, 2)) is False
    assert is_working_day(None, date(2025, 5, 5)) is True


# ------------------------------------------------------------------ due dates


def test_receipt_day_is_not_counted():
    # Monday 9:00 + 3 working days → Thursday at the end of office hours.
    due = add_working_days(local(2025, 3, 10, 9, 0), 3)
    assert due.astimezone(VN_TZ) == local(2025, 3, 13, 17, 0)
    assert due.tzinfo is UTC


def test_due_date_skips_tet_and_weekends():
    due = add_working_days(local(2025, 1, 24, 10, 0), 1)  # Friday before Tết
    assert due.astimezone(VN_TZ).date() == date(2025, 2, 3)


def test_due_date_lands_on_the_make_up_saturday():
    assert add_working_days(local(2025, 4, 25, 10, 0), 1).astimezone(VN_TZ).date() == date(2025, 4, 26)


def test_cutoff_hour_moves_a_late_receipt_to_the_next_working_day():
    before = add_working_days(local(2025, 3, 10, 15, 59), 2, cutoff_hour=16)
    after = add_working_days(local(2025, 3, 10, 16, 0), 2, cutoff_hour=16)
    assert before.astimezone(VN_TZ).date() == date(2025, 3, 12)
    assert after.astimezone(VN_TZ).date() == date(2025, 3, 13)
    friday_late = add_working_days(local(2025, 3, 14, 16, 30), 1, cutoff_hour=16)
    assert friday_late.astimezone(VN_TZ).date() == date(2025, 3, 18)  # counts from Monday


def test_zero_days_is_the_same_day_but_never_before_the_receipt():
    assert add_working_days(local(2025, 3, 10, 9, 0), 0) == local(2025, 3, 10, 17, 0)
    late = local(2025, 3, 10, 19, 0)
    assert add_working_days(late, 0) == late
    assert add_working_days(local(2025, 3, 15, 9, 0), 0) == local(2025, 3, 17, 17, 0)  # Saturday → Monday


def test_bad_arguments_are_refused():
    with pytest.raises(CalendarRangeError):
        add_working_days(datetime(2025, 3, 10, 9, 0), 1)  # noqa: DTZ001 - a naive datetime is the error
    with pytest.raises(ValueError):
        add_working_days(local(2025, 3, 10, 9), -1)
    with pytest.raises(ValueError):
        add_working_days(local(2025, 3, 10, 9), 1, cutoff_hour=24)
    with pytest.raises(ValueError):
        is_working_day(date(2150, 1, 1))


# ------------------------------------------------------------------ counting


def test_working_days_between_counts_after_the_first_day_up_to_the_last():
    assert working_days_between(local(2025, 3, 10, 9), local(2025, 3, 12, 9)) == 2
    assert working_days_between(local(2025, 3, 12, 9), local(2025, 3, 10, 9)) == -2
    assert working_days_between(date(2025, 1, 24), date(2025, 2, 3)) == 1
    assert working_days_between(date(2025, 1, 1), date(2025, 12, 31)) == 250  # 261 weekdays − 12 days off + 1 Saturday


def test_working_time_between_counts_office_hours_only():
    assert working_time_between(local(2025, 3, 10, 7, 30), local(2025, 3, 10, 17, 0)) == timedelta(hours=7, minutes=30)
    assert working_time_between(local(2025, 3, 10, 11, 0), local(2025, 3, 10, 14, 0)) == timedelta(hours=1)
    # Friday 16:00 → Monday 8:30: one hour on Friday, one on Monday; the weekend counts nothing.
    assert working_time_between(local(2025, 3, 14, 16, 0), local(2025, 3, 17, 8, 30)) == timedelta(hours=2)
    assert working_time_between(local(2025, 3, 17, 8, 30), local(2025, 3, 14, 16, 0)) == -timedelta(hours=2)


# ------------------------------------------------------------------ override table


def test_migration_seeds_the_shipped_decisions(database):
    with database.session() as s:
        rows = calendar.list_overrides(s, year=2025)
    assert {(r.day, r.kind) for r in rows} >= {(date(2025, 5, 2), "off"), (date(2025, 4, 26), "working")}
    with database.session() as s:
        assert len(calendar.list_overrides(s)) == len(calendar.shipped_decisions())


def test_an_override_changes_the_calendar_at_once_and_its_removal_restores_it(database):
    calendar.bind_database(database)
    day = date(2027, 3, 12)  # an ordinary Friday
    assert is_working_day(day)
    with database.session() as s:
        calendar.set_override(s, actor=SYSTEM, day=day, kind="off", reason="Nghỉ thử nghiệm")
    assert not is_working_day(day)
    info = day_info(day)
    assert (info.kind, info.reason) == ("override_off", "Nghỉ thử nghiệm")
    with database.session() as s:
        assert not is_working_day(s, day)
        calendar.delete_override(s, actor=SYSTEM, day=day)
    assert is_working_day(day)


def test_an_override_can_cancel_a_legal_holiday_and_replacing_it_updates_one_row(database):
    calendar.bind_database(database)
    with database.session() as s:
        calendar.set_override(s, actor=SYSTEM, day=date(2027, 9, 3), kind="working", reason="Chọn nghỉ 01/09")
        calendar.set_override(s, actor=SYSTEM, day=date(2027, 9, 3), kind="working", reason="Chọn nghỉ 01/09/2027")
    assert is_working_day(date(2027, 9, 3))
    with database.session() as s:
        assert [r.reason for r in calendar.list_overrides(s, year=2027)] == ["Chọn nghỉ 01/09/2027"]


def test_a_rolled_back_edit_leaves_nothing_behind(database):
    calendar.bind_database(database)
    day = date(2027, 3, 12)
    with pytest.raises(RuntimeError), database.session() as s:
        calendar.set_override(s, actor=SYSTEM, day=day, kind="off", reason="Sẽ bị huỷ")
        assert not is_working_day(s, day)
        raise RuntimeError("abort")
    assert is_working_day(day)


def test_bad_overrides_are_refused(database):
    with database.session() as s:
        with pytest.raises(ValidationProblem):
            calendar.set_override(s, actor=SYSTEM, day=date(2027, 1, 4), kind="holiday", reason="x")
        with pytest.raises(ValidationProblem):
            calendar.set_override(s, actor=SYSTEM, day=date(2027, 1, 4), kind="off", reason="   ")
        with pytest.raises(NotFound):
            calendar.delete_override(s, actor=SYSTEM, day=date(2027, 1, 4))


def test_overrides_are_read_once_per_year(database, monkeypatch):
    calendar.bind_database(database)
    calls = []
    real = calendar._read_overrides
    monkeypatch.setattr(calendar, "_read_overrides", lambda s, y: calls.append(y) or real(s, y))
    working_days_between(date(2025, 1, 1), date(2025, 12, 31))
    working_days_between(date(2025, 1, 1), date(2025, 12, 31))
    assert calls == [2025]


def test_each_edit_writes_an_audit_row_and_an_event_in_the_same_transaction(database):
    from sqlalchemy import select

    from smartprovince.core.audit import AuditEntry
    from smartprovince.core.bus import OutboxEvent

    with database.session() as s:
        calendar.set_override(s, actor=SYSTEM, day=date(2027, 3, 12), kind="off", reason="Nghỉ")
        calendar.delete_override(s, actor=SYSTEM, day=date(2027, 3, 12))
    with pytest.raises(RuntimeError), database.session() as s:
        calendar.set_override(s, actor=SYSTEM, day=date(2027, 3, 13), kind="working", reason="Huỷ")
        raise RuntimeError("abort")
    with database.session() as s:
        actions = [(e.action, e.object_id) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        topics = [e.topic for e in s.scalars(select(OutboxEvent).where(OutboxEvent.topic.like("core.calendar%")))]
    assert actions[-2:] == [
        ("core.calendar_override.created", "2027-03-12"),
        ("core.calendar_override.deleted", "2027-03-12"),
    ]
    assert sorted(topics) == ["core.calendar_override.created", "core.calendar_override.deleted"]


def test_importing_the_shipped_decisions_restores_deleted_ones_and_keeps_the_rest(database):
    with database.session() as s:
        assert calendar.import_decisions(s, actor=SYSTEM) == 0  # the migration already loaded them
        calendar.delete_override(s, actor=SYSTEM, day=date(2025, 5, 2))
        calendar.set_override(s, actor=SYSTEM, day=date(2025, 4, 26), kind="working", reason="Sửa tay")
    with database.session() as s:
        assert calendar.import_decisions(s, actor=SYSTEM) == 2
    with database.session() as s:
        rows = {r.day: r for r in calendar.list_overrides(s, year=2025)}
    assert rows[date(2025, 5, 2)].kind == "off"
    assert rows[date(2025, 4, 26)].reason == "Làm bù cho ngày nghỉ thứ Sáu 02/05/2025"


def test_importing_a_new_year(database):
    new_year = [
        {"day": "2027-02-05", "kind": "off", "reason": "Nghỉ Tết Đinh Mùi", "reference": "QĐ thử"},
        {"day": "2027-02-20", "kind": "working", "reason": "Làm bù"},
    ]
    with database.session() as s:
        assert calendar.import_decisions(s, actor=SYSTEM, days=new_year) == 2
        assert not is_working_day(s, date(2027, 2, 5))
        assert is_working_day(s, date(2027, 2, 20))
        with pytest.raises(ValidationProblem):
            calendar.import_decisions(s, actor=SYSTEM, days=[{"day": "05/02/2027", "kind": "off", "reason": "x"}])
