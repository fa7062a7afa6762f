"""HTTP API of the operations module, under ``/api/v1/operations``: parse, authorise, call the service, return."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from smartprovince.core.clock import VN_TZ
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import ValidationProblem
from smartprovince.core.pagination import CursorParams, Page, paginate
from smartprovince.core.security import Actor, require
from smartprovince.operations import lifecycle, live, queries, service
from smartprovince.operations.models import Incident
from smartprovince.operations.schemas import (
    ActionIn,
    AssignIn,
    IncidentCreate,
    IncidentDetail,
    IncidentSummary,
    Severity,
    SopOut,
    StatsOut,
    Status,
    StepIn,
)
from smartprovince.operations.sops import all_sops

router = APIRouter(prefix="/operations", tags=["operations"])

READ = "operations.incident.read"
MANAGE = "operations.incident.manage"


def detail(session: Any, inc: Incident) -> IncidentDetail:
    """The full view of one incident (the caller has already checked access)."""
    names = queries.org_names(session, {inc.org_id})
    base = IncidentSummary.model_validate(inc, from_attributes=True).model_dump()
    return IncidentDetail(
        **base,
        description=inc.description,
        org_name=names.get(inc.org_id, ""),
        steps=queries.steps(session, inc.id),
        links=queries.links(session, inc.id),
        timeline=queries.timeline(session, inc.id),
        allowed_verbs=lifecycle.allowed_verbs(inc.status),
    )


def period(from_date: date | None, to_date: date | None) -> tuple[datetime | None, datetime | None]:
    """Vietnamese calendar days ``[from_date, to_date]`` as UTC instants ``[since, until)``."""
    if from_date and to_date and to_date < from_date:
        raise ValidationProblem("to_date is before from_date.")
    since = datetime.combine(from_date, time(), tzinfo=VN_TZ) if from_date else None
    until = (
        datetime.combine(to_date + timedelta(days=1), time(), tzinfo=VN_TZ) if to_date and to_date < date.max else None
    )
    return since, until


@router.get("/incidents", response_model=Page[IncidentSummary], summary="Incidents of the actor's units")
def list_incidents(
    session: DbSession,
    params: CursorParams = Depends(),
    status: Status | None = None,
    open_only: bool = False,
    category: str | None = Query(None, max_length=60),
    severity: Severity | None = None,
    source: str | None = Query(None, max_length=40),
    org_id: str | None = Query(None, max_length=32),
    actor: Actor = Depends(require(READ)),
) -> Page[Any]:
    stmt = queries.incidents_query(
        actor, status=status, open_only=open_only, category=category, severity=severity, source=source, org_id=org_id
    )
    return paginate(
        session, stmt, params, key=Incident.opened_at, descending=True, tiebreak=Incident.id, into=IncidentSummary
    )


@router.post(
    "/incidents",
    response_model=IncidentDetail,
    status_code=201,
    summary="Open an incident by hand (joins an open duplicate when there is one)",
)
def create_incident(
    body: IncidentCreate, session: DbSession, actor: Actor = Depends(require(MANAGE))
) -> IncidentDetail:
    data = service.IncidentInput(
        source=body.source,
        category=body.category,
        title=body.title,
        description=body.description,
        severity=body.severity,
        lat=body.lat,
        lon=body.lon,
        address=body.address,
        org_id=body.org_id,
        links=[(lk.kind, lk.ref) for lk in body.links],
        dedup_key=body.dedup_key,
    )
    if body.org_id:
        from smartprovince import identity

        org = identity.get_org(session, body.org_id)
        if org is None or not actor.can(MANAGE, org.path):
            raise ValidationProblem("Unknown organisation, or one you do not manage.")
    inc, _ = service.open_incident(session, actor=actor, data=data)
    if not actor.can(READ, inc.org_path):
        raise ValidationProblem("The incident went to a unit outside your organisations; give org_id.")
    return detail(session, inc)


@router.get("/incidents/stream", include_in_schema=False)
async def stream_incidents(
    request: Request,
    after: str | None = Query(None, max_length=32, description="Send entries after this id (default: from now)"),
    timeout: float = Query(300, ge=0, le=live.MAX_TIMEOUT_SECONDS, description="End the stream after seconds"),
    actor: Actor = Depends(require(READ)),
) -> StreamingResponse:
    """Live feed (text/event-stream): one ``incident`` message per new timeline entry, data as JSON."""

    def fmt(entry: Any, inc: Any) -> tuple[str, str]:
        return "incident", json.dumps(live.entry_json(entry, inc), ensure_ascii=False)

    gen = live.incident_stream(request, actor, after=live.start_after(request, after), timeout=timeout, fmt=fmt)
    return StreamingResponse(gen, media_type="text/event-stream", headers=live.SSE_HEADERS)


@router.get("/incidents/stats", response_model=StatsOut, summary="Mean time to acknowledge and resolve")
def incident_stats(
    session: DbSession,
    from_date: date | None = Query(None, description="First day (Vietnam time), inclusive"),
    to_date: date | None = Query(None, description="Last day (Vietnam time), inclusive"),
    by: str = Query("org_category", pattern="^(org_category|org|category)$"),
    actor: Actor = Depends(require(READ)),
) -> StatsOut:
    since, until = period(from_date, to_date)
    rows = queries.stats(session, actor, since=since, until=until, by=by)
    return StatsOut(since=since, until=until, rows=rows)  # type: ignore[arg-type]


@router.get("/incidents/map", summary="Open incidents as GeoJSON points (for maps)")
def incidents_geojson(session: DbSession, actor: Actor = Depends(require(READ))) -> dict[str, Any]:
    stmt = (
        queries.incidents_query(actor, open_only=True)
        .where(Incident.lat.is_not(None))
        .order_by(Incident.opened_at.desc())
        .limit(5000)
    )
    features = [
        {
            "type": "Feature",
            "id": i.id,
            "geometry": {"type": "Point", "coordinates": [i.lon, i.lat]},
            "properties": {
                "title": i.title,
                "status": i.status,
                "severity": i.severity,
                "category": i.category,
                "url": f"/ioc/incidents/{i.id}",
            },
        }
        for i in session.scalars(stmt)
    ]
    return {"type": "FeatureCollection", "features": features}


@router.get("/incidents/{incident_id}", response_model=IncidentDetail, summary="One incident with its timeline")
def get_incident(incident_id: str, session: DbSession, actor: Actor = Depends(require(READ))) -> IncidentDetail:
    return detail(session, queries.access_incident_by_id(session, actor, incident_id))


@router.post(
    "/incidents/{incident_id}/actions",
    response_model=IncidentDetail,
    summary="Acknowledge, start, escalate, resolve, reopen or close",
)
def act(
    incident_id: str, body: ActionIn, session: DbSession, actor: Actor = Depends(require(MANAGE))
) -> IncidentDetail:
    inc = service.act_on_incident(session, actor=actor, incident_id=incident_id, verb=body.verb, note=body.note)
    return detail(session, inc)


@router.post("/incidents/{incident_id}/assign", response_model=IncidentDetail, summary="Make another unit responsible")
def assign(
    incident_id: str, body: AssignIn, session: DbSession, actor: Actor = Depends(require(MANAGE))
) -> IncidentDetail:
    inc = service.assign_incident(session, actor=actor, incident_id=incident_id, org_id=body.org_id, note=body.note)
    return detail(session, inc)


@router.post(
    "/incidents/{incident_id}/steps/{step_id}", response_model=IncidentDetail, summary="Tick or untick an SOP step"
)
def step(
    incident_id: str, step_id: str, body: StepIn, session: DbSession, actor: Actor = Depends(require(MANAGE))
) -> IncidentDetail:
    inc = service.set_step(
        session, actor=actor, incident_id=incident_id, step_id=step_id, done=body.done, note=body.note
    )
    return detail(session, inc)


@router.get("/sops", response_model=list[SopOut], summary="SOP templates per incident category")
def list_sops(_: Actor = Depends(require(READ))) -> list[SopOut]:
    return [
        SopOut(
            code=s.code,
            name=s.name,
            name_en=s.name_en,
            severity=s.severity,  # type: ignore[arg-type]
            responsible_unit=s.responsible_unit,
            dedup_radius_m=s.dedup_radius_m,
            dedup_window_minutes=s.dedup_window_minutes,
            aliases=list(s.aliases),
            steps=[{"title": st.title, "title_en": st.title_en, "role": st.role} for st in s.steps],
        )  # type: ignore[misc]
        for s in all_sops().values()
    ]
