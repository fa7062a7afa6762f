"""Daily counts of the IOC wall (số liệu theo ngày), counted from other modules' events: the areas table and
the live ``kpi`` messages read them (the top KPI row reads the stored KPI values: ``headline.py``).

Handlers here count, per day (Vietnam time) and organisation, what other modules announce on the bus:

| metric | event |
|---|---|
| ``dossiers_received`` / ``dossiers_received_online`` | ``procedures.dossier.received`` (``channel`` online) |
| ``dossiers_finished`` / ``dossiers_finished_on_time`` | ``procedures.dossier.finished`` (``finished_at`` ≤ due) |
| ``reports_received`` | ``feedback.report.created`` |
| ``reports_resolved`` | ``feedback.report.resolved`` |

The bus delivers each event once per handler (processed-event table), so each counts once. Only
events published after the operations module is installed are counted: records imported in bulk
without events (the procedures demo's 2023 history) are not. Active sensor alerts come from the
incidents' own links (every sensor alert opens or joins an incident).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session

from smartprovince import identity
from smartprovince.core.bus import Event, subscribe
from smartprovince.core.clock import VN_TZ, local_now
from smartprovince.core.security import Actor
from smartprovince.operations.models import DailyCount, Incident, IncidentLink

READ = "operations.incident.read"


def _time(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        t = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def _day(p: dict[str, Any], event: Event, *names: str) -> date:
    for n in names:
        t = _time(p.get(n))
        if t is not None:
            return t.astimezone(VN_TZ).date()
    return event.occurred_at.astimezone(VN_TZ).date()


def bump(session: Session, *, day: date, metric: str, org: Any, n: int = 1) -> None:
    """Add ``n`` to the day's count of ``metric`` for ``org`` (an Organisation or ``None``)."""
    org_id, org_path = (org.id, org.path) if org is not None else ("", "")
    key = and_(DailyCount.day == day, DailyCount.metric == metric, DailyCount.org_id == org_id)
    done = session.execute(update(DailyCount).where(key).values(count=DailyCount.count + n))
    if done.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(insert(DailyCount).values(day=day, metric=metric, org_id=org_id, org_path=org_path, count=n))


def _org_by_id(session: Session, org_id: Any) -> Any:
    return identity.get_org(session, str(org_id)[:32]) if org_id else None


def _org_by_code(session: Session, code: Any) -> Any:
    return identity.get_org_by_code(session, str(code)[:64]) if code else None


@subscribe("procedures.dossier.received", name="operations.kpi_dossier_received")
def on_dossier_received(session: Session, event: Event) -> None:
    """Count a received dossier (and whether it came online)."""
    p = event.payload if isinstance(event.payload, dict) else {}
    org, day = _org_by_code(session, p.get("agency_code")), _day(p, event, "received_at", "at")
    bump(session, day=day, metric="dossiers_received", org=org)
    if p.get("channel") == "online":
        bump(session, day=day, metric="dossiers_received_online", org=org)


@subscribe("procedures.dossier.finished", name="operations.kpi_dossier_finished")
def on_dossier_finished(session: Session, event: Event) -> None:
    """Count a finished dossier, and whether it finished by its (extended) due time."""
    p = event.payload if isinstance(event.payload, dict) else {}
    org, day = _org_by_code(session, p.get("agency_code")), _day(p, event, "finished_at", "at")
    bump(session, day=day, metric="dossiers_finished", org=org)
    finished, due = _time(p.get("finished_at")), _time(p.get("extended_due_at")) or _time(p.get("due_at"))
    if finished is not None and (due is None or finished <= due):
        bump(session, day=day, metric="dossiers_finished_on_time", org=org)


@subscribe("feedback.report.created", name="operations.kpi_report_created")
def on_report_created(session: Session, event: Event) -> None:
    """Count a citizen report."""
    p = event.payload if isinstance(event.payload, dict) else {}
    bump(session, day=_day(p, event, "at"), metric="reports_received", org=_org_by_id(session, p.get("unit_id")))


@subscribe("feedback.report.resolved", name="operations.kpi_report_resolved")
def on_report_resolved(session: Session, event: Event) -> None:
    """Count a resolved citizen report."""
    p = event.payload if isinstance(event.payload, dict) else {}
    bump(session, day=_day(p, event, "at"), metric="reports_resolved", org=_org_by_id(session, p.get("unit_id")))


def _in_scope(column: Any, actor: Actor) -> Any:
    scopes = actor.scopes(READ)
    if "" in scopes:
        return None
    return or_(*[column.startswith(s) for s in scopes]) if scopes else column == "\x00"


def wall_kpis(session: Session, actor: Actor, *, days: int = 30) -> dict[str, Any]:
    """The KPI tile row: sums over the last ``days`` days in the actor's organisations, plus live figures."""
    since = local_now().date() - timedelta(days=days - 1)
    stmt = select(DailyCount.metric, func.sum(DailyCount.count)).where(DailyCount.day >= since)
    cond = _in_scope(DailyCount.org_path, actor)
    if cond is not None:
        stmt = stmt.where(cond)
    sums = {m: int(n or 0) for m, n in session.execute(stmt.group_by(DailyCount.metric))}
    alerts = select(func.count()).select_from(IncidentLink).join(Incident, Incident.id == IncidentLink.incident_id)
    alerts = alerts.where(IncidentLink.kind == "sensor_alert", IncidentLink.active.is_(True))
    cond = _in_scope(Incident.org_path, actor)
    if cond is not None:
        alerts = alerts.where(cond)

    def rate(part: str, whole: str) -> float | None:
        return round(100 * sums.get(part, 0) / sums[whole], 1) if sums.get(whole) else None

    return {
        "days": days,
        "dossiers_received": sums.get("dossiers_received", 0),
        "online_rate": rate("dossiers_received_online", "dossiers_received"),
        "dossiers_finished": sums.get("dossiers_finished", 0),
        "on_time_rate": rate("dossiers_finished_on_time", "dossiers_finished"),
        "reports_received": sums.get("reports_received", 0),
        "reports_resolved": sums.get("reports_resolved", 0),
        "reports_handled_rate": rate("reports_resolved", "reports_received"),
        "active_alerts": session.scalar(alerts) or 0,
    }
