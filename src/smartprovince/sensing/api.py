"""HTTP of the sensing module.

* ``sta_router`` — OGC SensorThings API v1.1 under ``/sta/v1.1`` (a raw router: the standard defines
  its own documents, so it stays out of the platform's OpenAPI description). Reads are public for
  public stations; writes take a platform user (HTTP Basic or bearer, permission
  ``sensing.sta.write``) or a device credential (Basic ``thing-<id>``) that may only add
  observations to its own Thing's datastreams.
* ``router`` — the platform's JSON API under ``/api/v1/sensing``: stations, series, VN_AQI,
  thresholds, alerts, device credentials.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from smartprovince.core import clock
from smartprovince.core.db import Database
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import BadRequest, NotFound, ValidationProblem
from smartprovince.core.security import SYSTEM, Actor, check_permission, current_actor, public, require
from smartprovince.sensing import basic_cache, ingest, queries, service, sta
from smartprovince.sensing.schemas import (
    AlertList,
    AqiOut,
    DeviceCredential,
    SeriesOut,
    StationList,
    ThresholdCreate,
    ThresholdList,
    ThresholdPublic,
    ThresholdUpdate,
)

STA_PREFIX = "/sta/v1.1"
WRITE = "sensing.sta.write"
MAX_BODY = 64 * 1024 * 1024

sta_router = APIRouter(prefix=STA_PREFIX, include_in_schema=False)
router = APIRouter(prefix="/sensing", tags=["sensing"])

_READ = "SensorThings reads are public for public stations (open data); other stations need sensing.station.read"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + STA_PREFIX


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not credentials.strip():
        return None
    try:
        user, _, password = base64.b64decode(credentials.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _resolve_basic_user(request: Request, resolve: Any) -> Actor:
    """Run the platform's ``resolve`` dependency, first trying the verified-credential cache for Basic."""
    creds = _basic(request)
    if creds is None or getattr(request.state, "actor", None) is not None:
        return resolve(request)  # type: ignore[no-any-return]
    db: Database = request.app.state.db
    with db.session(write=False) as session:
        cached = basic_cache.lookup(session, *creds)
    if cached is not None:
        request.state.actor = cached
        return resolve(request)  # type: ignore[no-any-return]
    actor: Actor = resolve(request)
    if actor.auth_method == "basic":
        with db.session(write=False) as session:
            basic_cache.remember(session, creds[0], creds[1], actor)
    return actor


def sta_writer(request: Request) -> Actor:
    """A device (Basic ``thing-<id>:<secret>``) or a user holding ``sensing.sta.write``."""
    creds = _basic(request)
    if creds is not None and creds[0].startswith(service.DEVICE_PREFIX):
        db: Database = request.app.state.db
        with db.session(write=False) as session:
            actor = service.device_actor(session, *creds)
        if actor is None:
            from smartprovince.core.errors import Unauthorized

            raise Unauthorized("Device credential not valid.")
        request.state.actor = actor
        return actor
    return _resolve_basic_user(request, _require_write)


def _require_write(request: Request) -> Actor:
    return check_permission(request, WRITE)


_public_read = current_actor


def sta_reader(request: Request) -> Actor:
    """Anybody (public stations); HTTP Basic users are checked through the verified-credential cache."""
    return _resolve_basic_user(request, _public_read)


sta_reader.__public__ = _READ  # type: ignore[attr-defined]


sta_writer.__permission__ = WRITE  # type: ignore[attr-defined]


# ------------------------------------------------------------------------------------------ SensorThings


@sta_router.get("")
def sta_root(request: Request, _: Actor = Depends(sta_reader)) -> Response:
    """The service root: entity sets and the conformance classes this server implements."""
    base = _base(request)
    return _json({
        "value": [{"name": name, "url": f"{base}/{name}"} for name in sta.SETS],
        "serverSettings": {"conformance": [
            "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/create-update-delete",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/data-array/data-array",
            "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation",
        ], "http://www.opengis.net/spec/iot_sensing/1.1/req/create-observations-via-mqtt/observations-creation": {
            "endpoints": ["mqtt://<broker>:1883"]}},
    })


def _params(request: Request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items()}


@sta_router.get("/{path:path}")
def sta_read(path: str, request: Request, session: DbSession, actor: Actor = Depends(sta_reader)) -> Response:
    """Read entities, collections, properties (``/name``, ``/name/$value``) and references (``$ref``)."""
    if not path.strip("/"):
        return sta_root(request, actor)
    rp = sta.parse_path(path)
    es, conds = sta.path_condition(rp.segments, actor)
    reader = sta.Reader(session, _base(request), actor)
    try:
        if rp.ref:
            opts = sta.parse_options(_params(request), es)
            coll = reader.collection(es, conds, opts, None)
            links = [{"@iot.selfLink": v["@iot.selfLink"]} for v in coll["value"]]
            return _json(links[0] if rp.single and links else {"value": links})
        if rp.property:
            row = session.scalars(sa.select(es.model).where(*conds).limit(1)).first()
            if row is None:
                raise NotFound(f"No such {es.singular}.")
            value = row.id if rp.property == "id" else sta.to_json(es, row).get(rp.property)
            if rp.value:
                if value is None:
                    raise NotFound(f"{rp.property} has no value.")
                text = value if isinstance(value, str) else orjson.dumps(value).decode()
                return Response(text, media_type="text/plain")
            return _json({rp.property: value})
        opts = sta.parse_options(_params(request), es)
        if rp.single:
            row = session.scalars(sa.select(es.model).where(*conds).limit(1)).first()
            if row is None:
                raise NotFound(f"No such {es.singular}.")
            return _json(reader.entity(es, row, opts))
        return _json(reader.collection(es, conds, opts, f"{_base(request)}/{path.strip('/')}", _params(request)))
    except (sa.exc.DBAPIError, sa.exc.StatementError, OverflowError) as exc:
        raise BadRequest("The query cannot be run (check the types in $filter).") from exc


async def _body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        from smartprovince.core.errors import PayloadTooLarge

        raise PayloadTooLarge("The request body is too large.")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


def _run_write(request: Request, fn: Any) -> Any:
    db: Database = request.app.state.db
    try:
        with db.session() as session:
            return fn(session)
    except sa.exc.IntegrityError as exc:
        raise BadRequest("The change breaks a rule of the data model (a link points to nothing?).") from exc
    except (sa.exc.DataError, OverflowError) as exc:
        raise BadRequest("A value is out of range.") from exc


def _parent(session: Any, rp: sta.ResourcePath) -> tuple[str, Any] | None:
    if len(rp.segments) < 2:
        return None
    parent_es, conds = sta.path_condition(rp.segments[:-1], SYSTEM)
    row = session.scalars(sa.select(parent_es.model).where(*conds).limit(1)).first()
    if row is None:
        raise NotFound(f"No such {parent_es.singular}.")
    name = next(n for n, nav in rp.entity_set.navs.items() if nav.target == parent_es.name)
    return name, row


async def _create_observations(request: Request, actor: Actor, base: str) -> Response:
    """The DataArray batch: parse, store and answer with the collector paused (see ``ingest.gc_paused``)."""
    with ingest.gc_paused():
        body = await _body(request)

        def work_many(session: Any) -> bytes:
            ids = service.create_observations_data_array(session, actor=actor, body=body)
            prefix = f"{base}/Observations("
            return orjson.dumps([f"{prefix}{i})" for i in ids])

        content = await run_in_threadpool(_run_write, request, work_many)
    return Response(content, status_code=201, media_type="application/json")


@sta_router.post("/{path:path}")
async def sta_create(path: str, request: Request, actor: Actor = Depends(sta_writer)) -> Response:
    """Create an entity (deep insert allowed), or many observations with ``CreateObservations``."""
    base = _base(request)
    if path.strip("/") == "CreateObservations":
        return await _create_observations(request, actor, base)
    body = await _body(request)
    rp = sta.parse_path(path)
    if rp.single or rp.property or rp.ref:
        raise BadRequest("POST goes to a collection, for example /Things or /Datastreams(1)/Observations.")

    def work(session: Any) -> tuple[str, dict[str, Any]]:
        parent = _parent(session, rp)
        row = service.create_entity(session, actor=actor, es=rp.entity_set, body=body, parent=parent)
        reader = sta.Reader(session, base, SYSTEM)
        return reader.self_link(rp.entity_set, row.id), reader.entity(rp.entity_set, row, sta.Options())

    link, data = await run_in_threadpool(_run_write, request, work)
    return _json(data, status=201, headers={"Location": link})


async def _update(path: str, request: Request, actor: Actor) -> Response:
    body = await _body(request)
    rp = sta.parse_path(path)
    if not rp.single or rp.property or rp.ref or rp.segments[-1].id is None:
        raise BadRequest("PATCH and PUT go to one entity, for example /Things(1).")
    is_patch_doc = request.headers.get("content-type", "").startswith("application/json-patch+json")
    base = _base(request)

    def work(session: Any) -> dict[str, Any]:
        es, conds = sta.path_condition(rp.segments, SYSTEM)
        row = session.scalars(sa.select(es.model).where(*conds).limit(1)).first()
        if row is None:
            raise NotFound(f"No such {es.singular}.")
        changes = body
        if is_patch_doc:
            before = sta.to_json(es, row)
            after = service.apply_json_patch(before, body)
            changes = {k: v for k, v in after.items() if before.get(k) != v}
            changes.update({k: None for k in before if k not in after})
        service.update_entity(session, actor=actor, es=es, row=row, body=changes)
        return sta.Reader(session, base, SYSTEM).entity(es, row, sta.Options())

    data = await run_in_threadpool(_run_write, request, work)
    return _json(data)


@sta_router.patch("/{path:path}")
async def sta_patch(path: str, request: Request, actor: Actor = Depends(sta_writer)) -> Response:
    """Change an entity: JSON merge (``application/json``) or JSON Patch (``application/json-patch+json``)."""
    return await _update(path, request, actor)


@sta_router.put("/{path:path}")
async def sta_put(path: str, request: Request, actor: Actor = Depends(sta_writer)) -> Response:
    """Change an entity (the properties sent replace the stored ones)."""
    return await _update(path, request, actor)


@sta_router.delete("/{path:path}")
async def sta_delete(path: str, request: Request, actor: Actor = Depends(sta_writer)) -> Response:
    """Delete an entity and what depends on it."""
    rp = sta.parse_path(path)
    if not rp.single or rp.property or rp.ref or rp.segments[-1].id is None:
        raise BadRequest("DELETE goes to one entity, for example /Things(1).")

    def work(session: Any) -> None:
        es, conds = sta.path_condition(rp.segments, SYSTEM)
        row = session.scalars(sa.select(es.model).where(*conds).limit(1)).first()
        if row is None:
            raise NotFound(f"No such {es.singular}.")
        service.delete_entity(session, actor=actor, es=es, row=row)

    await run_in_threadpool(_run_write, request, work)
    return Response(status_code=200)


# ------------------------------------------------------------------------------------------ JSON API

_STATIONS = "station positions and current values of public stations are open data"


@router.get("/stations", response_model=StationList, summary="Stations with their current values")
def list_stations(session: DbSession, kind: Literal["air", "water", "traffic", "parking"] | None = None,
                  actor: Actor = Depends(public(_STATIONS))) -> dict[str, Any]:
    return {"items": queries.stations(session, actor, kind=kind)}


@router.get("/datastreams/{datastream_id}/series", response_model=SeriesOut,
            summary="Minute or hour series of a datastream (from the rollups)")
def datastream_series(
    datastream_id: int, session: DbSession,
    period: Literal["minute", "hour"] = "hour",
    start: str | None = Query(None, alias="from", description="Start (ISO 8601 with zone); default 3 days ago"),
    end: str | None = Query(None, alias="to", description="End (ISO 8601 with zone); default now"),
    actor: Actor = Depends(public(_STATIONS)),
) -> dict[str, Any]:
    ds = queries.access_datastream_by_id(session, actor, datastream_id)
    end_t = _aware(sta.parse_time(end, "'to'")) if end else clock.now()
    start_t = _aware(sta.parse_time(start, "'from'")) if start else end_t - timedelta(days=3)
    if start_t >= end_t:
        raise BadRequest("'from' must be before 'to'.")
    limit = timedelta(days=2) if period == "minute" else timedelta(days=400)
    if end_t - start_t > limit:
        raise BadRequest(f"At most {limit.days} days of {period} buckets per request.")
    return {"datastream_id": ds.id, "period": period, "unit": (ds.unit_of_measurement or {}).get("symbol"),
            "points": queries.series(session, ds.id, period=period, start=start_t, end=end_t)}


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise BadRequest("Times must carry a zone (…Z or +07:00).")
    try:
        return value.astimezone(clock.now().tzinfo)
    except (OverflowError, ValueError):
        raise BadRequest("Time out of range.") from None


@router.get("/stations/{thing_id}/aqi", response_model=AqiOut, summary="Hourly and daily VN_AQI of a station")
def station_aqi(thing_id: int, session: DbSession, actor: Actor = Depends(public(_STATIONS))) -> dict[str, Any]:
    thing = queries.access_thing_by_id(session, actor, thing_id)
    return {"thing_id": thing.id, **queries.station_aqi(session, thing)}


@router.get("/thresholds", response_model=ThresholdList, summary="Alarm rules")
def list_thresholds(session: DbSession, _: Actor = Depends(require("sensing.alert.read"))) -> dict[str, Any]:
    return {"items": [ThresholdPublic.model_validate(t) for t in queries.thresholds(session)]}


@router.post("/thresholds", response_model=ThresholdPublic, status_code=201, summary="Add an alarm rule")
def add_threshold(body: ThresholdCreate, session: DbSession,
                  actor: Actor = Depends(require("sensing.threshold.manage"))) -> ThresholdPublic:
    row = service.create_threshold(session, actor=actor, **body.model_dump())
    return ThresholdPublic.model_validate(row)


@router.patch("/thresholds/{threshold_id}", response_model=ThresholdPublic, summary="Change an alarm rule")
def change_threshold(threshold_id: str, body: ThresholdUpdate, session: DbSession,
                     actor: Actor = Depends(require("sensing.threshold.manage"))) -> ThresholdPublic:
    changes = body.model_dump(exclude_unset=True)
    for key in ("name", "observed_property_id", "kind", "value", "severity", "is_active", "level"):
        if key in changes and changes[key] is None:
            raise ValidationProblem(f"{key} cannot be null.")
    row = service.update_threshold(session, actor=actor, threshold_id=threshold_id, changes=changes)
    return ThresholdPublic.model_validate(row)


@router.delete("/thresholds/{threshold_id}", status_code=204, summary="Remove an alarm rule")
def remove_threshold(threshold_id: str, session: DbSession,
                     actor: Actor = Depends(require("sensing.threshold.manage"))) -> Response:
    service.delete_threshold(session, actor=actor, threshold_id=threshold_id)
    return Response(status_code=204)


@router.get("/alerts", response_model=AlertList, summary="Sensor alerts, newest first")
def list_alerts(session: DbSession, state: Literal["active", "cleared"] | None = None,
                limit: int = Query(200, ge=1, le=1000),
                _: Actor = Depends(require("sensing.alert.read"))) -> dict[str, Any]:
    return {"items": queries.alerts(session, state=state, limit=limit)}


@router.post("/things/{thing_id}/device-credential", response_model=DeviceCredential, status_code=201,
             summary="Issue a new device credential for a Thing (the old one stops working)")
def issue_credential(thing_id: int, session: DbSession,
                     actor: Actor = Depends(require("sensing.device.manage"))) -> dict[str, Any]:
    if not 0 <= thing_id < 2**31:
        raise NotFound("No such Thing.")
    secret = service.issue_device_credential(session, actor=actor, thing_id=thing_id)
    return {"thing_id": thing_id, "username": f"{service.DEVICE_PREFIX}{thing_id}", "secret": secret}

