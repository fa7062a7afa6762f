"""Tables of the data hub (kho dữ liệu dùng chung): datasets, records, loads, quality, category lists."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from smartprovince.core.clock import now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id


class Dataset(Base):
    """Bộ dữ liệu — one dataset definition, kept as data.

    ``fields`` is a list of field definitions (see ``datahub.fields.FieldDef``): name, title, type,
    unit, required, code list, minimum/maximum, personal-data flag. ``key`` lists the field names that
    identify a row. ``public`` datasets appear on the open-data portal; personal fields never do.
    ``snapshot`` is the number of the current Parquet snapshot (0 = no data loaded yet).
    """

    __tablename__ = "datahub_dataset"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str] = mapped_column(Text, default="")
    sector: Mapped[str] = mapped_column(String(40), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    licence: Mapped[str] = mapped_column(String(40), default="CC-BY-4.0")
    frequency: Mapped[str] = mapped_column(String(20), default="monthly")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    fields: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    key: Mapped[list[str]] = mapped_column(JSON, default=list)
    row_count: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    data_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Record(Base):
    """Bản ghi — one row of a dataset, values as typed JSON (dates as ISO text), in load order."""

    __tablename__ = "datahub_record"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datahub_dataset.id", ondelete="CASCADE"), primary_key=True)
    row_no: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key_text: Mapped[str] = mapped_column(String(500), default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("ix_datahub_record_dataset_key", "dataset_id", "key_text"),)


class Load(Base):
    """Lần nạp dữ liệu — one upload of a file and its row-by-row validation report.

    ``status`` is ``loaded`` (rows stored), ``rejected`` (errors found, nothing stored) or
    ``partial`` (only the valid rows stored, because the officer asked to skip invalid rows).
    ``errors`` keeps the first 1,000 problems: ``{"row", "field", "code", "message", "value"}``.
    """

    __tablename__ = "datahub_load"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datahub_dataset.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(300), default="")
    file_format: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20))
    total_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    error_count: Mapped[int] = mapped_column(BigInteger, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(150), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    # replace (the file is the whole dataset), append (add rows; a key already stored is an error) or
    # upsert (a row whose key is stored replaces it, keeping its _id; other rows are added)
    mode: Mapped[str] = mapped_column(String(10), default="replace")


class QualityScore(Base):
    """Điểm chất lượng — the four scores "đúng, đủ, sạch, sống" (0–100) of a dataset at one moment."""

    __tablename__ = "datahub_quality"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datahub_dataset.id", ondelete="CASCADE"), index=True)
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    correct: Mapped[float] = mapped_column(Float)
    complete: Mapped[float] = mapped_column(Float)
    clean: Mapped[float] = mapped_column(Float)
    live: Mapped[float] = mapped_column(Float)
    overall: Mapped[float] = mapped_column(Float)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CodeList(Base):
    """Danh mục dùng chung — a shared category list (administrative units, ethnic groups …)."""

    __tablename__ = "datahub_codelist"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(60), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class CodeListVersion(Base):
    """Phiên bản danh mục — the items of a category list valid from ``effective_from`` (until
    ``effective_to``, inclusive, or open-ended when ``None``). ``items`` is ``[{"code", "label"}]``."""

    __tablename__ = "datahub_codelist_version"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    codelist_id: Mapped[str] = mapped_column(ForeignKey("datahub_codelist.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date, nullable=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Source(Base):
    """Nguồn dữ liệu — an agency API the platform pulls a dataset from on a schedule.

    ``url`` answers JSON (a list of objects, or ``{"records": [...]}``) or CSV. ``auth_header`` (for
    example ``Authorization``) gets the value of the secret setting named ``auth_secret``; the secret
    itself is never stored in the database. The schedule is ``every_minutes`` or a five-field
    ``cron`` expression in Vietnam time. ``mode`` is the load mode (replace, append, upsert).
    """

    __tablename__ = "datahub_source"

    dataset_id: Mapped[str] = mapped_column(ForeignKey("datahub_dataset.id", ondelete="CASCADE"), primary_key=True)
    url: Mapped[str] = mapped_column(String(1000))
    format: Mapped[str] = mapped_column(String(10), default="json")
    auth_header: Mapped[str] = mapped_column(String(100), default="")
    auth_secret: Mapped[str] = mapped_column(String(100), default="")
    every_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cron: Mapped[str] = mapped_column(String(100), default="")
    mode: Mapped[str] = mapped_column(String(10), default="replace")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class PullRun(Base):
    """Lần kéo dữ liệu — one pull of a source: when, why, the outcome and the counts.

    ``status``: ``loaded`` / ``partial`` / ``rejected`` (the load's status) or ``failed`` (the agency
    API could not be read; ``error`` says why and nothing changed). ``trigger``: schedule, manual, cli.
    """

    __tablename__ = "datahub_pull_run"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datahub_dataset.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    total_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    valid_rows: Mapped[int] = mapped_column(BigInteger, default=0)
    error_count: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(String(1000), default="")
    load_id: Mapped[str | None] = mapped_column(String(32), nullable=True)


class SchedulerLock(Base):
    """Khóa bộ lập lịch — the row that lets one process of many run the scheduled pulls.

    A process runs the pulls only while it holds the row (``holder`` = its id, ``expires_at`` in the
    future); it renews the lease on every tick, and another process takes over when it expires.
    """

    __tablename__ = "datahub_scheduler_lock"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
