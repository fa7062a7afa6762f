"""HTTP API of the feedback module, under ``/api/v1/feedback``: parse, authorise, call the service, return."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import Response

from smartprovince.core.clock import now
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound, Problem, ValidationProblem
from smartprovince.core.pagination import CursorParams, Page, paginate
from smartprovince.core.security import Actor, authenticated, public, require
from smartprovince.core.storage import Storage
from smartprovince.feedback import categories, notify, queries, ratelimit, service, videos
from smartprovince.feedback.models import Report
from smartprovince.feedback.schemas import (
    ActionIn,
    ApiClientCreate,
    ApiClientCreated,
    CategoryPublic,
    NotificationOut,
    RatingIn,
    ReopenIn,
    ReportCreate,
    ReportCreated,
    ReportOfficer,
    ReportPublic,
    StatOut,
)

router = APIRouter(prefix="/feedback", tags=["feedback"])

PROBLEM: dict[str, Any] = {
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
LIMITED: dict[int | str, dict[str, Any]] = {
    413: {"description": "Payload too large", **PROBLEM},
    415: {"description": "Unsupported media type", **PROBLEM},
    429: {"description": "Too many requests", **PROBLEM},
}


def limit_submissions(request: Request, actor: Actor) -> None:
    """Per-user or per-IP limit on new reports, shared by every process (see ``ratelimit``).

    Call it before the request's session is used. The hotline desk (``feedback.report.intake``) is exempt.
    """
    cfg = request.app.state.feedback_config
    db = request.app.state.db
    if actor.has(ratelimit.EXEMPT_PERMISSION):
        return
    if actor.id:
        ratelimit.hit(db, f"user:{actor.id}", ratelimit.USER_PER_MINUTE)
    else:
        ip = request.client.host if request.client else "unknown"
        ratelimit.hit(db, f"ip:{ip}", cfg.anonymous_per_minute)


def storage_of(request: Request) -> Storage:
    """The platform's file storage for photos."""
    return Storage(request.app.state.settings)


def video_limits(request: Request) -> videos.VideoLimits:
    """Largest and longest accepted video, from the settings (``SMARTPROVINCE_FEEDBACK_VIDEO_…``)."""
    cfg = request.app.state.feedback_config
    return videos.VideoLimits(max_bytes=cfg.video_max_bytes, max_seconds=cfg.video_max_seconds)


class RangeNotSatisfiable(Problem):
    """416: the asked byte range lies outside the file."""

    status = 416
    title = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"The file has {size} bytes.", size=size)


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) byte asked by a ``Range: bytes=…`` header; ``None`` = the whole file.

    Browsers ask videos by ranges (Safari plays none without it). One range only; several → whole file.
    """
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return None
    if not match.group(1):  # the last N bytes
        n = int(match.group(2))
        if n == 0:
            raise RangeNotSatisfiable(size)
        return max(0, size - n), size - 1
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size or last < first:
        raise RangeNotSatisfiable(size)
    return first, min(last, size - 1)



@router.get("/categories", response_model=list[CategoryPublic], summary="Report categories")
def list_categories(_: Actor = Depends(public("the list of report categories is public information"))) -> list[Any]:
    return [CategoryPublic(code=c.code, name=c.name, name_en=c.name_en, group=c.group, sla_hours=c.sla_hours,
                           sla_working_days=c.sla_working_days) for c in categories.all_categories()]


@router.post("/reports", response_model=ReportCreated, status_code=201, summary="Send a report", responses=LIMITED)
def create_report(
    body: ReportCreate, request: Request, session: DbSession,
    actor: Actor = Depends(public("anybody may report a problem, with or without an account; rate-limited")),
) -> dict[str, Any]:
    limit_submissions(request, actor)
    r = service.submit_report(session, actor=actor, report=service.NewReport(
        category_code=body.category, description=body.description, lat=body.lat, lon=body.lon, address=body.address,
        area_code=body.area_code, reporter_name=body.name, reporter_email=body.email, reporter_phone=body.phone,
        channel=body.channel or "api"))
    return {**queries.public_view(session, r), "follow_key": r.follow_key}


@router.get("/reports/{ref}", response_model=ReportPublic, summary="A report's public page data")
def get_report(ref: str, session: DbSession,
               _: Actor = Depends(public("reports are public without the reporter's contact"))) -> dict[str, Any]:
    return queries.public_view(session, queries.public_report(session, ref))


@router.get("/map", summary="Reports as GeoJSON for the public map",
            responses={200: {"description": "A GeoJSON FeatureCollection", "content": {"application/json": {}}}})
def map_geojson(
    session: DbSession,
    bbox: str | None = Query(None, max_length=100, description="west,south,east,north (WGS84)"),
    category: str | None = Query(None, max_length=500),
    status: Literal["open", "closed", "submitted", "accepted", "in_progress", "resolved"] | None = None,
    limit: int = Query(queries.MAP_LIMIT, ge=1, le=20000,
                       description="At most this many points, newest first; `truncated` says when there were more."),
    _: Actor = Depends(public("the public map shows reports without the reporter's contact")),
) -> Response:
    box = None
    if bbox:
        try:
            parts = [float(x) for x in bbox.split(",")]
        except ValueError as exc:
            raise ValidationProblem("bbox must be four numbers: west,south,east,north") from exc
        if len(parts) != 4:
            raise ValidationProblem("bbox must be four numbers: west,south,east,north")
        box = (parts[0], parts[1], parts[2], parts[3])
    body = queries.geojson(session, category=category, status=status, bbox=box, limit=limit)
    return Response(body, media_type="application/json")


@router.get("/media/{media_id}", summary="A report photo or video (metadata removed); byte ranges for videos",
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}, "video/mp4": {}, "video/quicktime": {},
                                         "video/webm": {}}},
                       206: {"description": "The asked byte range (Range: bytes=first-last)"},
                       416: {"description": "Range not satisfiable", **PROBLEM}})
def get_media(media_id: str, request: Request, session: DbSession,
              _: Actor = Depends(public("report photos and videos are public; their metadata is removed before "
                                        "storing"))) -> Response:
    m = queries.media_item(session, media_id)
    data = storage_of(request).open(m.key)
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400",
               "Accept-Ranges": "bytes"}
    asked = _byte_range(request.headers.get("range"), len(data))
    if asked is None:
        return Response(data, media_type=m.content_type, headers=headers)
    first, last = asked
    headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
    return Response(data[first:last + 1], status_code=206, media_type=m.content_type, headers=headers)


@router.post("/reports/{report_id}/rating", response_model=ReportPublic, summary="Rate the resolution")
def rate(report_id: str, body: RatingIn, session: DbSession,
         actor: Actor = Depends(public("the reporter rates with the login or the private follow key")),
         ) -> dict[str, Any]:
    r = queries.public_report(session, report_id)
    service.rate_report(session, actor=actor, report=r, rating=body.rating, comment=body.comment, follow_key=body.key)
    return queries.public_view(session, r)


@router.post("/reports/{report_id}/reopen", response_model=ReportPublic, summary="Reopen within the period")
def reopen(report_id: str, body: ReopenIn, session: DbSession,
           actor: Actor = Depends(public("the reporter reopens with the login or the private follow key"))
           ) -> dict[str, Any]:
    r = queries.public_report(session, report_id)
    service.reopen_report(session, actor=actor, report=r, reason=body.reason, follow_key=body.key)
    return queries.public_view(session, r)


# ----------------------------------------------------------------------------------- officers


@router.get("/worklist", response_model=Page[ReportOfficer], summary="Reports routed to the officer's units")
def worklist(
    session: DbSession, params: CursorParams = Depends(),
    status: Literal["open", "submitted", "accepted", "in_progress", "resolved", "closed"] | None = None,
    category: str | None = Query(None, max_length=64), overdue: bool = False,
    actor: Actor = Depends(require("feedback.report.read")),
) -> Page[Any]:
    stmt = queries.worklist_query(actor, status=status, category=category, overdue=overdue, now=now())
    return paginate(session, stmt, params, key=Report.created_at, descending=True, into=ReportOfficer)


@router.get("/reports/{report_id}/officer", response_model=ReportOfficer, summary="A report with the contact")
def officer_view(report_id: str, session: DbSession,
                 actor: Actor = Depends(require("feedback.report.read"))) -> Any:
    return ReportOfficer.model_validate(queries.access_report_by_id(session, actor, report_id))


@router.post("/reports/{report_id}/actions", response_model=ReportOfficer, summary="Accept, send back, update …")
def act(report_id: str, body: ActionIn, session: DbSession,
        actor: Actor = Depends(require("feedback.report.handle"))) -> Any:
    r = queries.access_report_by_id(session, actor, report_id)
    note = body.note or ""
    if body.action == "accept":
        service.accept_report(session, actor=actor, report=r, note=body.note)
    elif body.action == "send_back":
        service.send_back_report(session, actor=actor, report=r, note=note)
    elif body.action == "assign":
        if not body.unit_code:
            raise ValidationProblem("'unit_code' is required to assign.")
        service.assign_report(session, actor=actor, report=r, unit_code=body.unit_code, note=body.note)
    elif body.action == "update":
        service.update_report(session, actor=actor, report=r, note=note)
    elif body.action == "resolve":
        service.resolve_report(session, actor=actor, report=r, note=note)
    else:
        if not body.into:
            raise ValidationProblem("'into' is required to merge.")
        service.merge_reports(session, actor=actor, report=r, into=queries.access_report_by_id(session, actor,
                                                                                               body.into))
    return ReportOfficer.model_validate(r)


@router.post("/reports/{report_id}/resolve", response_model=ReportOfficer, responses=LIMITED,
             summary="Resolve with a note and photos or videos of the result (multipart/form-data)")
async def resolve_with_media(
    report_id: str, request: Request, session: DbSession,
    note: str = Form(..., min_length=1, max_length=4000, description="What was done (shown to the public)."),
    media: list[UploadFile] = File(default_factory=list, description="Up to 5 photos (JPEG, PNG) or videos "
                                                                       "(MP4, MOV, WebM); metadata removed."),
    actor: Actor = Depends(require("feedback.report.handle")),
) -> Any:
    r = queries.access_report_by_id(session, actor, report_id)
    photos = [service.Photo(data=await f.read(), filename=f.filename, content_type=f.content_type)
              for f in media if f.filename]
    service.resolve_report(session, actor=actor, report=r, note=note, photos_after=photos,
                           storage=storage_of(request), video_limits=video_limits(request))
    return ReportOfficer.model_validate(r)


@router.get("/stats", response_model=list[StatOut], summary="Handled, on-time, satisfaction per unit or category")
def stats(
    session: DbSession, by: Literal["unit", "category"] = "unit",
    since: datetime | None = None, until: datetime | None = None,
    actor: Actor = Depends(require("feedback.stats.read")),
) -> list[Any]:
    if (since and since.tzinfo is None) or (until and until.tzinfo is None):
        raise ValidationProblem("since/until need a time zone (e.g. 2026-01-01T00:00:00Z).")
    return [StatOut(**asdict(s)) for s in queries.statistics(session, actor, by=by, since=since, until=until)]


@router.get("/inbox", response_model=list[NotificationOut], summary="My notifications about my reports")
def my_inbox(session: DbSession, actor: Actor = Depends(authenticated())) -> list[Any]:
    if not actor.id:
        raise NotFound()
    return [NotificationOut.model_validate(n) for n in notify.inbox(session, actor.id)]


@router.post("/clients", response_model=ApiClientCreated, status_code=201, summary="Issue an Open311 API key")
def create_client(body: ApiClientCreate, session: DbSession,
                  actor: Actor = Depends(require("feedback.client.manage"))) -> ApiClientCreated:
    client, key = service.create_api_client(session, actor=actor, name=body.name, rate_per_minute=body.rate_per_minute)
    return ApiClientCreated(id=client.id, name=client.name, rate_per_minute=client.rate_per_minute, api_key=key)
