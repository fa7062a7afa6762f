"""Open311 GeoReport v2 at ``/open311/v2/`` — any Open311 client can list services and send reports.

Endpoints (each ends in ``.json`` or ``.xml``): ``discovery``, ``services``, ``services/{code}``,
``requests`` (GET with the standard filters, POST with ``api_key``), ``requests/{id}``,
``tokens/{token}``. ``jurisdiction_id`` is accepted and must match the installation's when given.

Mapping: a *service* is a report category; ``service_request_id`` is the report code; the status is
``open`` until the report is resolved, then ``closed``; ``agency_responsible`` is the unit's name.
Extensions: ``POST requests`` also accepts ``multipart/form-data`` with up to five photos or videos in
fields named ``media`` (JPEG or PNG, 10 MB each, EXIF removed; MP4, MOV or WebM up to the video settings,
location and personal metadata removed; ``media_url`` is then the first of them), and the optional
``area_code`` (commune code)
used for routing. The reporter's contact is never returned.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile

from smartprovince import identity
from smartprovince.core import clock
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from smartprovince.core.security import Actor, public
from smartprovince.core.storage import Storage
from smartprovince.feedback import api, categories, lifecycle, queries, ratelimit, service
from smartprovince.feedback.models import Report

router = APIRouter(prefix="/open311/v2", include_in_schema=False)

Fmt = Literal["json", "xml"]
MAX_RESULTS = 1000
REASON = "Open311 GeoReport v2 is a public standard API; writes need an API key"


def _check_jurisdiction(request: Request) -> None:
    wanted = request.query_params.get("jurisdiction_id")
    if wanted and wanted != request.app.state.feedback_config.jurisdiction_id:
        raise NotFound(f"Unknown jurisdiction_id {wanted!r}.")


def _xml(root: str, item: str, rows: list[dict[str, Any]]) -> Response:
    top = ET.Element(root)
    for row in rows:
        _append(top, item, row)
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8", xml_declaration=False)
    return Response(body, media_type="text/xml; charset=utf-8")


def _append(parent: ET.Element, name: str, value: Any) -> None:
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, list):
                holder = ET.SubElement(el, k)
                child = {"attributes": "attribute", "values": "value", "endpoints": "endpoint",
                         "formats": "format"}.get(k, "item")
                for x in v:
                    _append(holder, child, x)
            else:
                _append(el, k, v)
    elif value is None:
        pass
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    else:
        el.text = str(value)


def _out(fmt: str, root: str, item: str, rows: list[dict[str, Any]], *, status: int = 200) -> Response:
    if fmt == "xml":
        resp = _xml(root, item, rows)
        resp.status_code = status
        return resp
    return JSONResponse(rows, status_code=status)


def _service(c: categories.Category) -> dict[str, Any]:
    return {"service_code": c.code, "service_name": c.name, "description": c.name_en, "metadata": True,
            "type": "realtime", "keywords": c.keywords or None, "group": c.group or None}


def _definition(session: Any, c: categories.Category) -> dict[str, Any]:
    communes = list(session.scalars(select(identity.Organisation).where(identity.Organisation.level == "commune")
                                    .order_by(identity.Organisation.name).limit(2000)))
    return {"service_code": c.code, "attributes": [
        {"variable": True, "code": "area_code", "datatype": "singlevaluelist", "required": False,
         "datatype_description": "Xã/phường nơi xảy ra sự việc (commune of the problem); routes the report.",
         "order": 1, "description": "Xã, phường, thị trấn",
         "values": [{"key": o.code, "name": o.name} for o in communes]},
    ]}


def _request_out(session: Any, r: Report) -> dict[str, Any]:
    cat = categories.get_category(r.category_code)
    unit = identity.get_org(session, r.unit_id)
    first = session.scalar(select(queries.ReportMedia.id).where(queries.ReportMedia.report_id == r.id)
                           .order_by(queries.ReportMedia.created_at).limit(1))
    base = str(session.info.get("base_url", "")).rstrip("/")
    return {
        "service_request_id": r.code, "status": lifecycle.open311_status(r.status),
        "status_notes": r.status_note, "service_name": cat.name if cat else None, "service_code": r.category_code,
        "description": r.description, "agency_responsible": unit.name if unit else None,
        "service_notice": None, "requested_datetime": r.created_at.isoformat(),
        "updated_datetime": r.updated_at.isoformat(), "expected_datetime": r.due_at.isoformat(),
        "address": r.address, "address_id": None, "zipcode": None, "lat": r.lat, "long": r.lon,
        "media_url": f"{base}/api/v1/feedback/media/{first}" if first else None,
    }


@router.get("/discovery.{fmt}")
def discovery(fmt: Fmt, request: Request, _: Actor = Depends(public(REASON))) -> Response:
    base = str(request.base_url).rstrip("/") + "/open311/v2/"
    doc = {"changeset": "2026-12-02T00:00:00Z", "contact": "Trung tâm Giám sát, điều hành thông minh tỉnh",
           "key_service": "Khóa API do quản trị cấp: smartprovince feedback create-key NAME",
           "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": base,
                          "changeset": "2026-12-02T00:00:00Z", "type": "production", "formats": ["text/xml",
                                                                                                 "application/json"]}]}
    if fmt == "xml":
        top = ET.Element("discovery")
        for k, v in doc.items():
            if k != "endpoints":
                ET.SubElement(top, k).text = str(v)
        eps = ET.SubElement(top, "endpoints")
        for ep in doc["endpoints"]:  # type: ignore[union-attr]
            _append(eps, "endpoint", ep)
        return Response(b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8"),
                        media_type="text/xml; charset=utf-8")
    return JSONResponse(doc)


@router.get("/services.{fmt}")
def services(fmt: Fmt, request: Request, _: Actor = Depends(public(REASON))) -> Response:
    _check_jurisdiction(request)
    return _out(fmt, "services", "service", [_service(c) for c in categories.all_categories()])


@router.get("/services/{service_code}.{fmt}")
def service_definition(service_code: str, fmt: Fmt, request: Request, session: DbSession,
                       _: Actor = Depends(public(REASON))) -> Response:
    _check_jurisdiction(request)
    c = categories.get_category(service_code)
    if c is None:
        raise NotFound(f"No service {service_code!r}.")
    d = _definition(session, c)
    if fmt == "xml":
        top = ET.Element("service_definition")
        ET.SubElement(top, "service_code").text = d["service_code"]
        attrs = ET.SubElement(top, "attributes")
        for a in d["attributes"]:
            _append(attrs, "attribute", a)
        return Response(b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(top, encoding="utf-8"),
                        media_type="text/xml; charset=utf-8")
    return JSONResponse(d)


def _parse_dt(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"{name} must be a W3C date-time such as 2026-01-01T00:00:00Z.") from exc
    if dt.tzinfo is None:
        raise BadRequest(f"{name} needs a time zone (Z or +07:00).")
    return dt


@router.get("/requests.{fmt}")
def list_requests(fmt: Fmt, request: Request, session: DbSession, _: Actor = Depends(public(REASON))) -> Response:
    _check_jurisdiction(request)
    session.info["base_url"] = str(request.base_url)
    q = request.query_params
    ids = [x for x in (q.get("service_request_id") or "").split(",") if x][:MAX_RESULTS]
    if ids:
        rows = list(session.scalars(select(Report).where(Report.code.in_(ids)).order_by(Report.created_at.desc())))
    else:
        # GeoReport v2: status "can be declared multiple times, comma delimited" (open,closed = every status).
        wanted = {x.strip() for x in (q.get("status") or "").split(",") if x.strip()}
        if not wanted <= {"open", "closed"}:
            raise BadRequest("status must be open, closed or both (comma delimited).")
        status = wanted.pop() if len(wanted) == 1 else None
        end = _parse_dt(q.get("end_date"), "end_date") or clock.now()
        start = _parse_dt(q.get("start_date"), "start_date") or end - timedelta(days=90)
        if end - start > timedelta(days=90):
            raise BadRequest("start_date and end_date may not span more than 90 days.")
        stmt = queries.public_query(category=q.get("service_code"), status=status, since=start, until=end)
        rows = list(session.scalars(stmt.order_by(Report.created_at.desc()).limit(MAX_RESULTS)))
    return _out(fmt, "service_requests", "request", [_request_out(session, r) for r in rows])


@router.get("/requests/{service_request_id}.{fmt}")
def get_request(service_request_id: str, fmt: Fmt, request: Request, session: DbSession,
                _: Actor = Depends(public(REASON))) -> Response:
    _check_jurisdiction(request)
    session.info["base_url"] = str(request.base_url)
    r = session.scalar(select(Report).where(Report.code == service_request_id))
    if r is None:
        raise NotFound(f"No service request {service_request_id!r}.")
    return _out(fmt, "service_requests", "request", [_request_out(session, r)])


@router.get("/tokens/{token}.{fmt}")
def get_token(token: str, fmt: Fmt, request: Request, session: DbSession,
              _: Actor = Depends(public(REASON))) -> Response:
    _check_jurisdiction(request)
    r = queries.report_by_token(session, token)
    return _out(fmt, "service_requests", "request", [{"service_request_id": r.code, "token": token}])


def _float(value: Any, name: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"{name} must be a number.") from exc


@router.post("/requests.{fmt}")
async def create_request(fmt: Fmt, request: Request, session: DbSession,
                         actor: Actor = Depends(public(REASON))) -> Response:
    _check_jurisdiction(request)
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise BadRequest("Send the request as application/x-www-form-urlencoded or multipart/form-data.")
    try:
        form = await request.form(max_files=service.photos.MAX_PHOTOS, max_fields=200,
                                  max_part_size=service.photos.MAX_PHOTO_BYTES + 1)
    except Exception as exc:  # noqa: BLE001 - starlette raises several kinds for a bad form body
        if "exceed" in str(exc).lower() or "too large" in str(exc).lower():
            raise PayloadTooLarge("A form field is too large.") from exc
        raise BadRequest(f"The form cannot be read: {exc}") from exc
    db = request.app.state.db
    # The key is checked and the hit counted before the request's session writes: on SQLite that session
    # holds the write lock from its first statement, which the counter's own transaction would wait for.
    with db.session(write=False) as lookup:
        client = service.client_for_key(lookup, str(form.get("api_key") or request.query_params.get("api_key") or ""))
    if client is None:
        raise Forbidden("A valid api_key is required to create service requests.")
    ratelimit.hit(db, f"client:{client.id}", client.rate_per_minute)
    attrs = {k[len("attribute["):-1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")}
    first, last = str(form.get("first_name") or ""), str(form.get("last_name") or "")
    uploads: list[service.Photo] = []
    for item in form.getlist("media"):
        if isinstance(item, UploadFile):
            uploads.append(service.Photo(data=await item.read(), filename=item.filename,
                                         content_type=item.content_type))
    if not str(form.get("description") or "").strip():
        raise BadRequest("description is required.")
    storage = Storage(request.app.state.settings)
    r = service.submit_report(session, actor=actor, storage=storage, report=service.NewReport(
        category_code=str(form.get("service_code") or ""), description=str(form.get("description") or ""),
        lat=_float(form.get("lat"), "lat"), lon=_float(form.get("long"), "long"),
        address=str(form.get("address_string") or "") or None,
        area_code=str(attrs.get("area_code") or form.get("area_code") or "") or None,
        reporter_name=(f"{last} {first}".strip() or None), reporter_email=str(form.get("email") or "") or None,
        reporter_phone=str(form.get("phone") or "") or None, channel="open311", client_id=client.id, photos=uploads),
        video_limits=api.video_limits(request))
    row = {"service_request_id": r.code, "token": r.token,
           "service_notice": f"Hạn xử lý: {r.due_at.astimezone(clock.VN_TZ):%d/%m/%Y %H:%M}"}
    # No account_id: the specification makes it optional and types it as a string, so null would be invalid.
    return _out(fmt, "service_requests", "request", [row])

