"""Tables of the IoT sensing module (cảm biến IoT), shaped after OGC SensorThings API v1.1 Part 1.

SensorThings entities use integer ids (like FROST-Server): ids appear in URLs and MQTT topics
(``v1.1/Datastreams(12)/Observations``), and observations are the largest table of the platform, so
a compact, ordered integer key matters. Every other table of the module uses the platform's 32-hex ids.

* :class:`Thing`, :class:`Location`, :class:`HistoricalLocation`, :class:`Sensor`,
  :class:`ObservedProperty`, :class:`Datastream`, :class:`FeatureOfInterest`, :class:`Observation` —
  the eight SensorThings entity sets;
* :class:`Rollup` — per-minute and per-hour aggregates of each datastream, kept current at ingestion;
* :class:`Threshold` and :class:`Alert` — alarm rules as data, and the alerts they raise;
* :class:`MqttDeadLetter` — MQTT messages the bridge could not store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id

BigId = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite's INTEGER PRIMARY KEY is already 64-bit (and the rowid)."""

thing_location = Table(
    "sensing_thing_location",
    Base.metadata,
    Column("thing_id", Integer, ForeignKey("sensing_thing.id", ondelete="CASCADE"), primary_key=True),
    Column("location_id", Integer, ForeignKey("sensing_location.id", ondelete="CASCADE"), primary_key=True),
)
"""Which Locations a Thing is at now (a Thing may have several, a Location may hold several Things)."""

historical_location_location = Table(
    "sensing_hist_location_location",
    Base.metadata,
    Column("historical_location_id", Integer, ForeignKey("sensing_historical_location.id", ondelete="CASCADE"),
           primary_key=True),
    Column("location_id", Integer, ForeignKey("sensing_location.id", ondelete="CASCADE"), primary_key=True),
)
"""The Locations recorded by a HistoricalLocation."""


class Thing(Base):
    """Thing — a station or device (trạm quan trắc, thiết bị): air-quality station, water-level gauge …

    ``is_public`` makes its datastreams readable by anybody; ``device_secret_hash`` is the SHA-256 of
    the device credential that lets the device push observations to its own datastreams only.
    ``org_id`` is the organisation that owns the station (its officers manage it).
    """

    __tablename__ = "sensing_thing"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    device_secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)

    locations: Mapped[list[Location]] = relationship(secondary=thing_location, back_populates="things")
    historical_locations: Mapped[list[HistoricalLocation]] = relationship(
        back_populates="thing", cascade="all, delete-orphan", passive_deletes=True)
    datastreams: Mapped[list[Datastream]] = relationship(
        back_populates="thing", cascade="all, delete-orphan", passive_deletes=True)


class Location(Base):
    """Location — where a Thing is (GeoJSON in ``location``, ``encoding_type`` application/geo+json)."""

    __tablename__ = "sensing_location"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="application/geo+json")
    location: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    things: Mapped[list[Thing]] = relationship(secondary=thing_location, back_populates="locations")
    historical_locations: Mapped[list[HistoricalLocation]] = relationship(
        secondary=historical_location_location, back_populates="locations")


class HistoricalLocation(Base):
    """HistoricalLocation — the time a Thing was (or started to be) at some Locations."""

    __tablename__ = "sensing_historical_location"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    thing_id: Mapped[int] = mapped_column(ForeignKey("sensing_thing.id", ondelete="CASCADE"), index=True)

    thing: Mapped[Thing] = relationship(back_populates="historical_locations")
    locations: Mapped[list[Location]] = relationship(
        secondary=historical_location_location, back_populates="historical_locations")


class Sensor(Base):
    """Sensor — the instrument (model, datasheet) that produces a Datastream's values."""

    __tablename__ = "sensing_sensor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="application/pdf")
    sensor_metadata: Mapped[Any] = mapped_column("metadata", JSON, nullable=True)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    datastreams: Mapped[list[Datastream]] = relationship(back_populates="sensor")


class ObservedProperty(Base):
    """ObservedProperty — what is measured (PM2.5, water level, vehicle count …) with a definition URI."""

    __tablename__ = "sensing_observed_property"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    datastreams: Mapped[list[Datastream]] = relationship(back_populates="observed_property")


class Datastream(Base):
    """Datastream — one series of observations of one property by one sensor at one Thing.

    ``phenomenon_start`` / ``phenomenon_end`` and ``result_start`` / ``result_end`` are the time
    spans the STA ``phenomenonTime`` and ``resultTime`` of the datastream show; ingestion widens them.
    ``last_value`` / ``last_time`` cache the latest observation for maps and lists.
    """

    __tablename__ = "sensing_datastream"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    observation_type: Mapped[str] = mapped_column(
        String(200), default="http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement")
    unit_of_measurement: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    observed_area: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    phenomenon_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    phenomenon_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    thing_id: Mapped[int] = mapped_column(ForeignKey("sensing_thing.id", ondelete="CASCADE"), index=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensing_sensor.id"), index=True)
    observed_property_id: Mapped[int] = mapped_column(ForeignKey("sensing_observed_property.id"), index=True)

    thing: Mapped[Thing] = relationship(back_populates="datastreams")
    sensor: Mapped[Sensor] = relationship(back_populates="datastreams")
    observed_property: Mapped[ObservedProperty] = relationship(back_populates="datastreams")
    observations: Mapped[list[Observation]] = relationship(
        back_populates="datastream", cascade="all, delete-orphan", passive_deletes=True)


class FeatureOfInterest(Base):
    """FeatureOfInterest — the feature an observation is about (a river section, an air volume, a road)."""

    __tablename__ = "sensing_feature_of_interest"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    encoding_type: Mapped[str] = mapped_column(String(100), default="application/geo+json")
    feature: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    properties: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    observations: Mapped[list[Observation]] = relationship(back_populates="feature_of_interest")


class Observation(Base):
    """Observation — one measured value (kết quả quan trắc) of a Datastream at ``phenomenon_time``.

    A number is kept in ``result_number`` (fast to aggregate and filter); any other JSON result
    (text, boolean, object) in ``result_json``. ``phenomenon_end`` is set when the phenomenon time is
    an interval.
    """

    __tablename__ = "sensing_observation"
    __table_args__ = (Index("ix_sensing_observation_ds_time", "datastream_id", "phenomenon_time"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    datastream_id: Mapped[int] = mapped_column(ForeignKey("sensing_datastream.id", ondelete="CASCADE"))
    phenomenon_time: Mapped[datetime] = mapped_column(UTCDateTime())
    phenomenon_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result_time: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result_number: Mapped[float | None] = mapped_column(Float, nullable=True)
    result_json: Mapped[Any] = mapped_column(JSON, nullable=True)
    result_quality: Mapped[Any] = mapped_column(JSON, nullable=True)
    valid_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    parameters: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    feature_of_interest_id: Mapped[int | None] = mapped_column(
        ForeignKey("sensing_feature_of_interest.id"), nullable=True, index=True)

    datastream: Mapped[Datastream] = relationship(back_populates="observations")
    feature_of_interest: Mapped[FeatureOfInterest | None] = relationship(back_populates="observations")


class Rollup(Base):
    """Tổng hợp — count, sum, min, max and last value of a datastream per minute or per hour.

    ``period`` is ``minute`` or ``hour``; ``start`` is the UTC start of the bucket. Charts and the
    AQI read these rows instead of the raw observations, so they stay fast over years of data.
    """

    __tablename__ = "sensing_rollup"

    datastream_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_datastream.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    start: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    minimum: Mapped[float] = mapped_column(Float)
    maximum: Mapped[float] = mapped_column(Float)
    last_value: Mapped[float] = mapped_column(Float)
    last_time: Mapped[datetime] = mapped_column(UTCDateTime())


class Threshold(Base):
    """Ngưỡng cảnh báo — an alarm rule on an observed property, at one station or at every station.

    ``kind`` is ``above`` (value ≥ ``value`` raises), ``below`` (value ≤ ``value`` raises) or ``rate``
    (the change over ``window_minutes`` ≥ ``value`` raises). ``clear_value`` gives hysteresis: an
    alert ends only when the value goes back past it (for ``above``: value < clear_value). ``level``
    is a short label (e.g. "Báo động II"), ``severity`` one of info, warning, critical.
    """

    __tablename__ = "sensing_threshold"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(300))
    observed_property_id: Mapped[int] = mapped_column(
        ForeignKey("sensing_observed_property.id", ondelete="CASCADE"), index=True)
    thing_id: Mapped[int | None] = mapped_column(ForeignKey("sensing_thing.id", ondelete="CASCADE"), nullable=True)
    kind: Mapped[str] = mapped_column(String(10))
    value: Mapped[float] = mapped_column(Float)
    clear_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    window_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    level: Mapped[str] = mapped_column(String(100), default="")
    severity: Mapped[str] = mapped_column(String(10), default="warning")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Alert(Base):
    """Cảnh báo — raised when a threshold is crossed on a datastream; cleared when the condition ends.

    While an alert is ``active`` the same threshold on the same datastream raises nothing new
    (deduplication); ``peak_value`` follows the worst value seen.
    """

    __tablename__ = "sensing_alert"
    __table_args__ = (Index("ix_sensing_alert_open", "threshold_id", "datastream_id", "state"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    threshold_id: Mapped[str] = mapped_column(ForeignKey("sensing_threshold.id", ondelete="CASCADE"))
    datastream_id: Mapped[int] = mapped_column(ForeignKey("sensing_datastream.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10), default="active")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    trigger_value: Mapped[float] = mapped_column(Float)
    trigger_time: Mapped[datetime] = mapped_column(UTCDateTime())
    peak_value: Mapped[float] = mapped_column(Float)
    last_value: Mapped[float] = mapped_column(Float)


class MqttDeadLetter(Base):
    """Thư lỗi MQTT — a message the MQTT bridge could not store as an observation, kept for inspection.

    Written in the same transaction as the good messages of its batch, then the message is
    acknowledged to the broker (it would only fail again). ``reason`` says why (bad JSON, unknown
    datastream, not an observation …); ``payload`` keeps at most the first 8 KB of the message.
    """

    __tablename__ = "sensing_mqtt_dead_letter"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    topic: Mapped[str] = mapped_column(String(300))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(300))
