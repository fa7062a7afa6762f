"""Reads of the operations module, always narrowed to the organisations the actor may see.

``access_incident_by_id`` is the only way to fetch one incident: it raises the same ``NotFound`` for an
incident that does not exist and for one outside the actor's organisations.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor
from smartprovince.operations import lifecycle
from smartprovince.operations.models import Incident, IncidentEntry, IncidentLink, IncidentStep

READ = "operations.incident.read"


def _scope(column: Any, actor: Actor, permission: str) -> Any:
    """SQL condition: ``column`` (an org path) lies in one of the actor's subtrees for ``permission``."""
    scopes = actor.scopes(permission)
    if "" in scopes:
        return None
    if not scopes:
        return false()
    return or_(*[column.startswith(p) for p in scopes])


def incidents_query(
    actor: Actor,
    *,
    status: str | None = None,
    category: str | None = None,
    severity: str | None = None,
    source: str | None = None,
    open_only: bool = False,
    org_id: str | None = None,
    org_path: str | None = None,
    categories: list[str] | None = None,
) -> Select[Any]:
    """Incidents the actor may read, filtered; ``org_path`` keeps one subtree (a district's room)."""
    stmt = select(Incident)
    cond = _scope(Incident.org_path, actor, READ)
    if cond is not None:
        stmt = stmt.where(cond)
    if status:
        stmt = stmt.where(Incident.status == status)
    if open_only:
        stmt = stmt.where(Incident.status.in_(lifecycle.OPEN_STATUSES))
    if category:
        stmt = stmt.where(Incident.category == category)
    if severity:
        stmt = stmt.where(Incident.severity == severity)
    if source:
        stmt = stmt.where(Incident.source == source)
    if org_id:
        stmt = stmt.where(Incident.org_id == org_id)
    if org_path:
        stmt = stmt.where(Incident.org_path.startswith(org_path))
    if categories:
        stmt = stmt.where(Incident.category.in_(categories))
    return stmt


def access_incident_by_id(session: Session, actor: Actor, incident_id: str, *, permission: str = READ) -> Incident:
    """The incident, if it exists and the actor holds ``permission`` over its responsible unit."""
    inc = session.get(Incident, incident_id) if len(incident_id) <= 32 else None
    if inc is None:
        raise NotFound("No such incident.")
    if not actor.can(permission, inc.org_path):
        raise NotFound("No such incident.")
    return inc


def steps(session: Session, incident_id: str) -> list[IncidentStep]:
    """The SOP checklist of an incident, in order."""
    return list(
        session.scalars(
            select(IncidentStep).where(IncidentStep.incident_id == incident_id).order_by(IncidentStep.position)
        )
    )


def links(session: Session, incident_id: str) -> list[IncidentLink]:
    """The records linked to an incident, oldest first."""
    return list(
        session.scalars(
            select(IncidentLink)
            .where(IncidentLink.incident_id == incident_id)
            .order_by(IncidentLink.created_at, IncidentLink.id)
        )
    )


def timeline(session: Session, incident_id: str) -> list[IncidentEntry]:
    """The timeline of an incident, oldest first."""
    return list(
        session.scalars(
            select(IncidentEntry).where(IncidentEntry.incident_id == incident_id).order_by(IncidentEntry.id)
        )
    )


def latest_entry_id(session: Session) -> str:
    """The id of the newest timeline entry ('' when there is none): where a new live feed starts."""
    return session.scalar(select(func.max(IncidentEntry.id))) or ""


def entries_after(
    session: Session, actor: Actor, after_id: str, *, limit: int = 100
) -> list[tuple[IncidentEntry, Incident]]:
    """Timeline entries newer than ``after_id`` that the actor may read, with their incident (live feed)."""
    stmt = (
        select(IncidentEntry, Incident)
        .join(Incident, Incident.id == IncidentEntry.incident_id)
        .where(IncidentEntry.id > after_id)
        .order_by(IncidentEntry.id)
        .limit(limit)
    )
    cond = _scope(IncidentEntry.org_path, actor, READ)
    if cond is not None:
        stmt = stmt.where(cond)
    return [(e, i) for e, i in session.execute(stmt)]


def org_names(session: Session, ids: set[str]) -> dict[str, str]:
    """Organisation id → name for the given ids."""
    out = {}
    for org_id in ids:
        org = identity.get_org(session, org_id)
        if org is not None:
            out[org_id] = org.name
    return out


@dataclass
class StatRow:
    """Handling figures of one unit and category: counts and mean minutes to acknowledge and to resolve."""

    org_id: str
    org_name: str
    category: str
    total: int
    open: int
    acknowledged: int
    resolved: int
    mean_minutes_to_acknowledge: float | None
    mean_minutes_to_resolve: float | None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def stats(
    session: Session,
    actor: Actor,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str = "org_category",
    categories: list[str] | None = None,
) -> list[StatRow]:
    """Mean time to acknowledge (MTTA) and to resolve (MTTR), in minutes, per unit and category.

    Counts incidents opened in ``[since, until)``. ``by`` groups per ``org_category`` (default), ``org``
    or ``category`` (the other key is then ``""``). Times to resolve count resolved and closed incidents.
    """
    stmt = select(
        Incident.org_id,
        Incident.category,
        Incident.status,
        Incident.opened_at,
        Incident.acknowledged_at,
        Incident.resolved_at,
    )
    cond = _scope(Incident.org_path, actor, READ)
    if cond is not None:
        stmt = stmt.where(cond)
    if since is not None:
        stmt = stmt.where(Incident.opened_at >= since)
    if until is not None:
        stmt = stmt.where(Incident.opened_at < until)
    if categories:
        stmt = stmt.where(Incident.category.in_(categories))
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: {"total": 0, "open": 0, "ack": [], "res": []})
    for org_id, category, status, opened, acked, resolved in session.execute(stmt):
        key = (org_id if by != "category" else "", category if by != "org" else "")
        g = groups[key]
        g["total"] += 1
        g["open"] += status in lifecycle.OPEN_STATUSES
        if acked is not None:
            g["ack"].append((acked - opened).total_seconds() / 60)
        if resolved is not None:
            g["res"].append((resolved - opened).total_seconds() / 60)
    names = org_names(session, {k[0] for k in groups if k[0]})
    rows = [
        StatRow(
            org_id=o,
            org_name=names.get(o, ""),
            category=c,
            total=g["total"],
            open=g["open"],
            acknowledged=len(g["ack"]),
            resolved=len(g["res"]),
            mean_minutes_to_acknowledge=_mean(g["ack"]),
            mean_minutes_to_resolve=_mean(g["res"]),
        )
        for (o, c), g in groups.items()
    ]
    rows.sort(key=lambda r: (r.org_name, r.category))
    return rows


def tiles(session: Session, actor: Actor, *, since: datetime, categories: list[str] | None = None) -> dict[str, Any]:
    """Figures for the IOC wall's tile row: open, critical open, unacknowledged, handled since ``since``
    (``categories``: only those incident categories — a sector room)."""
    # Every figure below counts open incidents only: the status index then skips the closed ones.
    base = incidents_query(actor, categories=categories, open_only=True).subquery()
    counted = select(base.c.status, base.c.severity, func.count()).group_by(base.c.status, base.c.severity)
    result: Any = session.execute(counted)
    rows: list[tuple[str, str, int]] = [(str(st), str(sev), int(n or 0)) for st, sev, n in result]
    open_total = sum(n for s, _, n in rows if s in lifecycle.OPEN_STATUSES)
    critical = sum(n for s, sev, n in rows if s in lifecycle.OPEN_STATUSES and sev == "critical")
    new = sum(n for s, _, n in rows if s == "new")
    escalated = sum(n for s, _, n in rows if s == "escalated")
    # Grouped by category, not unit: the totals are the same and no unit names are looked up.
    recent = stats(session, actor, since=since, by="category", categories=categories)
    resolved = sum(r.resolved for r in recent)
    total = sum(r.total for r in recent)
    ack = [r.mean_minutes_to_acknowledge * r.acknowledged for r in recent if r.mean_minutes_to_acknowledge is not None]
    ack_n = sum(r.acknowledged for r in recent if r.mean_minutes_to_acknowledge is not None)
    return {
        "open": open_total,
        "critical": critical,
        "new": new,
        "escalated": escalated,
        "opened_recent": total,
        "resolved_recent": resolved,
        "mtta_recent": round(sum(ack) / ack_n, 1) if ack_n else None,
    }
