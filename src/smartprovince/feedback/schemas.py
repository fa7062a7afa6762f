"""Request and response models of the feedback API (``/api/v1/feedback``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CategoryPublic(BaseModel):
    """A report category (loại phản ánh) with its deadline."""

    code: str
    name: str
    name_en: str
    group: str
    sla_hours: int | None
    sla_working_days: int | None


class ReportCreate(BaseModel):
    """A new report. Give a point (lat and lon), an address or an area (commune code)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1, max_length=4000)
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    address: str | None = Field(None, max_length=500)
    area_code: str | None = Field(None, max_length=64, description="Code of the commune (xã/phường) of the problem.")
    name: str | None = Field(None, max_length=200, description="Reporter's name (private).")
    email: str | None = Field(None, max_length=254, description="Reporter's e-mail for notifications (private).")
    phone: str | None = Field(None, max_length=20, description="Reporter's phone (private).")
    channel: Literal["hotline", "desk"] | None = Field(
        None, description="Only for officers holding feedback.report.intake who type in a caller's report "
                          "(hotline) or a visitor's (desk): the caller, not the officer, is then the reporter.")


class ActivityPublic(BaseModel):
    """One step of a report's timeline."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    action: str
    status: str
    actor_name: str | None
    unit_name: str | None
    note: str | None


class MediaPublic(BaseModel):
    """A photo or video of a report: its URL, real type, whether it is a video, and ``report`` / ``result``."""

    url: str
    content_type: str
    video: bool
    kind: str


class ReportPublic(BaseModel):
    """What anybody may see of a report: never the reporter's contact."""

    id: str
    code: str
    category: str
    category_name: str | None
    description: str
    lat: float | None
    lon: float | None
    address: str | None
    status: str
    unit_name: str | None
    created_at: datetime
    updated_at: datetime
    due_at: datetime
    resolved_at: datetime | None
    merged_into: str | None
    rating: int | None
    media: list[str] = Field(description="URLs of the photos and videos (metadata removed).")
    media_items: list[MediaPublic] = Field(default_factory=list,
                                           description="The same files with their type (to show a video as one).")
    timeline: list[ActivityPublic]


class ReportCreated(ReportPublic):
    """The new report, with the private key its reporter uses to rate or reopen it without an account."""

    follow_key: str


class ReportOfficer(BaseModel):
    """A report as the responsible unit sees it, including the reporter's contact."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    code: str
    category_code: str
    description: str
    lat: float | None
    lon: float | None
    address: str | None
    status: str
    unit_id: str
    channel: str
    reporter_name: str | None
    reporter_email: str | None
    reporter_phone: str | None
    duplicate_of_id: str | None
    merged_into_id: str | None
    escalation_level: int
    created_at: datetime
    due_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    rating: int | None


class ActionIn(BaseModel):
    """An officer's action on a report."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["accept", "send_back", "assign", "update", "resolve", "merge"]
    note: str | None = Field(None, max_length=2000)
    unit_code: str | None = Field(None, max_length=64, description="For 'assign': the new unit's code.")
    into: str | None = Field(None, max_length=32, description="For 'merge': id of the main report.")


class RatingIn(BaseModel):
    """The reporter's rating (1–5); ``key`` is the follow key when not logged in."""

    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)
    key: str | None = Field(None, max_length=64)


class ReopenIn(BaseModel):
    """Why the reporter reopens the report; ``key`` is the follow key when not logged in."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=2000)
    key: str | None = Field(None, max_length=64)


class StatOut(BaseModel):
    """Figures of one unit or category (rates 0–1, times in hours)."""

    key: str
    name: str
    total: int
    handled: int
    on_time: int
    rated: int
    satisfied: int
    handled_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    mean_rating: float | None
    mean_hours_to_acknowledge: float | None
    mean_hours_to_resolve: float | None


class NotificationOut(BaseModel):
    """An in-app notification."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    report_id: str
    subject: str
    body: str
    created_at: datetime


class ApiClientCreate(BaseModel):
    """A new Open311 client application."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    rate_per_minute: int = Field(60, ge=1, le=100000)


class ApiClientCreated(BaseModel):
    """The client and its API key (shown only once)."""

    id: str
    name: str
    rate_per_minute: int
    api_key: str
