"""VN_AQI — the Vietnamese air-quality index (chỉ số chất lượng không khí), hourly and daily.

Method of Decision 1459/QĐ-TCMT (12 November 2019) of the Vietnam Environment Administration:

* a sub-index per pollutant by linear interpolation between the breakpoints of Table 1
  (``AQI_x = (I_{i+1} - I_i) / (BP_{i+1} - BP_i) × (C_x - BP_i) + I_i``);
* hourly: O3, CO, SO2 and NO2 use the hourly mean; PM10 and PM2.5 use the 12-hour NowCast
  (weight ``w* = c_min / c_max``; ``w = w*`` when ``w* > 1/2``, else ``w = 1/2``), which needs at least
  2 of the last 3 hours;
* daily: PM10 and PM2.5 use the 24-hour mean; O3, CO, SO2 and NO2 the highest hourly mean of the day
  (O3 also the highest 8-hour mean, whichever index is higher);
* the AQI is the largest sub-index, and is only published when PM10 or PM2.5 is present.

All concentrations are in µg/m³. The breakpoints below were checked against the Decision's Table 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

INDEX = (0, 50, 100, 150, 200, 300, 400, 500)

BREAKPOINTS: dict[str, tuple[float, ...]] = {
    "O3_1h": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "O3_8h": (0, 100, 120, 170, 210, 400),  # above 400 µg/m³ the 1-hour O3 index is used
    "CO": (0, 10000, 30000, 45000, 60000, 90000, 120000, 150000),
    "SO2": (0, 125, 350, 550, 800, 1600, 2100, 2630),
    "NO2": (0, 100, 200, 700, 1200, 2350, 3100, 3850),
    "PM10": (0, 50, 150, 250, 350, 420, 500, 600),
    "PM2.5": (0, 25, 50, 80, 150, 250, 350, 500),
}
"""Table 1 of Decision 1459/QĐ-TCMT: concentration breakpoints BP_i for the index values I_i."""

POLLUTANTS = ("PM2.5", "PM10", "O3", "CO", "SO2", "NO2")


@dataclass(frozen=True)
class Band:
    """One VN_AQI band: the upper index, the Vietnamese name, the colour of the Decision (RGB hex)."""

    upper: int
    name: str
    colour: str


BANDS = (
    Band(50, "Tốt", "#00e400"),
    Band(100, "Trung bình", "#ffff00"),
    Band(150, "Kém", "#ff7e00"),
    Band(200, "Xấu", "#ff0000"),
    Band(300, "Rất xấu", "#8f3f97"),
    Band(10**9, "Nguy hại", "#7e0023"),
)


def band(aqi: int | None) -> Band | None:
    """The band (Tốt, Trung bình, Kém, Xấu, Rất xấu, Nguy hại) of an AQI value."""
    if aqi is None:
        return None
    return next(b for b in BANDS if aqi <= b.upper)


def sub_index(parameter: str, concentration: float) -> float | None:
    """Sub-index of one parameter (a key of :data:`BREAKPOINTS`); ``None`` above the table's range."""
    bps = BREAKPOINTS[parameter]
    if concentration is None or math.isnan(concentration) or concentration < 0:
        return None
    c = concentration
    for i in range(len(bps) - 1):
        if bps[i] <= c <= bps[i + 1]:
            return (INDEX[i + 1] - INDEX[i]) / (bps[i + 1] - bps[i]) * (c - bps[i]) + INDEX[i]
    if parameter == "O3_8h":
        return None
    return 500.0  # beyond the last breakpoint the index stays at its maximum


def nowcast(hourly: Sequence[float | None]) -> float | None:
    """NowCast of PM over the last 12 hours; ``hourly[0]`` is the latest hour, ``None`` = missing.

    Needs 2 of the latest 3 hours (Decision 1459, section 2.2).
    """
    values = list(hourly[:12])
    if sum(v is not None for v in values[:3]) < 2:
        return None
    present = [v for v in values if v is not None]
    c_max, c_min = max(present), min(present)
    w_star = c_min / c_max if c_max > 0 else 1.0
    if w_star > 0.5:
        num = sum(w_star**i * v for i, v in enumerate(values) if v is not None)
        den = sum(w_star**i for i, v in enumerate(values) if v is not None)
        return num / den
    # w = 1/2: Nowcast = Σ (1/2)^i · c_i with i counted from 1 (Decision 1459, formula for w* ≤ 1/2).
    return sum(0.5 ** (i + 1) * v for i, v in enumerate(values) if v is not None)


def hourly_aqi(latest: Mapping[str, float | None], pm_history: Mapping[str, Sequence[float | None]],
               ) -> dict[str, object]:
    """Hourly VN_AQI from this hour's means (O3, CO, SO2, NO2) and 12 hours of PM (latest first).

    Returns ``{"aqi": int | None, "sub": {parameter: int}, "dominant": parameter | None}``.
    """
    sub: dict[str, float] = {}
    for p in ("PM2.5", "PM10"):
        nc = nowcast(pm_history.get(p, ()))
        if nc is not None and (v := sub_index(p, nc)) is not None:
            sub[p] = v
    for p, key in (("O3", "O3_1h"), ("CO", "CO"), ("SO2", "SO2"), ("NO2", "NO2")):
        c = latest.get(p)
        if c is not None and (v := sub_index(key, c)) is not None:
            sub[p] = v
    return _combine(sub)


def daily_aqi(hourly: Mapping[str, Sequence[float | None]]) -> dict[str, object]:
    """Daily VN_AQI from the 24 hourly means of each parameter (``None`` = missing hour)."""
    sub: dict[str, float] = {}
    for p in ("PM2.5", "PM10"):
        vals = [v for v in hourly.get(p, ()) if v is not None]
        if vals and (v := sub_index(p, sum(vals) / len(vals))) is not None:
            sub[p] = v
    for p in ("CO", "SO2", "NO2"):
        vals = [v for v in hourly.get(p, ()) if v is not None]
        if vals and (v := sub_index(p, max(vals))) is not None:
            sub[p] = v
    o3 = list(hourly.get("O3", ()))
    o3_vals = [v for v in o3 if v is not None]
    if o3_vals:
        best = sub_index("O3_1h", max(o3_vals)) or 0.0
        eights = []
        for start in range(0, max(len(o3) - 7, 0)):
            window = [v for v in o3[start:start + 8] if v is not None]
            if len(window) >= 6:
                eights.append(sum(window) / len(window))
        if eights:
            v8 = sub_index("O3_8h", max(eights))
            if v8 is not None:
                best = max(best, v8)
        sub["O3"] = best
    return _combine(sub)


def _combine(sub: dict[str, float]) -> dict[str, object]:
    rounded = {k: int(math.floor(v + 0.5)) for k, v in sub.items()}
    if not ({"PM2.5", "PM10"} & rounded.keys()):
        return {"aqi": None, "sub": rounded, "dominant": None}
    dominant = max(rounded, key=lambda k: rounded[k])
    return {"aqi": rounded[dominant], "sub": rounded, "dominant": dominant}
