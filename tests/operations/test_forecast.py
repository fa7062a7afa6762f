"""Forecasts: a seasonal series is forecast within a small error, the backtest measures it honestly."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartprovince.operations import forecast


def _weekly(n: int = 140, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = np.arange(n)
    return 20 + 6 * np.sin(2 * np.pi * d / 7) + 0.03 * d + rng.normal(0, 1, n)


def test_backtest_of_a_weekly_series_beats_the_naive_baseline() -> None:
    bt = forecast.backtest(_weekly(), 14, season=7)
    assert bt["model"] == "ets_seasonal"
    assert bt["mape"] is not None and bt["mape"] < 10
    assert bt["mae"] < 2.0
    assert bt["mae"] <= bt["baseline_mae"] * 1.1
    assert bt["coverage"] >= 0.6
    assert len(bt["actual"]) == len(bt["predicted"]) == 14


def test_forecast_band_contains_the_mean_and_carries_the_backtest() -> None:
    f = forecast.forecast(_weekly(), 7, season=7, level=0.9)
    assert len(f.mean) == len(f.lower) == len(f.upper) == 7
    assert all(lo <= m <= hi for lo, m, hi in zip(f.lower, f.mean, f.upper, strict=True))
    assert f.backtest["horizon"] == 7


def test_error_measures() -> None:
    assert forecast.mae([1, 2, 3], [2, 2, 2]) == pytest.approx(2 / 3)
    assert forecast.mape([10, 0, 20], [11, 5, 18]) == pytest.approx(10.0)
    assert forecast.mape([0, 0], [1, 1]) is None


def test_short_series_fall_back() -> None:
    assert forecast.forecast(np.array([3.0, 4.0]), 3).model == "mean"
    assert forecast.forecast(np.array([5.0] * 30), 3).mean == [5.0, 5.0, 5.0]
    with pytest.raises(ValueError):
        forecast.backtest(np.array([1.0, 2.0, 3.0]), 5)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=10, max_size=40), st.integers(1, 5))
def test_count_forecasts_are_never_negative(values: list[int], horizon: int) -> None:
    f = forecast.forecast(np.array(values, dtype=float), horizon, season=7)
    assert min(f.lower) >= 0 and min(f.mean) >= 0
    assert all(np.isfinite(f.upper))


def test_forecast_api_for_incidents_and_kpis(client, env, frozen_clock) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import insert

    from smartprovince.core.ids import new_id
    from smartprovince.core.security import SYSTEM
    from smartprovince.operations import kpi_engine
    from smartprovince.operations.models import Incident

    org = env.orgs["295"]
    series = np.round(_weekly(56)).astype(int)
    rows = []
    for i, n in enumerate(series):
        at = frozen_clock[0] - timedelta(days=55 - i, hours=1)
        rows += [{"id": new_id(), "title": "x", "description": "", "source": "history", "category": "flooding",
                  "severity": "low", "status": "closed", "lat": 20.9, "lon": 106.3, "address": "", "org_id": org.id,
                  "org_path": org.path, "escalations": 0, "opened_at": at, "updated_at": at} for _ in range(n)]
    with env.db.session() as s:
        s.execute(insert(Incident), rows)
    r = client.get("/api/v1/operations/forecasts?category=flooding&days=56&horizon=7", headers=env.headers["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert sum(body["values"]) == len(rows) and len(body["mean"]) == 7
    assert body["backtest"]["mape"] is not None and body["backtest"]["mape"] < 25
    with env.db.session() as s:
        kpi_engine.load_definitions(s, actor=SYSTEM)
    r = client.get("/api/v1/operations/forecasts?kpi=incidents_opened&horizon=2", headers=env.headers["operator"])
    assert r.status_code == 200 and r.json()["backtest"] is None
    assert client.get("/api/v1/operations/forecasts?kpi=nope", headers=env.headers["operator"]).status_code == 404
