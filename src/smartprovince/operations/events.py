"""Events of the operations module: what it publishes and the feeds it listens to.

Published (payload: ``incident_id``, ``status``, ``category``, ``severity``, ``source``, ``org_id``,
``title``, ``lat``, ``lon``, ``note`` and the verb's own fields):
``operations.incident.opened``, ``.linked``, ``.acknowledged``, ``.started``, ``.escalated``,
``.assigned``, ``.step_done``, ``.step_undone``, ``.link_cleared``, ``.resolved``, ``.reopened``, ``.closed``.

Listened to (each handler is idempotent: a record already linked is not linked twice):

* ``feedback.report.created`` — a citizen report (phản ánh) opens or joins an incident;
  ``feedback.report.resolved`` / ``.closed`` / ``.merged`` end its link (an incident made only of reports
  resolves); ``feedback.report.reopened`` makes the link active again and reopens a resolved incident
  (a closed one stays closed: the report opens or joins a new incident);
* ``sensing.alert.raised`` / ``sensing.alert.cleared`` — a sensor threshold alert opens or joins an
  incident; when every alert of an incident has cleared, the incident resolves itself;
* ``operations.incident.ingest`` — the generic entry for other feeds (AI cameras, the SOC, a hotline
  desk): the same fields as ``POST /api/v1/operations/incidents`` plus ``kind`` and ``ref`` of the record.

Payload fields are read leniently (``lat`` / ``latitude``, ``lon`` / ``long`` / ``longitude``,
``category`` / ``service_code`` …) because each feed names them its own way; see docs/operations.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from smartprovince.core.bus import Event, subscribe
from smartprovince.core.security import SYSTEM
from smartprovince.operations import lifecycle, service
from smartprovince.operations.sops import match_category


def _first(p: dict[str, Any], *names: str) -> Any:
    for n in names:
        v = p.get(n)
        if v not in (None, ""):
            return v
    return None


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN is no location


def _location(p: dict[str, Any]) -> tuple[float | None, float | None]:
    raw_loc = p.get("location")
    loc: dict[str, Any] = raw_loc if isinstance(raw_loc, dict) else {}
    lat = _float(_first(p, "lat", "latitude") or _first(loc, "lat", "latitude"))
    lon = _float(_first(p, "lon", "long", "lng", "longitude") or _first(loc, "lon", "long", "lng", "longitude"))
    coords = p.get("coordinates")
    if (lat is None or lon is None) and isinstance(coords, list | tuple) and len(coords) >= 2:
        lon, lat = _float(coords[0]), _float(coords[1])  # GeoJSON order: longitude, latitude
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return lat, lon


def _severity(v: Any) -> str | None:
    v = str(v).lower() if v is not None else None
    return (
        v
        if v in lifecycle.SEVERITIES
        else {"warning": "medium", "alarm": "high", "emergency": "critical", "info": "low"}.get(v or "")
    )


def event_time(p: dict[str, Any], event: Event) -> datetime:
    """When the record happened: the payload's own time when it has one, else when the event was published."""
    for name in ("occurred_at", "trigger_time", "cleared_at", "at", "created_at", "raised_at", "requested_datetime"):
        raw = p.get(name)
        if isinstance(raw, str):
            try:
                t = datetime.fromisoformat(raw)
            except ValueError:
                continue
            return t if t.tzinfo is not None else t.replace(tzinfo=UTC)
    return event.occurred_at


def input_from_payload(p: dict[str, Any], *, source: str, kind: str, default_title: str) -> service.IncidentInput:
    """Turn a feed's event payload into an :class:`service.IncidentInput` (lenient field names)."""
    lat, lon = _location(p)
    ref = _first(p, "ref", "id", "alert_id", "report_id", "service_request_id", "code")
    category = match_category(
        *(
            p.get(k)
            for k in (
                "category",
                "service_code",
                "category_code",
                "observed_property",
                "threshold",
                "datastream",
                "category_name",
                "kind",
                "type",
            )
        )
    )
    named = " · ".join(str(p[k]) for k in ("thing", "threshold", "category_name", "address") if p.get(k))
    title = str(_first(p, "title", "name", "summary", "message") or named or default_title)[:300]
    return service.IncidentInput(
        source=str(_first(p, "source") or source)[:40],
        category=str(category),
        title=title,
        description=str(_first(p, "description", "message", "details") or "")[:4000],
        severity=_severity(_first(p, "severity", "level")),
        lat=lat,
        lon=lon,
        address=str(_first(p, "address", "address_string", "place") or "")[:500],
        org_id=_first(p, "org_id", "unit_id", "responsible_org_id"),
        org_code=_first(p, "org_code", "unit_code"),
        links=[(kind, str(ref)[:200])] if ref is not None else [],
        dedup_key=_first(p, "dedup_key"),
    )


@subscribe("feedback.report.created", name="operations.incident_from_report")
def on_report_created(session: Session, event: Event) -> None:
    """A citizen report opens (or joins) an incident."""
    p = event.payload if isinstance(event.payload, dict) else {}
    data = input_from_payload(p, source="citizen_report", kind="feedback_report", default_title="Phản ánh hiện trường")
    data.occurred_at = event_time(p, event)
    service.open_incident(session, actor=SYSTEM, data=data)


def _end_report_link(session: Session, event: Event, *, note: str) -> None:
    """End the incident link of the citizen report named in the event's payload (``id``)."""
    p = event.payload if isinstance(event.payload, dict) else {}
    if p.get("id") is not None:
        service.clear_link(
            session, actor=SYSTEM, kind="feedback_report", ref=str(p["id"])[:200], note=note, at=event_time(p, event)
        )


@subscribe("feedback.report.resolved", name="operations.incident_report_resolved")
def on_report_resolved(session: Session, event: Event) -> None:
    """The unit resolved the citizen report: its link is over; an incident made only of reports resolves."""
    _end_report_link(session, event, note="Phản ánh đã được xử lý")


@subscribe("feedback.report.closed", name="operations.incident_report_closed")
def on_report_closed(session: Session, event: Event) -> None:
    """A closed report is over too (a second call for a resolved one changes nothing)."""
    on_report_resolved(session, event)


@subscribe("feedback.report.merged", name="operations.incident_report_merged")
def on_report_merged(session: Session, event: Event) -> None:
    """A report merged into another follows that one: its own link is over (the main report's stays)."""
    _end_report_link(session, event, note="Phản ánh được gộp vào phản ánh khác")


@subscribe("feedback.report.reopened", name="operations.incident_report_reopened")
def on_report_reopened(session: Session, event: Event) -> None:
    """The citizen reopened the report (not fixed): its link is active again and the incident reopens."""
    p = event.payload if isinstance(event.payload, dict) else {}
    if p.get("id") is None:
        return
    data = input_from_payload(p, source="citizen_report", kind="feedback_report", default_title="Phản ánh hiện trường")
    data.occurred_at = event_time(p, event)
    service.reopen_link(session, actor=SYSTEM, data=data, note="Người dân mở lại phản ánh (chưa được khắc phục)")


@subscribe("sensing.alert.raised", name="operations.incident_from_sensor_alert")
def on_alert_raised(session: Session, event: Event) -> None:
    """A sensor alert opens (or joins) an incident."""
    p = event.payload if isinstance(event.payload, dict) else {}
    data = input_from_payload(p, source="sensor", kind="sensor_alert", default_title="Cảnh báo cảm biến")
    data.occurred_at = event_time(p, event)
    service.open_incident(session, actor=SYSTEM, data=data)


@subscribe("sensing.alert.cleared", name="operations.incident_sensor_alert_cleared")
def on_alert_cleared(session: Session, event: Event) -> None:
    """A sensor alert is over: mark its link cleared; resolve the incident when every alert has cleared."""
    p = event.payload if isinstance(event.payload, dict) else {}
    ref = _first(p, "ref", "id", "alert_id")
    if ref is not None:
        service.clear_link(session, actor=SYSTEM, kind="sensor_alert", ref=str(ref)[:200], at=event_time(p, event))


@subscribe("operations.incident.ingest", name="operations.incident_ingest")
def on_ingest(session: Session, event: Event) -> None:
    """Generic feed (cameras, SOC, hotline): ``kind`` names the record type, default ``external``."""
    p = event.payload if isinstance(event.payload, dict) else {}
    kind = str(_first(p, "kind_of_record", "record_kind") or f"{_first(p, 'source') or 'external'}_event")[:40]
    data = input_from_payload(p, source="external", kind=kind, default_title="Sự cố")
    data.occurred_at = event_time(p, event)
    service.open_incident(session, actor=SYSTEM, data=data)
