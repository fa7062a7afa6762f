"""Request and response models of the sensing JSON API (``/api/v1/sensing``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StationValue(BaseModel):
    """The latest value of one datastream of a station."""

    datastream_id: int
    name: str
    property: str
    code: str | None = None
    unit: str | None = None
    value: float | None = None
    time: str | None = None


class StationPublic(BaseModel):
    """A station (SensorThings Thing) with its position and current values."""

    id: int
    name: str
    description: str
    kind: str | None = None
    area: str | None = None
    longitude: float | None = None
    latitude: float | None = None
    is_public: bool
    open_alerts: int
    values: list[StationValue]


class StationList(BaseModel):
    """Every station the caller may see."""

    items: list[StationPublic]


class SeriesPoint(BaseModel):
    """One bucket of a datastream's series."""

    time: str
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    count: int


class SeriesOut(BaseModel):
    """A datastream's series from the rollups."""

    datastream_id: int
    period: Literal["minute", "hour"]
    unit: str | None = None
    points: list[SeriesPoint]


class AqiResult(BaseModel):
    """One VN_AQI value with its sub-indices and band."""

    aqi: int | None = None
    sub: dict[str, int]
    dominant: str | None = None
    band: str | None = None
    colour: str | None = None


class HourlyAqi(AqiResult):
    hour: str


class DailyAqi(AqiResult):
    day: str


class AqiOut(BaseModel):
    """Hourly and daily VN_AQI of a station (Decision 1459/QĐ-TCMT)."""

    thing_id: int
    hourly: HourlyAqi
    daily: DailyAqi


class ThresholdCreate(BaseModel):
    """A new alarm rule. ``clear_value`` gives hysteresis; ``thing_id`` empty = every station."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=300)
    observed_property_id: int = Field(ge=1, le=2_147_483_647)
    thing_id: int | None = Field(None, ge=1, le=2_147_483_647)
    kind: Literal["above", "below", "rate"]
    value: float = Field(allow_inf_nan=False, ge=-1e12, le=1e12)
    clear_value: float | None = Field(None, allow_inf_nan=False, ge=-1e12, le=1e12)
    window_minutes: int | None = Field(None, ge=1, le=10080)
    level: str = Field("", max_length=100)
    severity: Literal["info", "warning", "critical"] = "warning"
    is_active: bool = True


class ThresholdUpdate(BaseModel):
    """Changes to an alarm rule: only the fields sent change (``thing_id: null`` = every station)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=300)
    observed_property_id: int | None = Field(None, ge=1, le=2_147_483_647)
    thing_id: int | None = Field(None, ge=1, le=2_147_483_647)
    kind: Literal["above", "below", "rate"] | None = None
    value: float | None = Field(None, allow_inf_nan=False, ge=-1e12, le=1e12)
    clear_value: float | None = Field(None, allow_inf_nan=False, ge=-1e12, le=1e12)
    window_minutes: int | None = Field(None, ge=1, le=10080)
    level: str | None = Field(None, max_length=100)
    severity: Literal["info", "warning", "critical"] | None = None
    is_active: bool | None = None


class ThresholdPublic(BaseModel):
    """An alarm rule."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    observed_property_id: int
    thing_id: int | None
    kind: str
    value: float
    clear_value: float | None
    window_minutes: int | None
    level: str
    severity: str
    is_active: bool


class ThresholdList(BaseModel):
    items: list[ThresholdPublic]


class AlertPublic(BaseModel):
    """An alert raised by a threshold on a datastream."""

    id: str
    state: str
    raised_at: str
    cleared_at: str | None = None
    trigger_value: float
    peak_value: float
    last_value: float
    threshold_id: str
    threshold: str
    level: str
    severity: str
    datastream_id: int
    datastream: str
    unit: str | None = None
    thing_id: int
    thing: str


class AlertList(BaseModel):
    items: list[AlertPublic]


class DeviceCredential(BaseModel):
    """A device credential: HTTP Basic / MQTT user name and secret (shown once)."""

    thing_id: int
    username: str
    secret: str
