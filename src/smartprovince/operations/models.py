"""Tables of the operations module (điều hành — the IOC): incidents, their links, SOP steps and timeline.

* :class:`Incident` — sự cố, one situation the operations centre follows until it is closed;
* :class:`IncidentLink` — a record of another system that belongs to the incident (a citizen report,
  a sensor alert, a camera event …); one record belongs to at most one incident (deduplication);
* :class:`IncidentStep` — one step of the standard operating procedure (SOP, quy trình ứng phó) copied
  onto the incident when it opens; operators tick steps as they are done;
* :class:`IncidentEntry` — the append-only timeline (diễn biến) of the incident; the live feed reads it.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.ids import new_id


class Incident(Base):
    """Sự cố — one incident: where, what, how serious, which unit is responsible and how far it is handled.

    ``org_id`` is the responsible unit (đơn vị chủ trì); ``org_path`` is a copy of that unit's path in
    the organisation tree, so access checks and lists filter by subtree without a join. ``status``
    follows :mod:`smartprovince.operations.lifecycle`; the ``*_at`` times are set by it.
    """

    __tablename__ = "operations_incident"
    __table_args__ = (Index("ix_operations_incident_open", "status", "category"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(40), index=True)  # citizen_report | sensor | camera | soc | manual …
    category: Mapped[str] = mapped_column(String(60), index=True)  # SOP code (flooding, fire …)
    severity: Mapped[str] = mapped_column(String(20))  # low | medium | high | critical
    status: Mapped[str] = mapped_column(String(20), index=True)
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    address: Mapped[str] = mapped_column(String(500), default="")
    org_id: Mapped[str] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    org_path: Mapped[str] = mapped_column(String(1024), index=True)
    dedup_key: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentLink(Base):
    """Bản ghi liên kết — a record of another module that belongs to an incident.

    ``kind`` says what it is (``feedback_report``, ``sensor_alert``, ``camera_event``, ``soc_alert``,
    ``dossier`` …) and ``ref`` is its id there. ``active`` is false once the source says the record is
    over (a sensor alert that cleared).
    """

    __tablename__ = "operations_incident_link"
    __table_args__ = (UniqueConstraint("kind", "ref", name="uq_operations_incident_link_kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ForeignKey("operations_incident.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    ref: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentStep(Base):
    """Bước xử lý — one step of the SOP checklist of an incident, in order (``position`` 1, 2, …).

    ``role`` is the built-in role code of who does it (e.g. ``ioc_operator``); ``done_at`` is set when an
    operator ticks it and cleared when the tick is removed.
    """

    __tablename__ = "operations_incident_step"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ForeignKey("operations_incident.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300), default="")
    role: Mapped[str] = mapped_column(String(40))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(150), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")


class IncidentEntry(Base):
    """Diễn biến — one line of an incident's timeline: what happened, when, and who did it.

    ``id`` is time-ordered (``core.ids.new_id``), so the live feed sends entries in id order and a client
    resumes after the last id it saw. ``org_path`` copies the incident's path at that moment (scoping).
    """

    __tablename__ = "operations_incident_entry"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    incident_id: Mapped[str] = mapped_column(ForeignKey("operations_incident.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(40))  # opened | linked | acknowledged | escalated | step_done …
    actor_name: Mapped[str] = mapped_column(String(150))
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    org_path: Mapped[str] = mapped_column(String(1024), index=True)


class DailyCount(Base):
    """Đếm theo ngày — how many times something happened on one day (Vietnam time) in one organisation.

    Filled by the bus handlers of :mod:`smartprovince.operations.kpi` from other modules' events
    (dossiers received / finished on time, citizen reports received / resolved), so the IOC wall shows
    figures without reading other modules' tables. ``org_id`` is ``""`` when the event named no unit.
    """

    __tablename__ = "operations_daily_count"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org_path: Mapped[str] = mapped_column(String(1024), index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
