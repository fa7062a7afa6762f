"""A citizen report's incident in the IOC follows the report: merging ends the duplicate's link, resolving
resolves an incident made of reports, and reopening the report reopens the incident (or opens a new one
when the old one was closed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from smartprovince.core.security import SYSTEM, Actor, Grant
from smartprovince.feedback import service
from smartprovince.feedback.models import Report
from smartprovince.operations import service as incidents
from smartprovince.operations.models import Incident, IncidentLink

OFFICER = Actor(id=None, username="cb", kind="officer", display_name="Cán bộ", grants=(Grant("feedback.*", ""),))
IOC = Actor(id=None, username="ioc", kind="officer", display_name="Trực IOC", grants=(Grant("*", ""),))


def _links(database: Any) -> dict[str, tuple[str, bool, str]]:
    """report id → (incident id, link active, incident status)."""
    with database.session() as s:
        rows = s.execute(select(IncidentLink.ref, IncidentLink.incident_id, IncidentLink.active, Incident.status)
                         .join(Incident, Incident.id == IncidentLink.incident_id)
                         .where(IncidentLink.kind == "feedback_report")).all()
    return {r.ref: (r.incident_id, r.active, r.status) for r in rows}


def test_incident_follows_merge_resolve_and_reopen(client: Any, database: Any, orgs: Any, drain: Any,
                                                   frozen_clock: list[datetime]) -> None:
    frozen_clock[0] = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    with database.session() as s:
        base = {"category_code": "road-damage", "description": "Ổ gà", "area_code": "10891", "lon": 106.20}
        first = service.submit_report(s, actor=SYSTEM, report=service.NewReport(lat=20.95, **base))
        near = service.submit_report(s, actor=SYSTEM, report=service.NewReport(lat=20.9502, **base))
        ids = (first.id, near.id)
    drain()
    links = _links(database)
    assert set(links) == set(ids) and all(active for _, active, _ in links.values())

    with database.session() as s:
        a, b = s.get(Report, ids[0]), s.get(Report, ids[1])
        assert a is not None and b is not None
        service.merge_reports(s, actor=OFFICER, report=b, into=a)
    drain()
    assert _links(database)[ids[1]][1] is False  # the duplicate follows the main report
    assert _links(database)[ids[0]][1] is True

    frozen_clock[0] += timedelta(hours=5)
    with database.session() as s:
        a = s.get(Report, ids[0])
        assert a is not None
        service.accept_report(s, actor=OFFICER, report=a)
        service.resolve_report(s, actor=OFFICER, report=a, note="Đã vá")
        key = a.follow_key
    drain()
    incident_id, active, status = _links(database)[ids[0]]
    assert not active and status == "resolved"  # every report of the incident is over

    frozen_clock[0] += timedelta(days=1)
    with database.session() as s:
        a = s.get(Report, ids[0])
        assert a is not None
        service.reopen_report(s, actor=SYSTEM, report=a, reason="Vẫn còn ổ gà", follow_key=key)
    drain()
    drain()  # a second delivery changes nothing
    assert _links(database)[ids[0]] == (incident_id, True, "in_progress")

    # resolved again, then the IOC closes the incident; a later reopening opens a new incident
    frozen_clock[0] += timedelta(hours=2)
    with database.session() as s:
        a = s.get(Report, ids[0])
        assert a is not None
        service.resolve_report(s, actor=OFFICER, report=a, note="Đã vá lại")
    drain()
    assert _links(database)[ids[0]][2] == "resolved"
    with database.session() as s:
        incidents.act_on_incident(s, actor=IOC, incident_id=incident_id, verb="close", note="Hoàn tất")
    frozen_clock[0] += timedelta(hours=2)
    with database.session() as s:
        a = s.get(Report, ids[0])
        assert a is not None
        service.reopen_report(s, actor=SYSTEM, report=a, reason="Lại hỏng", follow_key=key)
    drain()
    new_id, active, status = _links(database)[ids[0]]
    assert new_id != incident_id and active and status in ("new", "acknowledged", "in_progress")
    with database.session() as s:
        old = s.get(Incident, incident_id)
        assert old is not None and old.status == "closed"
