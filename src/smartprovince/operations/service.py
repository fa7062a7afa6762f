"""Writes of the operations module: open an incident (from the bus or by hand), act on it, tick SOP steps.

Every function here is ``verb_noun(session, *, actor, ...)``: it checks the actor, changes rows, writes
an audit entry (``core.audit.record``) and publishes ``operations.incident.<verb>`` on the bus in the
caller's transaction, so the change, its audit entry and its event are committed together or not at all.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core import audit, bus, clock
from smartprovince.core.errors import Conflict, NotFound, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import Actor
from smartprovince.operations import lifecycle, queries
from smartprovince.operations.models import Incident, IncidentEntry, IncidentLink, IncidentStep
from smartprovince.operations.sops import sop_for

MANAGE = "operations.incident.manage"
SEVERITY_RANK = {s: i for i, s in enumerate(lifecycle.SEVERITIES)}


@dataclass
class IncidentInput:
    """What is known when an incident opens. ``links`` are ``(kind, ref)`` pairs of the records it comes from.

    ``org_id`` / ``org_code`` name the responsible unit; without them the SOP's default unit is used,
    and without that the province (root of the organisation tree).
    """

    source: str
    category: str
    title: str
    description: str = ""
    severity: str | None = None
    lat: float | None = None
    lon: float | None = None
    address: str = ""
    org_id: str | None = None
    org_code: str | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    dedup_key: str | None = None
    occurred_at: datetime | None = None  # when the record happened (a feed's time); default: now


_last_entry_id = ["0" * 32]
_entry_lock = threading.Lock()


def _entry_id() -> str:
    """A time-ordered id that is also strictly increasing within this process.

    Two entries made in the same millisecond would otherwise sort at random, and the live feed,
    which resumes after the last id it sent, relies on the order.
    """
    nid = new_id()
    with _entry_lock:
        if nid <= _last_entry_id[0]:
            nid = f"{int(_last_entry_id[0], 16) + 1:032x}"
        _last_entry_id[0] = nid
    return nid


def _name(actor: Actor) -> str:
    if actor.kind == "system":
        return "Hệ thống"  # shown translated on the pages
    return (actor.display_name or actor.username or actor.kind)[:150]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points (haversine formula)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(min(1.0, math.sqrt(a)))


def _payload(inc: Incident, **extra: Any) -> dict[str, Any]:
    return {
        "incident_id": inc.id,
        "status": inc.status,
        "category": inc.category,
        "severity": inc.severity,
        "source": inc.source,
        "org_id": inc.org_id,
        "title": inc.title,
        "lat": inc.lat,
        "lon": inc.lon,
        **extra,
    }


def _record(
    session: Session,
    *,
    actor: Actor,
    inc: Incident,
    verb: str,
    kind: str,
    note: str = "",
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> IncidentEntry:
    """Timeline entry + audit row + event, all in the caller's transaction."""
    data = data or {}
    entry = IncidentEntry(
        id=_entry_id(),
        incident_id=inc.id,
        at=at or clock.now(),
        kind=kind,
        actor_name=_name(actor),
        note=note,
        data=data,
        org_path=inc.org_path,
    )
    session.add(entry)
    audit.record(
        session,
        actor=actor,
        action=f"operations.incident.{verb}",
        object_type="operations_incident",
        object_id=inc.id,
        data={"status": inc.status, "note": note, **data},
        org_path=inc.org_path,
    )
    bus.publish(session, f"operations.incident.{verb}", _payload(inc, note=note, **data), key=inc.id)
    return entry


def _resolve_org(session: Session, data: IncidentInput, default_code: str) -> identity.Organisation:
    if data.org_id:
        org = identity.get_org(session, str(data.org_id)[:32])
        if org is not None:
            return org  # an unknown id (a feed's stale reference) falls back to the defaults below
    for code in (data.org_code, default_code):
        if code:
            org = identity.get_org_by_code(session, code)
            if org is not None:
                return org
    root = session.scalar(
        select(identity.Organisation)
        .where(identity.Organisation.parent_id.is_(None))
        .order_by(identity.Organisation.path)
        .limit(1)
    )
    if root is None:
        raise ValidationProblem("There is no organisation to make responsible for the incident.")
    return root


def _existing_link(session: Session, links: list[tuple[str, str]]) -> IncidentLink | None:
    for kind, ref in links:
        row = session.scalar(select(IncidentLink).where(IncidentLink.kind == kind, IncidentLink.ref == ref))
        if row is not None:
            return row
    return None


def find_duplicate(session: Session, data: IncidentInput, category: str) -> Incident | None:
    """An open incident this new record belongs to, or ``None``.

    Rules, in order: the same ``dedup_key`` on an open incident; else the same category, opened within
    the SOP's time window and no farther than its radius (both records need a location).
    """
    if data.dedup_key:
        inc = session.scalar(
            select(Incident)
            .where(Incident.dedup_key == data.dedup_key, Incident.status.in_(lifecycle.OPEN_STATUSES))
            .limit(1)
        )
        if inc is not None:
            return inc
    sop = sop_for(category)
    if data.lat is None or data.lon is None or sop.dedup_radius_m <= 0 or sop.dedup_window_minutes <= 0:
        return None
    since = (data.occurred_at or clock.now()) - timedelta(minutes=sop.dedup_window_minutes)
    candidates = session.scalars(
        select(Incident)
        .where(
            Incident.category == category,
            Incident.status.in_(lifecycle.OPEN_STATUSES),
            Incident.opened_at >= since,
            Incident.lat.is_not(None),
        )
        .order_by(Incident.opened_at.desc())
        .limit(200)
    )
    best: tuple[float, Incident] | None = None
    for inc in candidates:
        d = distance_m(data.lat, data.lon, inc.lat, inc.lon)  # type: ignore[arg-type]
        if d <= sop.dedup_radius_m and (best is None or d < best[0]):
            best = (d, inc)
    return best[1] if best else None


def _validate(data: IncidentInput) -> None:
    if data.severity is not None and data.severity not in lifecycle.SEVERITIES:
        raise ValidationProblem(f"Unknown severity {data.severity!r}; use one of {', '.join(lifecycle.SEVERITIES)}.")
    if (data.lat is None) != (data.lon is None):
        raise ValidationProblem("Give both lat and lon, or neither.")
    if data.lat is not None and not (-90 <= data.lat <= 90 and -180 <= data.lon <= 180):  # type: ignore[operator]
        raise ValidationProblem("lat must be within -90..90 and lon within -180..180.")
    if not data.title.strip():
        raise ValidationProblem("An incident needs a title.")


def open_incident(session: Session, *, actor: Actor, data: IncidentInput) -> tuple[Incident, bool]:
    """Mở sự cố — open an incident, or attach the record to the open incident it duplicates.

    Returns ``(incident, created)``. A record already linked (same ``kind`` and ``ref``) returns its
    incident and changes nothing except re-activating the link (an alert raised again), so the
    function is safe to call twice for the same event. A new incident gets the SOP checklist of its
    category and publishes ``operations.incident.opened``; a duplicate publishes
    ``operations.incident.linked`` and raises the incident's severity when the new record is worse.
    """
    _validate(data)
    sop = sop_for(data.category)
    category = sop.code
    severity = data.severity or sop.severity
    now = clock.now()
    at = min(data.occurred_at, now) if data.occurred_at is not None else now

    known = _existing_link(session, data.links)
    if known is not None:
        inc = session.get(Incident, known.incident_id)
        assert inc is not None
        if not known.active:
            known.active = True
            inc.updated_at = now
            _record(
                session,
                actor=actor,
                inc=inc,
                verb="linked",
                kind="relinked",
                note="Bản ghi liên kết được báo lại",
                data={"kind": known.kind, "ref": known.ref},
            )
        return inc, False

    dup = find_duplicate(session, data, category)
    if dup is not None:
        for kind, ref in data.links:
            session.add(IncidentLink(incident_id=dup.id, kind=kind, ref=ref, active=True, created_at=at))
        if SEVERITY_RANK[severity] > SEVERITY_RANK[dup.severity]:
            dup.severity = severity
        dup.updated_at = now
        _record(
            session,
            actor=actor,
            inc=dup,
            verb="linked",
            kind="linked",
            note=data.title[:300],
            data={"source": data.source, "links": [f"{k}:{r}" for k, r in data.links]},
            at=at,
        )
        return dup, False

    org = _resolve_org(session, data, sop.responsible_unit)
    inc = Incident(
        title=data.title.strip()[:300],
        description=data.description,
        source=data.source[:40],
        category=category,
        severity=severity,
        status="new",
        lat=data.lat,
        lon=data.lon,
        address=data.address[:500],
        org_id=org.id,
        org_path=org.path,
        dedup_key=(data.dedup_key or None),
        escalations=0,
        opened_at=at,
        updated_at=now,
    )
    session.add(inc)
    session.flush()
    for kind, ref in data.links:
        session.add(IncidentLink(incident_id=inc.id, kind=kind, ref=ref, active=True, created_at=at))
    for i, step in enumerate(sop.steps, start=1):
        session.add(
            IncidentStep(
                incident_id=inc.id, position=i, title=step.title, title_en=step.title_en, role=step.role, note=""
            )
        )
    _record(
        session,
        actor=actor,
        inc=inc,
        verb="opened",
        kind="opened",
        note=data.title[:300],
        data={"sop": sop.code, "org_name": org.name, "links": [f"{k}:{r}" for k, r in data.links]},
        at=at,
    )
    return inc, True


def _apply(
    session: Session,
    *,
    actor: Actor,
    inc: Incident,
    verb: str,
    note: str,
    extra: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Incident:
    at = max(min(at, clock.now()), inc.opened_at) if at is not None else clock.now()
    try:
        new = lifecycle.apply(
            lifecycle.Times(inc.status, inc.acknowledged_at, inc.resolved_at, inc.closed_at, inc.escalations),
            verb,
            at,
        )
    except lifecycle.InvalidTransition as exc:
        raise Conflict(f"Cannot {verb} an incident that is {inc.status}.") from exc
    inc.status, inc.acknowledged_at, inc.resolved_at = new.status, new.acknowledged_at, new.resolved_at
    inc.closed_at, inc.escalations, inc.updated_at = new.closed_at, new.escalations, clock.now()
    _record(
        session, actor=actor, inc=inc, verb=lifecycle.EVENT_OF_VERB[verb], kind=verb, note=note, data=extra or {}, at=at
    )
    return inc


def act_on_incident(session: Session, *, actor: Actor, incident_id: str, verb: str, note: str = "") -> Incident:
    """Tiếp nhận / xử lý / chuyển cấp trên / xử lý xong / mở lại / đóng — move an incident through its life.

    ``escalate`` hands the incident to the parent unit of its responsible unit (409 at the root).
    Any other verb follows :mod:`lifecycle`; a verb not allowed now is a 409 Conflict.
    """
    inc = queries.access_incident_by_id(session, actor, incident_id, permission=MANAGE)
    if verb == "escalate":
        org = identity.get_org(session, inc.org_id)
        parent = identity.get_org(session, org.parent_id) if org is not None and org.parent_id else None
        if parent is None:
            raise Conflict("The responsible unit has no parent unit to escalate to.")
        if inc.status not in lifecycle.TRANSITIONS["escalate"][0]:
            raise Conflict(f"Cannot escalate an incident that is {inc.status}.")
        extra = {"from_org_id": inc.org_id, "to_org_id": parent.id, "org_name": parent.name}
        inc.org_id, inc.org_path = parent.id, parent.path
        return _apply(session, actor=actor, inc=inc, verb=verb, note=note, extra=extra)
    if verb not in lifecycle.TRANSITIONS:
        raise ValidationProblem(f"Unknown action {verb!r}.")
    return _apply(session, actor=actor, inc=inc, verb=verb, note=note)


def assign_incident(session: Session, *, actor: Actor, incident_id: str, org_id: str, note: str = "") -> Incident:
    """Giao đơn vị chủ trì — make another unit responsible; the actor must manage both units."""
    inc = queries.access_incident_by_id(session, actor, incident_id, permission=MANAGE)
    if inc.status == "closed":
        raise Conflict("A closed incident cannot be assigned.")
    org = identity.get_org(session, org_id)
    if org is None or not actor.can(MANAGE, org.path):
        raise ValidationProblem("Unknown organisation, or one you do not manage.")
    if org.id == inc.org_id:
        return inc
    extra = {"from_org_id": inc.org_id, "to_org_id": org.id, "org_name": org.name}
    inc.org_id, inc.org_path, inc.updated_at = org.id, org.path, clock.now()
    _record(session, actor=actor, inc=inc, verb="assigned", kind="assigned", note=note, data=extra)
    return inc


def set_step(session: Session, *, actor: Actor, incident_id: str, step_id: str, done: bool, note: str = "") -> Incident:
    """Đánh dấu bước SOP — tick (``done=True``) or untick one checklist step of an open incident."""
    inc = queries.access_incident_by_id(session, actor, incident_id, permission=MANAGE)
    step = session.get(IncidentStep, step_id)
    if step is None or step.incident_id != inc.id:
        raise NotFound("No such step in this incident.")
    if inc.status == "closed":
        raise Conflict("The checklist of a closed incident cannot change.")
    if done == (step.done_at is not None):
        return inc
    step.done_at, step.done_by = (clock.now(), _name(actor)) if done else (None, None)
    step.note = note or step.note
    inc.updated_at = clock.now()
    _record(
        session,
        actor=actor,
        inc=inc,
        verb="step_done" if done else "step_undone",
        kind="step_done" if done else "step_undone",
        note=step.title,
        data={"step_id": step.id, "position": step.position},
    )
    return inc


def clear_link(
    session: Session, *, actor: Actor, kind: str, ref: str, note: str = "", at: datetime | None = None
) -> Incident | None:
    """Kết thúc bản ghi liên kết — the source says a record is over (a sensor alert cleared, a report resolved).

    When every linked record of the incident is over and all of them are of the same kind, the
    incident is resolved automatically (``operations.incident.resolved`` with ``auto: true``) at ``at``
    (the source's time; default now).
    Returns the incident, or ``None`` when the record belongs to none. Calling it twice does nothing more.
    """
    link = session.scalar(select(IncidentLink).where(IncidentLink.kind == kind, IncidentLink.ref == ref))
    if link is None or not link.active:
        return None
    link.active = False
    inc = session.get(Incident, link.incident_id)
    assert inc is not None
    inc.updated_at = clock.now()
    _record(
        session,
        actor=actor,
        inc=inc,
        verb="link_cleared",
        kind="link_cleared",
        note=note or "Bản ghi liên kết đã kết thúc",
        data={"kind": kind, "ref": ref},
        at=at,
    )
    links = list(session.scalars(select(IncidentLink).where(IncidentLink.incident_id == inc.id)))
    if inc.status in lifecycle.OPEN_STATUSES and all(not lk.active and lk.kind == kind for lk in links):
        _apply(
            session,
            actor=actor,
            inc=inc,
            verb="resolve",
            note="Tự động: mọi bản ghi liên kết đã kết thúc",
            extra={"auto": True},
            at=at,
        )
    return inc


def reopen_link(session: Session, *, actor: Actor, data: IncidentInput, note: str = "") -> Incident:
    """Bản ghi liên kết mở lại — the source says a record that was over is open again (a citizen reopened
    a report that was not really fixed).

    The record's link becomes active again and a *resolved* incident is reopened (back to in progress,
    ``operations.incident.reopened``). A *closed* incident stays closed (closing is final): the record
    opens — or joins — a new incident and its link moves there. A record no incident knows opens one
    (:func:`open_incident`). Calling it twice does nothing more.
    """
    if not data.links:
        raise ValidationProblem("reopen_link needs the (kind, ref) of the record.")
    kind, ref = data.links[0]
    link = session.scalar(select(IncidentLink).where(IncidentLink.kind == kind, IncidentLink.ref == ref))
    if link is None:
        return open_incident(session, actor=actor, data=data)[0]
    inc = session.get(Incident, link.incident_id)
    assert inc is not None
    if inc.status == "closed":
        data.links = []
        new, _ = open_incident(session, actor=actor, data=data)
        link.incident_id, link.active = new.id, True
        new.updated_at = clock.now()
        _record(session, actor=actor, inc=new, verb="linked", kind="relinked",
                note=note or "Bản ghi liên kết được mở lại", data={"kind": kind, "ref": ref, "from": inc.id})
        return new
    if link.active:
        return inc
    link.active = True
    inc.updated_at = clock.now()
    _record(session, actor=actor, inc=inc, verb="linked", kind="relinked",
            note=note or "Bản ghi liên kết được mở lại", data={"kind": kind, "ref": ref})
    if inc.status == "resolved":
        _apply(session, actor=actor, inc=inc, verb="reopen", note=note or "Bản ghi liên kết được mở lại",
               at=data.occurred_at)
    return inc
