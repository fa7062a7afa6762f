"""Property tests of the calculations: cell conversion and the four quality scores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from smartprovince.datahub import quality
from smartprovince.datahub.fields import CellError, FieldDef, convert, normalise_text

INT = FieldDef(name="n", title="N", type="integer", minimum=-1000, maximum=1000)
DATE = FieldDef(name="d", title="D", type="date")


@given(st.integers(-1000, 1000))
def test_integers_round_trip_through_text(n: int) -> None:
    assert convert(INT, str(n)) == n
    assert convert(INT, f"  {n} ") == n


@given(st.integers().filter(lambda n: abs(n) > 1000))
def test_integers_outside_the_range_are_refused(n: int) -> None:
    try:
        convert(INT, str(n))
    except CellError as exc:
        assert exc.code in ("out_of_range", "bad_type")
    else:
        raise AssertionError("accepted")


@given(st.dates(min_value=date(1000, 1, 1)))
def test_both_date_orders_give_the_same_day(d: date) -> None:
    assert convert(DATE, d.isoformat()) == d.isoformat()
    assert convert(DATE, f"{d.day:02d}/{d.month:02d}/{d.year:04d}") == d.isoformat()


@given(st.text(max_size=50))
def test_normalising_twice_changes_nothing(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    assert once == once.strip()


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 10_000),
       st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 3000),
       st.sampled_from(sorted(quality.FREQUENCY_DAYS)))
def test_scores_stay_between_0_and_100(total, valid, filled, cells, dup, norm, age_days, freq) -> None:  # type: ignore[no-untyped-def]
    at = datetime(2026, 1, 1, tzinfo=UTC)
    s = quality.compute(total_rows=total, valid_rows=min(valid, total), filled_cells=min(filled, cells),
                        total_cells=cells, duplicate_rows=min(dup, total), normalised_cells=min(norm, cells),
                        text_cells=cells, last_update=at - timedelta(days=age_days), at=at, frequency=freq)
    for v in (s.correct, s.complete, s.clean, s.live, s.overall):
        assert 0 <= v <= 100


@given(st.integers(0, 800), st.integers(0, 800), st.sampled_from(sorted(quality.FREQUENCY_DAYS)))
def test_live_score_never_rises_with_age(a: int, b: int, freq: str) -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    younger, older = sorted((a, b))
    assert quality.live_score(at - timedelta(days=younger), at, freq) >= quality.live_score(
        at - timedelta(days=older), at, freq)
