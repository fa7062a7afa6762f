"""Due dates and the Decision 766 classification (pure calculations, hypothesis properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from smartprovince.core import calendar
from smartprovince.procedures import timing

instants = st.datetimes(min_value=datetime(2023, 1, 1), max_value=datetime(2026, 12, 1)).map(
    lambda d: d.replace(tzinfo=UTC))


@settings(max_examples=150, deadline=None)
@given(received=instants, n=st.integers(min_value=1, max_value=30), cutoff=st.one_of(st.none(), st.integers(8, 17)))
def test_working_day_due_dates_follow_the_calendar(received, n, cutoff):
    due = timing.compute_due(received, n, "working_days", cutoff_hour=cutoff)
    assert due > received
    counted_from = calendar.effective_receipt_day(received, cutoff_hour=cutoff)
    assert calendar.working_days_between(counted_from, due) == n
    assert calendar.is_working_day(None, due.astimezone(timing.VN_TZ).date())


@settings(max_examples=150, deadline=None)
@given(received=instants, hours=st.integers(min_value=1, max_value=40))
def test_hour_limits_count_office_hours_only(received, hours):
    due = timing.compute_due(received, hours, "hours")
    assert calendar.working_time_between(received, due) == timedelta(hours=hours)


@settings(max_examples=150, deadline=None)
@given(due=instants, early_by=st.integers(min_value=-5 * 24 * 60, max_value=5 * 24 * 60),
       supplements=st.integers(min_value=0, max_value=3))
def test_classification_is_exhaustive_and_consistent(due, early_by, supplements):
    finished = due - timedelta(minutes=early_by)
    klass = timing.classify(due_at=due, finished_at=finished, supplement_requests=supplements,
                            at=max(due, finished) + timedelta(days=1))
    if supplements > 1 or finished > due:
        assert klass == timing.LATE
    elif finished.astimezone(timing.VN_TZ).date() < due.astimezone(timing.VN_TZ).date():
        assert klass == timing.EARLY
    else:
        assert klass == timing.ON_TIME
    open_klass = timing.classify(due_at=due, finished_at=None, supplement_requests=0, at=finished)
    assert open_klass == (timing.OPEN_OVERDUE if finished > due else timing.OPEN_WITHIN)


def test_supplement_wait_moves_the_due_date_by_working_days():
    due = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # Friday 17:00 local
    asked = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # Tuesday
    given_back = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # next Monday: 4 working days later
    new_due, days = timing.shift_for_supplement(due, asked, given_back)
    assert days == 4
    assert new_due == datetime(2026, 3, 12, 10, 0, tzinfo=UTC)  # Thursday 17:00 local
    assert timing.shift_for_supplement(due, asked, asked) == (due, 0)


def test_birth_registration_after_the_cutoff_counts_from_the_next_day():
    before = timing.compute_due(datetime(2026, 3, 2, 7, 0, tzinfo=UTC), 1, "working_days", cutoff_hour=15)  # 14:00
    after = timing.compute_due(datetime(2026, 3, 2, 8, 30, tzinfo=UTC), 1, "working_days", cutoff_hour=15)  # 15:30
    assert before == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert after == datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
