"""Request and response models of the data hub API (pydantic v2)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Sector = Literal["education", "health", "tourism", "agriculture", "transport", "environment", "economy", "society",
                 "administration"]
Licence = Literal["CC-BY-4.0", "CC0-1.0", "ODC-BY-1.0", "internal"]
Frequency = Literal["daily", "weekly", "monthly", "quarterly", "annual", "irregular"]


class FieldIn(BaseModel):
    """One field of a dataset definition."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    title: str = Field(min_length=1, max_length=200)
    title_en: str = Field("", max_length=200)
    type: Literal["string", "integer", "number", "boolean", "date", "code"] = "string"
    unit: str = Field("", max_length=40)
    required: bool = False
    codelist: str | None = Field(None, max_length=60)
    personal: bool = False
    minimum: float | None = None
    maximum: float | None = None
    description: str = Field("", max_length=500)
    indexed: bool = Field(False, description="Keep an index for filters on this field (code fields always have one)")


class DatasetCreate(BaseModel):
    """Định nghĩa bộ dữ liệu mới."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,99}$", description="Short name used in links and the CKAN API")
    org_id: str = Field(min_length=1, max_length=64, description="Publishing organisation (id or code)")
    title: str = Field(min_length=1, max_length=300)
    title_en: str = Field("", max_length=300)
    description: str = Field("", max_length=10000)
    description_en: str = Field("", max_length=10000)
    sector: Sector
    public: bool = True
    licence: Licence = "CC-BY-4.0"
    frequency: Frequency = "monthly"
    tags: list[str] = Field(default_factory=list, max_length=30)
    fields: list[FieldIn] = Field(min_length=1, max_length=200)
    key: list[str] = Field(default_factory=list, max_length=10)


class DatasetUpdate(BaseModel):
    """Changes to a definition; only the given keys change."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=300)
    title_en: str | None = Field(None, max_length=300)
    description: str | None = Field(None, max_length=10000)
    description_en: str | None = Field(None, max_length=10000)
    sector: Sector | None = None
    public: bool | None = None
    licence: Licence | None = None
    frequency: Frequency | None = None
    tags: list[str] | None = Field(None, max_length=30)
    fields: list[FieldIn] | None = Field(None, min_length=1, max_length=200)
    key: list[str] | None = Field(None, max_length=10)


class QualityPublic(BaseModel):
    """Điểm "đúng, đủ, sạch, sống" at one moment (0–100)."""

    model_config = ConfigDict(from_attributes=True)

    measured_at: datetime
    correct: float
    complete: float
    clean: float
    live: float
    overall: float


class DatasetPublic(BaseModel):
    """A dataset's definition and state, as the caller may see it (personal fields listed only for officers)."""

    id: str
    name: str
    title: str
    title_en: str
    description: str
    sector: str
    organisation: str
    organisation_code: str
    public: bool
    licence: str
    frequency: str
    tags: list[str]
    fields: list[dict[str, Any]]
    key: list[str]
    row_count: int
    created_at: datetime
    updated_at: datetime
    data_updated_at: datetime | None
    quality: QualityPublic | None = None


class LoadError(BaseModel):
    row: int
    field: str | None = None
    code: str
    message: str
    value: str | None = None
    level: str = "error"


class LoadPublic(BaseModel):
    """Báo cáo nạp dữ liệu — the outcome of one upload and its row-by-row problems."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    filename: str
    file_format: str
    status: Literal["loaded", "partial", "rejected"]
    mode: Literal["replace", "append", "upsert"] = "replace"
    total_rows: int
    valid_rows: int
    error_count: int
    errors: list[LoadError]
    created_at: datetime


class RecordsOut(BaseModel):
    """One page of a dataset's records."""

    fields: list[str]
    records: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


class CodeListItem(BaseModel):
    code: str
    label: str
    parent: str | None = None


class CodeListVersionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    effective_from: date
    effective_to: date | None
    note: str
    items: list[CodeListItem]


class CodeListPublic(BaseModel):
    """Danh mục dùng chung with its versions (newest first)."""

    code: str
    name: str
    name_en: str
    description: str
    versions: list[CodeListVersionPublic]


class CodeListSummary(BaseModel):
    code: str
    name: str
    name_en: str
    current_version: int | None
    items: int


class CodeListCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,59}$")
    name: str = Field(min_length=1, max_length=200)
    name_en: str = Field("", max_length=200)
    description: str = Field("", max_length=2000)


class CodeListVersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    effective_from: date
    items: list[CodeListItem] = Field(min_length=1, max_length=50000)
    note: str = Field("", max_length=500)


class SourceIn(BaseModel):
    """Nguồn dữ liệu — the agency API a dataset is pulled from, and when."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=8, max_length=1000, description="http(s) URL answering JSON or CSV")
    format: Literal["json", "csv"] = "json"
    auth_header: str = Field("", max_length=100, description="Header that carries the secret, e.g. Authorization")
    auth_secret: str = Field("", max_length=100, description="Name of the secret setting whose value is sent")
    every_minutes: int | None = Field(None, ge=1, le=525600, description="Pull every N minutes …")
    cron: str = Field("", max_length=100, description="… or on this cron expression (Vietnam time)")
    mode: Literal["replace", "append", "upsert"] = "replace"
    enabled: bool = True


class SourcePublic(BaseModel):
    """A dataset's source as officers see it (the secret's name, never its value)."""

    model_config = ConfigDict(from_attributes=True)

    url: str
    format: str
    auth_header: str
    auth_secret: str
    every_minutes: int | None
    cron: str
    mode: str
    enabled: bool
    next_run_at: datetime | None
    last_run_at: datetime | None


class PullRunPublic(BaseModel):
    """Lần kéo dữ liệu — one pull: status, counts, error."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    trigger: str
    status: Literal["loaded", "partial", "rejected", "failed"]
    started_at: datetime
    finished_at: datetime | None
    http_status: int | None
    bytes_read: int
    total_rows: int
    valid_rows: int
    error_count: int
    error: str
    load_id: str | None
