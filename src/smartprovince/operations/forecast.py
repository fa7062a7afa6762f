"""Dự báo — forecasts of counts (incidents per day, per week …) and KPI series, with a measured backtest.

* :func:`forecast` — fits a seasonal exponential-smoothing state-space model (statsmodels ``ETSModel``:
  additive error, damped additive trend, additive seasonality) and returns the point forecast with a
  prediction band;
* :func:`backtest` — the honest error of the same method: fit on the past without the last ``horizon``
  points, forecast them, compare with what really happened (MAE, MAPE), next to the error of the
  *seasonal naive* baseline ("same as one season ago") so a reader sees whether the model helps.

Counts cannot be negative, so forecasts and band edges are clipped at zero. Short series fall back
gracefully: without two full seasons the model drops the seasonal part; with fewer than four points it
repeats the mean.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Forecast:
    """A forecast: ``mean`` and the band ``lower`` – ``upper`` for the next ``len(mean)`` steps.

    ``model`` names the method actually used (``ets_seasonal``, ``ets`` or ``mean``); ``level`` is the
    band's coverage (0.9 = 90 %).
    """

    mean: list[float]
    lower: list[float]
    upper: list[float]
    model: str
    level: float
    backtest: dict[str, Any] = field(default_factory=dict)


def _fit_predict(y: np.ndarray, horizon: int, season: int, level: float, *, clip: bool) -> Forecast:
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    y = np.asarray(y, dtype=float)
    if y.size < 4 or float(np.var(y)) == 0.0:
        m = float(np.mean(y)) if y.size else 0.0
        sd = float(np.std(y)) if y.size > 1 else 0.0
        z = _z(level)
        mean = [m] * horizon
        lower, upper = [m - z * sd] * horizon, [m + z * sd] * horizon
        return _clip(Forecast(mean, lower, upper, "mean", level), clip)
    seasonal = season > 1 and y.size >= 2 * season + 2
    kwargs: dict[str, Any] = {"error": "add", "trend": "add", "damped_trend": True}
    if seasonal:
        kwargs.update(seasonal="add", seasonal_periods=season)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter of the optimiser is not a user-facing problem
        # A pandas series: statsmodels' prediction frame needs an index to label its rows.
        res = ETSModel(pd.Series(y), **kwargs).fit(disp=False, maxiter=200)
        frame = res.get_prediction(start=y.size, end=y.size + horizon - 1).summary_frame(alpha=1 - level)
    mean = [float(v) for v in frame["mean"]]
    lower = [float(v) for v in frame["pi_lower"]]
    upper = [float(v) for v in frame["pi_upper"]]
    return _clip(Forecast(mean, lower, upper, "ets_seasonal" if seasonal else "ets", level), clip)


def _z(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2))


def _clip(f: Forecast, clip: bool) -> Forecast:
    if clip:
        f.mean = [max(0.0, v) for v in f.mean]
        f.lower = [max(0.0, v) for v in f.lower]
        f.upper = [max(0.0, v) for v in f.upper]
    f.mean = [_finite(v) for v in f.mean]
    f.lower = [_finite(v) for v in f.lower]
    f.upper = [_finite(v) for v in f.upper]
    return f


def _finite(v: float) -> float:
    return round(v, 4) if math.isfinite(v) else 0.0


def mae(actual: Any, predicted: Any) -> float:
    """Mean absolute error."""
    return float(np.mean(np.abs(np.asarray(actual, dtype=float) - np.asarray(predicted, dtype=float))))


def mape(actual: Any, predicted: Any) -> float | None:
    """Mean absolute percentage error in % over the points whose actual value is not zero (None if none)."""
    a, p = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    keep = a != 0
    if not keep.any():
        return None
    return float(np.mean(np.abs((a[keep] - p[keep]) / a[keep])) * 100)


def backtest(y: np.ndarray, horizon: int, *, season: int = 7, level: float = 0.9, clip: bool = True) -> dict[str, Any]:
    """Hold out the last ``horizon`` points, forecast them from the rest, and measure the error.

    Returns ``mae``, ``mape`` (%), ``coverage`` (share of held-out points inside the band), the
    ``baseline_mae`` of the seasonal naive forecast, the held-out ``actual`` and ``predicted`` values.
    Raises ``ValueError`` when the series is too short to hold anything out.
    """
    y = np.asarray(y, dtype=float)
    if horizon < 1 or y.size < horizon + 4:
        raise ValueError("series too short for a backtest of this horizon")
    train, test = y[:-horizon], y[-horizon:]
    f = _fit_predict(train, horizon, season, level, clip=clip)
    lag = season if season > 1 and train.size >= season else 1
    naive = np.array([train[train.size - lag + (i % lag)] for i in range(horizon)])
    inside = [lo <= a <= hi for a, lo, hi in zip(test, f.lower, f.upper, strict=True)]
    return {
        "horizon": horizon,
        "model": f.model,
        "mae": round(mae(test, f.mean), 4),
        "mape": None if (m := mape(test, f.mean)) is None else round(m, 2),
        "coverage": round(sum(inside) / horizon, 3),
        "baseline_mae": round(mae(test, naive), 4),
        "actual": [float(v) for v in test],
        "predicted": f.mean,
    }


def forecast(y: np.ndarray, horizon: int, *, season: int = 7, level: float = 0.9, clip: bool = True,
             with_backtest: bool = True) -> Forecast:
    """Forecast the next ``horizon`` values of ``y`` (oldest first) with a ``level`` prediction band.

    ``season`` is the length of the seasonal cycle in steps (7 for daily counts with a weekly rhythm,
    12 for monthly values). With ``with_backtest`` the result carries :func:`backtest` over the same
    horizon when the series is long enough.
    """
    if horizon < 1:
        raise ValueError("horizon must be at least 1")
    y = np.asarray(y, dtype=float)
    f = _fit_predict(y, horizon, season, level, clip=clip)
    if with_backtest and y.size >= horizon + 4:
        f.backtest = backtest(y, horizon, season=season, level=level, clip=clip)
    return f
