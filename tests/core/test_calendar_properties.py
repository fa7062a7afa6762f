"""Property tests (hypothesis) of the working-day calendar: the due-date rule holds for any instant and any N."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smartprovince.core import calendar
from smartprovince.core.calendar import (
    _Override,
    add_working_days,
    day_info,
    is_working_day,
    working_days_between,
    working_time_between,
)
from smartprovince.core.clock import VN_TZ


@pytest.fixture(autouse=True)
def _unbound():
    calendar.bind_database(None)
    yield
    calendar.bind_database(None)


instants = st.datetimes(
    min_value=datetime(2023, 1, 1),
    max_value=datetime(2027, 6, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
)
counts = st.integers(min_value=1, max_value=120)


@settings(max_examples=300, deadline=None)
@given(start=instants, n=counts)
def test_due_date_is_a_working_day_at_the_end_of_office_hours(start, n):
    due = add_working_days(start, n).astimezone(VN_TZ)
    assert is_working_day(due.date())
    assert (due.hour, due.minute) == (17, 0)
    assert due > start


@settings(max_examples=300, deadline=None)
@given(start=instants, n=counts)
def test_counting_back_gives_n(start, n):
    assert working_days_between(start, add_working_days(start, n)) == n


@settings(max_examples=200, deadline=None)
@given(start=instants, n=st.integers(min_value=0, max_value=100), extra=st.integers(min_value=1, max_value=20))
def test_more_days_never_gives_an_earlier_due_date(start, n, extra):
    assert add_working_days(start, n) <= add_working_days(start, n + extra)
    if n >= 1:  # with n = 0 a receipt on a day off is due on the same day as with n = 1
        assert add_working_days(start, n) < add_working_days(start, n + extra)


@settings(max_examples=200, deadline=None)
@given(start=instants, n=counts, cutoff=st.integers(min_value=0, max_value=23))
def test_a_receipt_after_the_cutoff_counts_one_working_day_later(start, n, cutoff):
    local = start.astimezone(VN_TZ)
    with_cutoff = add_working_days(start, n, cutoff_hour=cutoff)
    if local.hour >= cutoff:
        assert with_cutoff == add_working_days(start, n + 1) or not is_working_day(local.date())
        effective = calendar.next_working_day(local.date())
        assert working_days_between(effective, with_cutoff) == n
    else:
        assert with_cutoff == add_working_days(start, n)


@settings(max_examples=200, deadline=None)
@given(a=instants, b=instants, c=instants)
def test_counting_is_additive_and_antisymmetric(a, b, c):
    assert working_days_between(a, b) == -working_days_between(b, a)
    assert working_days_between(a, b) + working_days_between(b, c) == working_days_between(a, c)


@settings(max_examples=100, deadline=None)
@given(a=instants, hours=st.integers(min_value=0, max_value=24 * 20))
def test_office_time_is_never_more_than_the_elapsed_time(a, hours):
    b = a + timedelta(hours=hours)
    spent = working_time_between(a, b)
    assert timedelta(0) <= spent <= b - a


days_2027 = st.dates(min_value=date(2027, 1, 1), max_value=date(2027, 12, 31))
tables = st.dictionaries(days_2027, st.sampled_from(["off", "working"]), min_size=1, max_size=30)


@contextmanager
def overrides_of_2027(table):
    """Replace the (unbound) override table of 2027 only."""
    original = calendar._seed_overrides
    calendar._seed_overrides = lambda year: (
        {d: _Override(k, "Quyết định thử", None) for d, k in table.items()} if year == 2027 else original(year)
    )
    try:
        yield
    finally:
        calendar._seed_overrides = original


@settings(max_examples=200, deadline=None)
@given(table=tables, start=instants, n=counts)
def test_overrides_are_respected(table, start, n):
    with overrides_of_2027(table):
        for day, kind in table.items():
            info = day_info(day)
            assert info.working is (kind == "working")
            assert info.kind == f"override_{kind}"
        assume(start.astimezone(VN_TZ).year >= 2026)
        due = add_working_days(start, n)
        due_day = due.astimezone(VN_TZ).date()
        assert is_working_day(due_day)
        assert table.get(due_day) != "off"
        assert working_days_between(start, due) == n


@settings(max_examples=300, deadline=None)
@given(day=st.dates(min_value=date(1995, 1, 1), max_value=date(2099, 12, 31)))
def test_the_fast_working_check_agrees_with_day_info(day):
    assert calendar._Lookup(None).working(day) is day_info(day).working
