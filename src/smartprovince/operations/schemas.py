"""Request and response models of the operations API (pydantic v2)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["low", "medium", "high", "critical"]
Status = Literal["new", "acknowledged", "in_progress", "escalated", "resolved", "closed"]
Verb = Literal["acknowledge", "start", "escalate", "resolve", "reopen", "close"]


class LinkIn(BaseModel):
    """A record of another system that the incident comes from."""

    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$", examples=["camera_event"])
    ref: str = Field(min_length=1, max_length=200)


class IncidentCreate(BaseModel):
    """An incident opened by hand (hotline call, radio) — or a record that joins an open duplicate."""

    category: str = Field(min_length=1, max_length=60, description="SOP code or alias (flooding, fire …)")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field("", max_length=4000)
    severity: Severity | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    address: str = Field("", max_length=500)
    org_id: str | None = Field(None, max_length=32, description="Responsible unit; default: the SOP's unit")
    source: str = Field("manual", min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")
    links: list[LinkIn] = Field(default_factory=list, max_length=20)
    dedup_key: str | None = Field(None, max_length=200)


class ActionIn(BaseModel):
    """Move an incident: acknowledge, start, escalate, resolve, reopen or close, with a note."""

    verb: Verb
    note: str = Field("", max_length=2000)


class AssignIn(BaseModel):
    """Make another unit responsible."""

    org_id: str = Field(min_length=1, max_length=32)
    note: str = Field("", max_length=2000)


class StepIn(BaseModel):
    """Tick or untick one SOP step."""

    done: bool
    note: str = Field("", max_length=2000)


class IncidentSummary(BaseModel):
    """A line of the incident list."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    source: str
    category: str
    severity: Severity
    status: Status
    lat: float | None
    lon: float | None
    address: str
    org_id: str
    escalations: int
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    updated_at: datetime


class StepOut(BaseModel):
    """One SOP step of an incident."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    position: int
    title: str
    title_en: str
    role: str
    done_at: datetime | None
    done_by: str | None
    note: str


class LinkOut(BaseModel):
    """One linked record."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    ref: str
    active: bool
    created_at: datetime


class EntryOut(BaseModel):
    """One line of the timeline."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    at: datetime
    kind: str
    actor_name: str
    note: str


class IncidentDetail(IncidentSummary):
    """An incident with its description, unit name, SOP checklist, links, timeline and allowed actions."""

    description: str
    org_name: str
    steps: list[StepOut]
    links: list[LinkOut]
    timeline: list[EntryOut]
    allowed_verbs: list[Verb]


class SopStepOut(BaseModel):
    title: str
    title_en: str
    role: str


class SopOut(BaseModel):
    """An SOP template (quy trình ứng phó mẫu)."""

    code: str
    name: str
    name_en: str
    severity: Severity
    responsible_unit: str
    dedup_radius_m: float
    dedup_window_minutes: int
    aliases: list[str]
    steps: list[SopStepOut]


class StatRowOut(BaseModel):
    """Handling figures of one unit and category (times in minutes)."""

    model_config = ConfigDict(from_attributes=True)

    org_id: str
    org_name: str
    category: str
    total: int
    open: int
    acknowledged: int
    resolved: int
    mean_minutes_to_acknowledge: float | None
    mean_minutes_to_resolve: float | None


class StatsOut(BaseModel):
    """Statistics of incidents opened in a period."""

    since: datetime | None
    until: datetime | None
    rows: list[StatRowOut]
