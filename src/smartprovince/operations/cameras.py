"""Quản lý camera tập trung — the central camera registry of the IOC (plan Part V §4).

One row per camera: code, name, position, owning unit, stream address (RTSP or HLS), kind, and its
health: ``online`` / ``offline`` with the time it was last seen. Health arrives two ways:

* the bus topic ``cameras.status`` — ``{"code", "status": "online"|"offline", "at"?}`` — published by a
  video gateway or a camera vendor's adapter (handler ``operations.camera_status``, idempotent);
* the API heartbeat ``POST /api/v1/operations/cameras/{code}/heartbeat`` (same fields).

A camera not seen for :data:`STALE_MINUTES` is shown ``offline`` whatever its last message said.
Stream addresses never carry credentials (refused with a 422: they belong in the video gateway).
The demo registry (``data/cameras.json``) holds 30 cameras at real places of Hải Dương with
approximate positions.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Float, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince import identity
from smartprovince.core import audit, bus
from smartprovince.core.bus import Event, subscribe
from smartprovince.core.clock import now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import SYSTEM, Actor, require

READ = "operations.incident.read"
MANAGE = "operations.camera.manage"
STALE_MINUTES = 10
DATA_FILE = Path(__file__).parent / "data" / "cameras.json"
KIND_LABELS = {"traffic": "Giao thông", "security": "An ninh, trật tự", "ai": "Camera AI"}
STATUS_LABELS = {"online": "Trực tuyến", "offline": "Mất kết nối", "unknown": "Chưa rõ"}


class Camera(Base):
    """Camera — one camera of the central registry: where it is, who runs it, its stream and its health.

    ``owner_org_id`` / ``owner_path``: the unit that runs it (scoping: a district leader sees the
    cameras of their district). ``status`` is the last reported state; :func:`effective_status` turns
    it ``offline`` once ``last_seen_at`` is older than :data:`STALE_MINUTES`.
    """

    __tablename__ = "operations_camera"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(20), default="traffic")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(500), default="")
    owner_org_id: Mapped[str] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    owner_path: Mapped[str] = mapped_column(String(1024), index=True)
    stream_url: Mapped[str] = mapped_column(String(1000), default="")
    status: Mapped[str] = mapped_column(String(10), default="unknown")
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def effective_status(cam: Camera, *, at: datetime | None = None) -> str:
    """``online`` only when the last message said so and came within :data:`STALE_MINUTES`."""
    stale = cam.last_seen_at is None or (at or now()) - cam.last_seen_at > timedelta(minutes=STALE_MINUTES)
    return "offline" if cam.status == "online" and stale else cam.status


def stream_kind(url: str) -> str:
    """``rtsp``, ``hls`` (an .m3u8 address over HTTP(S)) or ``""``."""
    parts = urlsplit(url)
    if parts.scheme in ("rtsp", "rtsps"):
        return "rtsp"
    if parts.scheme in ("http", "https") and parts.path.endswith(".m3u8"):
        return "hls"
    return ""


class CameraIn(BaseModel):
    """A camera as an administrator or the demo data writes it."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,63}$")
    name: str = Field(min_length=2, max_length=300)
    kind: Literal["traffic", "security", "ai"] = "traffic"
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    address: str = Field("", max_length=500)
    owner: str = Field(min_length=1, max_length=64, description="Code of the owning organisation")
    stream_url: str = Field("", max_length=1000)

    @field_validator("name", "address", "owner")
    @classmethod
    def _no_nul(cls, v: str) -> str:
        if "\x00" in v:
            raise ValueError("NUL characters are not allowed")
        return v.strip()

    @field_validator("stream_url")
    @classmethod
    def _stream(cls, v: str) -> str:
        if not v:
            return v
        if "\x00" in v or any(c.isspace() for c in v):
            raise ValueError("not a URL")
        try:
            parts = urlsplit(v)
        except ValueError as exc:
            raise ValueError("not a URL") from exc
        if parts.username or parts.password:
            raise ValueError("stream URLs must not carry credentials; keep them in the video gateway")
        if not stream_kind(v):
            raise ValueError("an rtsp:// address or an HTTP(S) HLS playlist (.m3u8)")
        return v


class Heartbeat(BaseModel):
    """A camera's health message: ``online`` or ``offline``, and when (default: now)."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["online", "offline"] = "online"
    at: datetime | None = None


class CameraPublic(BaseModel):
    """A camera as the API returns it."""

    code: str
    name: str
    kind: str
    lat: float
    lon: float
    address: str
    owner_org_id: str
    stream_url: str
    stream_kind: str
    status: str
    last_seen_at: datetime | None


def public(cam: Camera) -> CameraPublic:
    """The API shape of a camera, with its effective status."""
    return CameraPublic(
        code=cam.code,
        name=cam.name,
        kind=cam.kind,
        lat=cam.lat,
        lon=cam.lon,
        address=cam.address,
        owner_org_id=cam.owner_org_id,
        stream_url=cam.stream_url,
        stream_kind=stream_kind(cam.stream_url),
        status=effective_status(cam),
        last_seen_at=cam.last_seen_at,
    )


# ------------------------------------------------------------------------------------------ writes


def register_camera(session: Session, *, actor: Actor, data: CameraIn) -> Camera:
    """Add a camera to the registry (audit row + ``operations.camera.registered``); 409 for a taken code."""
    if session.scalar(select(Camera.id).where(Camera.code == data.code)) is not None:
        raise Conflict("A camera with this code exists.")
    owner = identity.get_org_by_code(session, data.owner)
    if owner is None:
        raise ValidationProblem(f"Unknown owner organisation code: {data.owner[:64]}")
    if not actor.can(MANAGE, owner.path):
        raise Forbidden("You do not manage cameras of this organisation.")
    cam = Camera(
        code=data.code,
        name=data.name,
        kind=data.kind,
        lat=data.lat,
        lon=data.lon,
        address=data.address,
        owner_org_id=owner.id,
        owner_path=owner.path,
        stream_url=data.stream_url,
        status="unknown",
        updated_at=now(),
    )
    session.add(cam)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="operations.camera.registered",
        object_type="operations.camera",
        object_id=cam.code,
        data={"owner": data.owner},
        org_path=owner.path,
    )
    bus.publish(session, "operations.camera.registered", {"code": cam.code, "owner_org_id": owner.id}, key=cam.code)
    return cam


def report_status(session: Session, *, actor: Actor, code: str, status: str, at: datetime | None = None) -> Camera:
    """Record a health message. A message older than the last one seen is ignored (out of order);
    a change of state writes an audit row and publishes ``operations.camera.<online|offline>``."""
    cam = access_camera_by_code(session, actor, code, permission=MANAGE)
    when = at if at is not None and at.tzinfo is not None else now()
    when = min(when, now())
    if cam.last_seen_at is not None and when < cam.last_seen_at:
        return cam
    before = effective_status(cam)
    cam.status, cam.last_seen_at, cam.updated_at = status, when, now()
    if effective_status(cam) != before:
        audit.record(
            session,
            actor=actor,
            action=f"operations.camera.{status}",
            object_type="operations.camera",
            object_id=cam.code,
            data={"at": when.isoformat()},
            org_path=cam.owner_path,
        )
        bus.publish(
            session,
            f"operations.camera.{status}",
            {"code": cam.code, "at": when.isoformat(), "owner_org_id": cam.owner_org_id},
            key=cam.code,
        )
    return cam


@subscribe("cameras.status", name="operations.camera_status")
def on_camera_status(session: Session, event: Event) -> None:
    """A gateway's health message on the bus; unknown cameras and bad payloads are ignored."""
    p = event.payload if isinstance(event.payload, dict) else {}
    code, status = str(p.get("code") or "")[:64], p.get("status")
    if status not in ("online", "offline") or not code:
        return
    at = None
    if isinstance(p.get("at"), str):
        try:
            at = datetime.fromisoformat(p["at"])
        except ValueError:
            at = None
    try:
        report_status(session, actor=SYSTEM, code=code, status=status, at=at or event.occurred_at)
    except NotFound:
        return


# ------------------------------------------------------------------------------------------ reads


def access_camera_by_code(session: Session, actor: Actor, code: str, *, permission: str = READ) -> Camera:
    """The camera, if the actor holds ``permission`` over its owner; the same ``NotFound`` otherwise."""
    cam = session.scalar(select(Camera).where(Camera.code == code)) if 0 < len(code) <= 64 else None
    if cam is None or not actor.can(permission, cam.owner_path):
        raise NotFound("No such camera.")
    return cam


def cameras_for(session: Session, actor: Actor, *, area_path: str = "") -> list[Camera]:
    """The cameras the actor may see (owned by a unit in the actor's organisations), optionally in an area."""
    scopes = actor.scopes(READ)
    stmt = select(Camera).order_by(Camera.code)
    if area_path:
        stmt = stmt.where(Camera.owner_path.startswith(area_path))
    rows = session.scalars(stmt).all()
    if "" in scopes:
        return list(rows)
    return [c for c in rows if any(c.owner_path.startswith(s) for s in scopes)]


def geojson(cams: list[Camera]) -> bytes:
    """A GeoJSON FeatureCollection of cameras (for the wall's camera layer)."""
    at = now()
    feats = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
            "properties": {
                "code": c.code,
                "name": c.name,
                "kind": c.kind,
                "status": effective_status(c, at=at),
                "last_seen_at": c.last_seen_at.isoformat() if c.last_seen_at else None,
                "url": f"/ioc/cameras/{c.code}",
            },
        }
        for c in cams
    ]
    return orjson.dumps({"type": "FeatureCollection", "features": feats})


# ------------------------------------------------------------------------------------------ HTTP API

router = APIRouter(prefix="/operations", tags=["operations cameras"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in"},
    403: {"description": "Missing permission"},
    404: {"description": "No such camera (or not yours)"},
    409: {"description": "The code is taken"},
    422: {"description": "Invalid input"},
}


@router.get(
    "/cameras",
    responses={**_ERRORS, 200: {"description": "A GeoJSON FeatureCollection", "content": {"application/json": {}}}},
    summary="Cameras as GeoJSON points with their health",
)
def api_cameras(
    session: DbSession,
    area: str | None = Query(None, max_length=32, description="Organisation id: cameras owned inside it"),
    actor: Actor = Depends(require(READ)),
) -> Response:
    """The cameras the caller may see, as GeoJSON (``properties.url`` opens the camera's record)."""
    path = ""
    if area:
        org = identity.get_org(session, area)
        if org is None:
            raise NotFound("No such area.")
        path = org.path
    return Response(geojson(cameras_for(session, actor, area_path=path)), media_type="application/json")


@router.get("/cameras/{code}", response_model=CameraPublic, responses=_ERRORS, summary="One camera")
def api_camera(code: str, session: DbSession, actor: Actor = Depends(require(READ))) -> CameraPublic:
    """A camera's record with its stream address and health."""
    return public(access_camera_by_code(session, actor, code))


@router.post("/cameras", response_model=CameraPublic, status_code=201, responses=_ERRORS, summary="Register a camera")
def api_register(data: CameraIn, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> CameraPublic:
    """Add a camera to the central registry."""
    return public(register_camera(session, actor=actor, data=data))


@router.post(
    "/cameras/{code}/heartbeat", response_model=CameraPublic, responses=_ERRORS, summary="A camera's health message"
)
def api_heartbeat(
    code: str, data: Heartbeat, session: DbSession, actor: Actor = Depends(require(MANAGE))
) -> CameraPublic:
    """Mark a camera online (or offline); gateways call this every few minutes."""
    return public(report_status(session, actor=actor, code=code, status=data.status, at=data.at))


# ------------------------------------------------------------------------------------------ manifest

PERMISSIONS = {MANAGE: "Đăng ký camera và báo trạng thái hoạt động của camera"}


@cache
def bundled_cameras() -> list[dict[str, Any]]:
    """The demo cameras of ``data/cameras.json``."""
    return list(json.loads(DATA_FILE.read_text(encoding="utf-8"))["cameras"])


def load_demo(db: Any, settings: Any, progress: Any) -> None:
    """Register the demo cameras whose owners exist; most are online, a few went offline."""
    progress("Camera", None, None)
    with db.session() as s:
        have = set(s.scalars(select(Camera.code)))
        for n, c in enumerate(bundled_cameras()):
            if c["code"] in have or identity.get_org_by_code(s, c["owner"]) is None:
                continue
            cam = register_camera(s, actor=SYSTEM, data=CameraIn(**c))
            # Reproducible health: every seventh camera lost its link an hour ago.
            cam.status = "online" if demo_online(n) else "offline"
            cam.last_seen_at = now() - (timedelta(hours=1) if cam.status == "offline" else timedelta(minutes=1))


# ------------------------------------------------------------------------------------------ demo heartbeats

DEMO_HEARTBEAT_SECONDS = 120.0


def demo_online(n: int) -> bool:
    """Whether the ``n``-th demo camera is one that works (every seventh lost its link)."""
    return n % 7 != 3


def send_demo_heartbeats(db: Any) -> int:
    """One round of the demo's video-gateway simulator: an ``online`` heartbeat for every working demo camera.

    In a real deployment the province's video gateway reports health (bus ``cameras.status`` or the
    heartbeat API); the demo has no gateway, so without this its cameras would turn ``offline``
    :data:`STALE_MINUTES` after loading. Cameras that are offline by design stay offline. Returns how
    many heartbeats were sent.
    """
    working = [c["code"] for n, c in enumerate(bundled_cameras()) if demo_online(n)]
    sent = 0
    with db.session() as s:
        have = set(s.scalars(select(Camera.code).where(Camera.code.in_(working))))
        for code in working:
            if code in have:
                report_status(s, actor=SYSTEM, code=code, status="online")
                sent += 1
    return sent


class DemoHeartbeats:
    """The simulator thread: a round of :func:`send_demo_heartbeats` every ``interval`` seconds until stopped."""

    def __init__(self, db: Any, interval: float = DEMO_HEARTBEAT_SECONDS) -> None:
        import threading

        self.db = db
        self.interval = interval
        self.rounds = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._run, name="demo-camera-heartbeats", daemon=True)

    def _run(self) -> None:
        import logging

        while not self.stop_event.is_set():
            try:
                send_demo_heartbeats(self.db)
                self.rounds += 1
            except Exception:  # noqa: BLE001 - a failing round must not end the simulator; it is logged
                logging.getLogger("smartprovince.operations").exception("demo camera heartbeats failed")
            self.stop_event.wait(self.interval)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)


def start_demo_heartbeats(app: Any) -> None:
    """on_startup: run the camera heartbeat simulator when the platform serves the demo (``make run``: a
    development environment with ``load_demo``); never in tests or production (a simulator must not report
    real cameras' health). ``SMARTPROVINCE_DEMO_CAMERA_HEARTBEATS=0`` turns it off."""
    import os

    settings = app.state.settings
    if not getattr(settings, "load_demo", False) or settings.environment != "development":
        return
    if os.environ.get("SMARTPROVINCE_DEMO_CAMERA_HEARTBEATS", "1") == "0":
        return
    sim = DemoHeartbeats(app.state.db)
    app.state.demo_camera_heartbeats = sim
    sim.start()


def stop_demo_heartbeats(app: Any) -> None:
    """on_shutdown: stop the simulator thread."""
    sim = getattr(app.state, "demo_camera_heartbeats", None)
    if sim is not None:
        sim.stop()
