"""VN_AQI (Decision 1459/QĐ-TCMT): known values from the breakpoint table, NowCast, and properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartprovince.sensing import aqi


@pytest.mark.parametrize(("param", "conc", "index"), [
    ("PM2.5", 25, 50), ("PM2.5", 35, 70), ("PM2.5", 50, 100), ("PM2.5", 80, 150), ("PM2.5", 150, 200),
    ("PM2.5", 500, 500), ("PM10", 150, 100), ("PM10", 200, 125), ("O3_1h", 160, 50), ("O3_8h", 120, 100),
    ("CO", 30000, 100), ("SO2", 350, 100), ("NO2", 700, 150), ("NO2", 5000, 500),
])
def test_sub_index_on_the_breakpoints(param, conc, index) -> None:  # type: ignore[no-untyped-def]
    assert aqi.sub_index(param, conc) == pytest.approx(index)


def test_nowcast_uses_half_weights_when_the_air_changes_fast() -> None:
    steady = [40.0] * 12
    assert aqi.nowcast(steady) == pytest.approx(40.0)
    spike = [100.0, 20.0, 20.0] + [20.0] * 9  # w* = 0.2 → w = 1/2: Σ (1/2)^i c_i
    assert aqi.nowcast(spike) == pytest.approx(sum(0.5 ** (i + 1) * v for i, v in enumerate(spike)))
    assert aqi.nowcast([None, None, 30.0] + [30.0] * 9) is None  # needs 2 of the last 3 hours


def test_hourly_and_daily_aqi_need_particulates_and_take_the_worst() -> None:
    out = aqi.hourly_aqi({"O3": 250.0, "NO2": 50.0}, {"PM2.5": [30.0] * 12})
    assert out["dominant"] == "O3" and out["aqi"] == 125 and out["sub"]["PM2.5"] == 60
    assert aqi.hourly_aqi({"O3": 250.0}, {})["aqi"] is None  # no PM: not published
    day = aqi.daily_aqi({"PM2.5": [60.0] * 24, "PM10": [100.0] * 24, "CO": [5000.0] * 24})
    assert day["aqi"] == 117 and day["dominant"] == "PM2.5"
    assert aqi.band(117).name == "Kém" and aqi.band(50).name == "Tốt" and aqi.band(301).name == "Nguy hại"


@given(param=st.sampled_from(sorted(aqi.BREAKPOINTS)), a=st.floats(0, 3000), b=st.floats(0, 3000))
def test_sub_index_is_monotonic_and_bounded(param, a, b) -> None:  # type: ignore[no-untyped-def]
    ia, ib = aqi.sub_index(param, min(a, b)), aqi.sub_index(param, max(a, b))
    if ia is not None and ib is not None:
        assert 0 <= ia <= ib <= 500


@given(st.lists(st.one_of(st.none(), st.floats(0.1, 1000)), min_size=12, max_size=12))
def test_nowcast_stays_within_the_observed_range(values) -> None:  # type: ignore[no-untyped-def]
    nc = aqi.nowcast(values)
    present = [v for v in values if v is not None]
    if nc is not None:
        assert nc <= max(present) + 1e-9
        assert nc >= 0
