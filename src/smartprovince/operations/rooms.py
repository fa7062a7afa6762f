"""Phòng điều hành — operations rooms of the IOC: the wall narrowed to a sector and / or an area.

A room is a saved filter: an owning organisation (a department — sở — or a district; its leaders land
on the room), an optional area (an organisation subtree: incidents and counts inside it), the incident
categories of its sector (SOP codes; empty = every category), the KPI codes it shows and a layout
(panels, map layers, map centre). The rooms of the reference province come from
``data/rooms.json`` (one per department of the plan's Part V §5–§18, one per district, §20); admins
create and change rooms through the API or ``/ioc/rooms/new``.

Access: a room is visible to whoever holds ``operations.incident.read`` over its owner (or its area);
everything shown in it is also narrowed to the viewer's own organisations (:func:`narrow`), so a
district leader opening any room sees only their district's figures. Missing and not-yours rooms
answer the same ``NotFound``.
"""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, ForeignKey, Index, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince import identity
from smartprovince.core import audit, bus
from smartprovince.core.clock import local_now, now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.deps import DbSession
from smartprovince.core.errors import Conflict, Forbidden, NotFound, ValidationProblem
from smartprovince.core.ids import new_id
from smartprovince.core.security import Actor, Grant, require
from smartprovince.operations import lifecycle
from smartprovince.operations.kpi_engine import KpiValue
from smartprovince.operations.models import DailyCount, Incident
from smartprovince.operations.sops import all_sops

READ = "operations.incident.read"
MANAGE = "operations.room.manage"
DATA_FILE = Path(__file__).parent / "data" / "rooms.json"
KINDS = ("department", "district", "custom")
PANELS = ("kpis", "incidents", "map", "feed", "areas")
LAYERS = ("incidents", "reports", "sensors", "cameras", "hotspots", "areas", "heat")
CODE_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
WALL_METRICS = (
    "dossiers_received",
    "dossiers_received_online",
    "dossiers_finished",
    "dossiers_finished_on_time",
    "reports_received",
    "reports_resolved",
)


class Room(Base):
    """Phòng điều hành — a saved view of the IOC wall for one sector and / or one area.

    ``org_id`` / ``org_path``: the owning unit (its leaders land here; access is checked on it).
    ``area_org_id`` / ``area_path``: the area the wall narrows to (``None`` / ``""`` = no area filter).
    ``categories``: incident categories (SOP codes) of the sector; empty = all. ``kpis``: KPI codes.
    ``layout``: ``{"panels": [...], "layers": [...], "center": [lat, lon], "zoom": n}``.
    """

    __tablename__ = "operations_room"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    plan_ref: Mapped[str] = mapped_column(String(100), default="")
    org_id: Mapped[str] = mapped_column(ForeignKey("identity_organisation.id"), index=True)
    org_path: Mapped[str] = mapped_column(String(1024), index=True)
    area_org_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    area_path: Mapped[str] = mapped_column(String(1024), default="")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    kpis: Mapped[list[str]] = mapped_column(JSON, default=list)
    layout: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# The wall sums a month of daily counts per unit on every open: an index holding the counts lets SQLite
# answer from the index alone (≈ 10× faster than a table lookup per row over a year of counts).
Index(
    "ix_operations_daily_count_wall",
    DailyCount.day,
    DailyCount.metric,
    DailyCount.org_id,
    DailyCount.count,
)


# ------------------------------------------------------------------------------------------ scoping


def narrow(actor: Actor, path: str) -> Actor:
    """The same actor with every grant cut down to the subtree ``path`` ('' = no change).

    A grant over an ancestor of ``path`` (or everywhere) becomes a grant over ``path``; a grant inside
    ``path`` stays; a grant elsewhere is dropped. Every query that scopes by ``actor.scopes(...)`` then
    answers for the area only — the drill-down reuses the wall's queries unchanged.
    """
    if not path:
        return actor
    grants: list[Grant] = []
    for g in actor.grants:
        if g.scope_path == "" or path.startswith(g.scope_path):
            grants.append(Grant(g.permission, path, None))
        elif g.scope_path.startswith(path):
            grants.append(g)
    return replace(actor, grants=tuple(grants))


def root_org(session: Session) -> Any:
    """The province: the organisation without a parent (the first one by path when there are several)."""
    stmt = select(identity.Organisation).where(identity.Organisation.parent_id.is_(None))
    return session.scalars(stmt.order_by(identity.Organisation.level != "province", identity.Organisation.path)).first()


def default_area(session: Session, actor: Actor) -> Any:
    """The area the wall opens on: the province for province-wide viewers, else the viewer's one subtree."""
    scopes = actor.scopes(READ)
    if "" in scopes or len(scopes) != 1:
        return root_org(session)
    org_id = scopes[0].rstrip("/").rsplit("/", 1)[-1]
    return identity.get_org(session, org_id) or root_org(session)


def access_area(session: Session, actor: Actor, org_id: str) -> Any:
    """The organisation ``org_id`` as a drill-down area, if the actor reads something inside it.

    The same ``NotFound`` for a missing area and one wholly outside the actor's organisations.
    """
    org = identity.get_org(session, org_id) if 0 < len(org_id) <= 32 else None
    if org is None:
        raise NotFound("No such area.")
    if not any(s == "" or org.path.startswith(s) or s.startswith(org.path) for s in actor.scopes(READ)):
        raise NotFound("No such area.")
    return org


def breadcrumbs(session: Session, actor: Actor, org: Any) -> list[Any]:
    """The chain of areas from the highest the actor may open down to ``org`` (for the links back up)."""
    ids = [p for p in org.path.strip("/").split("/") if p]
    chain = [identity.get_org(session, i) for i in ids]
    scopes = actor.scopes(READ)
    return [o for o in chain if o is not None and any(s == "" or o.path.startswith(s) for s in scopes)]


def children(session: Session, org: Any) -> list[Any]:
    """Areas one level down: districts under the province, communes under a district (active ones)."""
    stmt = select(identity.Organisation).where(
        identity.Organisation.parent_id == org.id,
        identity.Organisation.level.in_(("district", "commune")),
        identity.Organisation.active.is_(True),
    )
    return list(session.scalars(stmt.order_by(identity.Organisation.code)))


AREA_TTL_SECONDS = 300.0


def _coordinates(
    c: Any, xs: list[float] | None = None, ys: list[float] | None = None
) -> tuple[list[float], list[float]]:
    """Every (x, y) of nested GeoJSON coordinates, as two lists."""
    xs, ys = ([] if xs is None else xs), ([] if ys is None else ys)
    if c and isinstance(c[0], int | float):
        xs.append(float(c[0]))
        ys.append(float(c[1]))
    else:
        for x in c:
            _coordinates(x, xs, ys)
    return xs, ys
_outline_cache: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}


def area_outline(session: Session, org: Any) -> dict[str, Any] | None:
    """The area's outline for the wall's map filter: ``{"bbox": [w, s, e, n], "geometry": GeoJSON}`` from
    identity's administrative areas, or ``None`` for the province (no filter) and areas without an outline.

    The reports, sensors and cameras layers keep only the points inside it (a room's or a drill-down's area);
    kept for a few minutes per database (outlines change only when an administrator loads new ones).
    """
    if org is None or org.parent_id is None or org.level not in identity.AREA_LEVELS:
        return None
    bind: Any = session.get_bind()
    key = (str(getattr(bind, "url", id(bind))), str(org.id))
    hit = _outline_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < AREA_TTL_SECONDS:
        return hit[1]
    fc = identity.area_geojson(session, level=org.level, parent_id=org.parent_id)
    out = None
    for f in fc.get("features", []):
        if f.get("id") == org.id and f.get("geometry"):
            geom = f["geometry"]
            xs, ys = _coordinates(geom.get("coordinates") or [])
            if xs:
                out = {"bbox": [min(xs), min(ys), max(xs), max(ys)], "geometry": geom}
            break
    if len(_outline_cache) > 512:
        _outline_cache.clear()
    _outline_cache[key] = (time.monotonic(), out)
    return out


def _visible(path: str, scopes: list[str]) -> bool:
    return "" in scopes or any(path.startswith(p) for p in scopes)


def _org_paths(session: Session, under: str) -> dict[str, str]:
    """Organisation id → path for the subtree ``under`` (the organisation table is small)."""
    stmt = select(identity.Organisation.id, identity.Organisation.path)
    if under:
        stmt = stmt.where(identity.Organisation.path.startswith(under))
    return {str(i): str(p) for i, p in session.execute(stmt)}


# Month sums per unit, kept for a short time per database: the wall, its tile refresh and every room
# ask for the same month. The key includes a stamp of the last two days' counts (a cheap index-only
# query), so a new event shows at once; a late event about an older day shows within the TTL.
DAILY_TTL_SECONDS = 30.0
_daily_cache: dict[tuple[Any, ...], tuple[float, list[tuple[str, str, int]]]] = {}


def _grouped_daily(session: Session, since: Any, metrics: tuple[str, ...]) -> list[tuple[str, str, int]]:
    recent = local_now().date() - timedelta(days=1)
    stamp = tuple(
        session.execute(
            select(func.count(), func.sum(DailyCount.count)).where(
                DailyCount.day >= recent, DailyCount.metric.in_(metrics)
            )
        ).one()
    )
    bind: Any = session.get_bind()
    key = (str(getattr(bind, "url", id(bind))), since, metrics, stamp)
    hit = _daily_cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < DAILY_TTL_SECONDS:
        return hit[1]
    stmt = (
        select(DailyCount.org_id, DailyCount.metric, func.sum(DailyCount.count))
        .where(DailyCount.day >= since, DailyCount.metric.in_(metrics))
        .group_by(DailyCount.org_id, DailyCount.metric)
    )
    rows = [(str(o), str(m), int(n or 0)) for o, m, n in session.execute(stmt)]
    if len(_daily_cache) > 64:
        _daily_cache.clear()
    _daily_cache[key] = (time.monotonic(), rows)
    return rows


def daily_sums(session: Session, actor: Actor, *, under: str, days: int, metrics: tuple[str, ...]) -> list[Any]:
    """(org_id, org_path, metric, sum) of the daily counts of the last ``days`` days inside ``under``
    that the actor reads.

    Grouped by unit id over the covering index (day, metric, unit, count) and narrowed to the subtree
    in Python: a ``LIKE`` on the path in SQL makes SQLite walk the whole path index instead (≈ 25×
    slower over a year of counts), and reading the path column would cost a table lookup per row.
    """
    since = local_now().date() - timedelta(days=days - 1)
    scopes = actor.scopes(READ)
    paths = _org_paths(session, "")
    out = []
    for org_id, metric, n in _grouped_daily(session, since, metrics):
        path = paths.get(org_id, "")  # '' = the event named no unit: it counts for the province only
        if under and not path.startswith(under):
            continue
        if "" in scopes or (path and _visible(path, scopes)):
            out.append((org_id, path, metric, n))
    return out


def wall_figures(
    session: Session, actor: Actor, *, under: str = "", days: int = 30, daily: list[Any] | None = None
) -> dict[str, Any]:
    """The wall's first tile row (the same figures as ``kpi.wall_kpis``) for the subtree ``under``.

    Dossiers received (online share) and finished on time, citizen reports received and resolved over
    the last ``days`` days, and the active sensor alerts.
    """
    sums: dict[str, int] = defaultdict(int)
    if daily is None:
        daily = daily_sums(session, actor, under=under, days=days, metrics=WALL_METRICS)
    for _, _, metric, n in daily:
        sums[metric] += n

    def rate(part: str, whole: str) -> float | None:
        return round(100 * sums[part] / sums[whole], 1) if sums.get(whole) else None

    return {
        "days": days,
        "dossiers_received": sums["dossiers_received"],
        "online_rate": rate("dossiers_received_online", "dossiers_received"),
        "dossiers_finished": sums["dossiers_finished"],
        "on_time_rate": rate("dossiers_finished_on_time", "dossiers_finished"),
        "reports_received": sums["reports_received"],
        "reports_resolved": sums["reports_resolved"],
        "reports_handled_rate": rate("reports_resolved", "reports_received"),
        "active_alerts": active_alerts(session, actor, under=under),
    }


def active_alerts(session: Session, actor: Actor, *, under: str = "") -> int:
    """Active sensor alerts (the incidents' active ``sensor_alert`` links) inside ``under`` that the actor reads."""
    from smartprovince.operations.models import IncidentLink
    from smartprovince.operations.queries import _scope

    alerts = select(func.count()).select_from(IncidentLink).join(Incident, Incident.id == IncidentLink.incident_id)
    alerts = alerts.where(IncidentLink.kind == "sensor_alert", IncidentLink.active.is_(True))
    cond = _scope(Incident.org_path, narrow(actor, under), READ)
    if cond is not None:
        alerts = alerts.where(cond)
    return int(session.scalar(alerts) or 0)


@dataclass
class AreaRow:
    """Figures of one area one level below the wall's area: open and critical incidents, 30-day counts."""

    org_id: str
    code: str
    name: str
    level: str
    open: int
    critical: int
    reports: int
    dossiers: int
    lat: float | None
    lon: float | None


def area_rows(
    session: Session,
    actor: Actor,
    org: Any,
    *,
    categories: list[str] | None = None,
    days: int = 30,
    daily: list[Any] | None = None,
) -> list[AreaRow]:
    """One row per child area of ``org`` with the actor's visible figures (two grouped queries).

    ``lat`` / ``lon`` are the mean position of the area's open incidents, else the room data's map
    centre for districts, else ``None`` (the map draws administrative outlines when identity has them).
    """
    kids = children(session, org)
    if not kids:
        return []
    scopes = actor.scopes(READ)
    paths = _org_paths(session, org.path)
    stmt = select(
        Incident.org_id, Incident.severity, func.count(), func.avg(Incident.lat), func.avg(Incident.lon)
    ).where(Incident.status.in_(lifecycle.OPEN_STATUSES))
    if categories:
        stmt = stmt.where(Incident.category.in_(categories))
    result: Any = session.execute(stmt.group_by(Incident.org_id, Incident.severity))
    inc: list[tuple[str, str, int, float | None, float | None]] = []
    for org_id, sev, n, lat, lon in result:
        path = paths.get(str(org_id))
        if path is not None and _visible(path, scopes):
            inc.append((path, str(sev), int(n or 0), lat, lon))
    if daily is None:
        daily = daily_sums(session, actor, under=org.path, days=days, metrics=("reports_received", "dossiers_received"))
    centres = {r["area"]: r["layout"].get("center") for r in bundled_rooms() if r.get("area")}
    # Each unit path belongs to at most one child area: the path segment right below ``org``. Grouping by it
    # reads every row once (not once per child area: communes × a month of daily counts).
    depth = len([x for x in org.path.strip("/").split("/") if x])

    def child(path: str) -> str:
        parts = path.strip("/").split("/")
        return parts[depth] if len(parts) > depth else ""

    inc_by: dict[str, list[Any]] = defaultdict(lambda: [0, 0, 0.0, 0.0, 0])
    for path, sev, n, lat, lon in inc:
        g = inc_by[child(path)]
        g[0] += n
        g[1] += n if sev == "critical" else 0
        if lat is not None and lon is not None:
            g[2], g[3], g[4] = g[2] + lat * n, g[3] + lon * n, g[4] + n
    sums_by: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for _, path, metric, n in daily:
        if path.startswith(org.path):
            sums_by[child(path)][metric] += n
    rows = []
    for k in kids:
        n_open, n_crit, lat_sum, lon_sum, n_pos = inc_by.get(k.id, [0, 0, 0.0, 0.0, 0])
        sums = sums_by.get(k.id, defaultdict(int))
        centre = centres.get(k.code)
        lat_c, lon_c = (lat_sum / n_pos, lon_sum / n_pos) if n_pos else (centre if centre else (None, None))
        rows.append(
            AreaRow(
                k.id,
                k.code,
                k.name,
                k.level,
                n_open,
                n_crit,
                sums["reports_received"],
                sums["dossiers_received"],
                lat_c,
                lon_c,
            )
        )
    return rows


# ------------------------------------------------------------------------------------------ data


@cache
def bundled_rooms() -> list[dict[str, Any]]:
    """The rooms shipped in ``data/rooms.json`` (departments of Part V §5–§18, districts of §20)."""
    return list(json.loads(DATA_FILE.read_text(encoding="utf-8"))["rooms"])


class RoomIn(BaseModel):
    """A room as an admin writes it: codes of the owner and area organisations, categories, KPIs, layout."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=2, max_length=200)
    name_en: str = Field("", max_length=200)
    kind: str = Field("custom", pattern="^(department|district|custom)$")
    plan_ref: str = Field("", max_length=100)
    org: str = Field(min_length=1, max_length=64, description="Code of the owning organisation")
    area: str | None = Field(None, max_length=64, description="Code of the area organisation (none = no area)")
    categories: list[str] = Field(default_factory=list, max_length=20)
    kpis: list[str] = Field(default_factory=list, max_length=40)
    layout: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name", "name_en", "plan_ref", "org", "area")
    @classmethod
    def _no_nul(cls, v: str | None) -> str | None:
        if v is not None and "\x00" in v:
            raise ValueError("NUL characters are not allowed")
        return v.strip() if v is not None else v

    @field_validator("kpis")
    @classmethod
    def _kpi_codes(cls, v: list[str]) -> list[str]:
        for code in v:
            if not re.fullmatch(r"[a-z0-9_]{1,60}", code):
                raise ValueError(f"not a KPI code: {code[:60]!r}")
        return v

    @field_validator("layout")
    @classmethod
    def _layout(cls, v: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in v.items():
            if key == "panels":
                if not isinstance(value, list) or any(p not in PANELS for p in value):
                    raise ValueError(f"panels: a list of {', '.join(PANELS)}")
                out[key] = value
            elif key == "layers":
                if not isinstance(value, list) or any(p not in LAYERS for p in value):
                    raise ValueError(f"layers: a list of {', '.join(LAYERS)}")
                out[key] = value
            elif key == "center":
                ok = isinstance(value, list) and len(value) == 2 and all(isinstance(x, int | float) for x in value)
                if not ok or not (-90 <= value[0] <= 90 and -180 <= value[1] <= 180):
                    raise ValueError("center: [lat, lon]")
                out[key] = [float(value[0]), float(value[1])]
            elif key == "zoom":
                if not isinstance(value, int) or isinstance(value, bool) or not 3 <= value <= 19:
                    raise ValueError("zoom: an integer 3–19")
                out[key] = value
            else:
                raise ValueError(f"unknown layout key {key[:40]!r}")
        return out


class RoomCreate(RoomIn):
    """A new room: its code (lower-case letters, digits and dashes) and its fields."""

    code: str = Field(pattern=CODE_RE.pattern)


class RoomPublic(BaseModel):
    """A room as the API returns it."""

    code: str
    name: str
    name_en: str
    kind: str
    plan_ref: str
    org_id: str
    org_code: str
    area_org_id: str | None
    categories: list[str]
    kpis: list[str]
    layout: dict[str, Any]
    updated_at: datetime


class RoomState(BaseModel):
    """A room with its state for the provincial centre: open and critical incidents, KPI statuses."""

    room: RoomPublic
    open: int
    critical: int
    kpi_status: dict[str, int]


def _org(session: Session, code: str, what: str) -> Any:
    org = identity.get_org_by_code(session, code)
    if org is None:
        raise ValidationProblem(f"Unknown {what} organisation code: {code[:64]}")
    return org


def _apply(session: Session, room: Room, data: RoomIn) -> None:
    sops = all_sops()
    unknown = [c for c in data.categories if c not in sops]
    if unknown:
        raise ValidationProblem(f"Unknown incident categories: {', '.join(u[:60] for u in unknown)}")
    owner = _org(session, data.org, "owner")
    area = _org(session, data.area, "area") if data.area else None
    room.name, room.name_en, room.kind, room.plan_ref = data.name, data.name_en, data.kind, data.plan_ref
    room.org_id, room.org_path = owner.id, owner.path
    room.area_org_id, room.area_path = (area.id, area.path) if area is not None else (None, "")
    room.categories, room.kpis, room.layout = list(data.categories), list(data.kpis), dict(data.layout)
    room.updated_at = now()


def _check_manage(actor: Actor, room: Room) -> None:
    if not actor.can(MANAGE, room.org_path):
        raise NotFound("No such room.")


def create_room(session: Session, *, actor: Actor, data: RoomCreate) -> Room:
    """Create a room (audit row + ``operations.room.created``); 409 when the code is taken."""
    if session.scalar(select(Room.id).where(Room.code == data.code)) is not None:
        raise Conflict("A room with this code exists.")
    room = Room(code=data.code)
    _apply(session, room, data)
    if not actor.can(MANAGE, room.org_path):
        raise Forbidden("You do not manage rooms of this organisation.")
    session.add(room)
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="operations.room.created",
        object_type="operations.room",
        object_id=room.code,
        data={"org": data.org, "area": data.area},
        org_path=room.org_path,
    )
    bus.publish(session, "operations.room.created", {"code": room.code, "org_id": room.org_id}, key=room.code)
    return room


def update_room(session: Session, *, actor: Actor, code: str, data: RoomIn) -> Room:
    """Change a room (audit row + ``operations.room.updated``); the actor manages its old and new owner."""
    room = access_room_by_code(session, actor, code)
    _check_manage(actor, room)
    _apply(session, room, data)
    _check_manage(actor, room)
    audit.record(
        session,
        actor=actor,
        action="operations.room.updated",
        object_type="operations.room",
        object_id=room.code,
        data={"org": data.org, "area": data.area},
        org_path=room.org_path,
    )
    bus.publish(session, "operations.room.updated", {"code": room.code, "org_id": room.org_id}, key=room.code)
    return room


def sync_rooms(session: Session, *, actor: Actor) -> int:
    """Create the bundled rooms whose organisations exist and whose code is free; returns how many.

    Rooms that exist are left alone (an admin may have changed them); rooms naming an organisation the
    installed tree lacks are skipped (another province's tree).
    """
    have = set(session.scalars(select(Room.code)))
    n = 0
    for r in bundled_rooms():
        if r["code"] in have or identity.get_org_by_code(session, r["org"]) is None:
            continue
        if r.get("area") and identity.get_org_by_code(session, r["area"]) is None:
            continue
        fields = {k: r.get(k) for k in RoomCreate.model_fields if k in r}
        create_room(session, actor=actor, data=RoomCreate(**fields))
        n += 1
    return n


# ------------------------------------------------------------------------------------------ reads


def can_view(actor: Actor, room: Room) -> bool:
    """The actor reads incidents of the room's owner or of its area."""
    return actor.can(READ, room.org_path) or (bool(room.area_path) and actor.can(READ, room.area_path))


def access_room_by_code(session: Session, actor: Actor, code: str) -> Room:
    """The room ``code`` if the actor may open it; the same ``NotFound`` for missing and not yours."""
    room = session.scalar(select(Room).where(Room.code == code)) if 0 < len(code) <= 64 else None
    if room is None or not can_view(actor, room):
        raise NotFound("No such room.")
    return room


def visible_rooms(session: Session, actor: Actor) -> list[Room]:
    """Every room the actor may open: district rooms first (by code), then sector rooms."""
    rooms = session.scalars(select(Room).order_by(Room.kind != "district", Room.code)).all()
    return [r for r in rooms if can_view(actor, r)]


def home_room(session: Session, actor: Actor) -> Room | None:
    """The room a leader lands on: the one owned by the actor's organisation, when the actor does not
    read the whole province (the provincial centre lands on the province wall)."""
    if not actor.org_id:
        return None
    root = root_org(session)
    scopes = actor.scopes(READ)
    if "" in scopes or (root is not None and root.path in scopes):
        return None
    room = session.scalar(select(Room).where(Room.org_id == actor.org_id).order_by(Room.code).limit(1))
    return room if room is not None and can_view(actor, room) else None


def room_scope(actor: Actor, room: Room) -> Actor:
    """The actor narrowed to the room's area (when it has one)."""
    return narrow(actor, room.area_path)


def public(session: Session, room: Room) -> RoomPublic:
    """The API shape of a room."""
    org = identity.get_org(session, room.org_id)
    return RoomPublic(
        code=room.code,
        name=room.name,
        name_en=room.name_en,
        kind=room.kind,
        plan_ref=room.plan_ref,
        org_id=room.org_id,
        org_code=org.code if org is not None else "",
        area_org_id=room.area_org_id,
        categories=list(room.categories or []),
        kpis=list(room.kpis or []),
        layout=dict(room.layout or {}),
        updated_at=room.updated_at,
    )


def latest_kpi_values(session: Session, actor: Actor, codes: set[str], org_ids: set[str]) -> dict[tuple[str, str], Any]:
    """The newest stored value per (KPI code, area id) among ``codes`` × ``org_ids`` the actor may see.

    One query over the KPI engine's value table ('' = the province-wide value).
    """
    if not codes:
        return {}
    stmt = (
        select(
            KpiValue.kpi_code,
            KpiValue.org_id,
            KpiValue.org_path,
            KpiValue.period,
            KpiValue.value,
            KpiValue.target,
            KpiValue.status,
        )
        .where(KpiValue.kpi_code.in_(sorted(codes)), KpiValue.org_id.in_(sorted(org_ids)))
        .order_by(KpiValue.period)
    )
    out: dict[tuple[str, str], Any] = {}
    for v in session.execute(stmt):
        if v.org_path == "" or actor.can("operations.analytics.read", v.org_path):
            out[(v.kpi_code, v.org_id)] = v
    return out


def room_states(session: Session, actor: Actor, rooms: list[Room]) -> list[dict[str, Any]]:
    """Each room's state as the actor sees it: open / critical incidents and KPI status counts.

    Two queries for all rooms: open incidents grouped by unit path, category and severity, and the
    newest KPI values. A room's KPI uses its area's value, else the province's.
    """
    from smartprovince.operations.queries import _scope

    stmt = select(Incident.org_path, Incident.category, Incident.severity, func.count()).where(
        Incident.status.in_(lifecycle.OPEN_STATUSES)
    )
    cond = _scope(Incident.org_path, actor, READ)
    if cond is not None:
        stmt = stmt.where(cond)
    groups = session.execute(stmt.group_by(Incident.org_path, Incident.category, Incident.severity)).all()
    codes = {c for r in rooms for c in (r.kpis or [])}
    values = latest_kpi_values(session, actor, codes, {"", *(r.area_org_id for r in rooms if r.area_org_id)})
    out = []
    for r in rooms:
        cats = set(r.categories or [])
        n_open = n_crit = 0
        for path, cat, sev, n in groups:
            if path.startswith(r.area_path) and (not cats or cat in cats):
                n_open += n
                n_crit += n if sev == "critical" else 0
        status: dict[str, int] = {"green": 0, "amber": 0, "red": 0, "none": 0}
        for code in r.kpis or []:
            v = values.get((code, r.area_org_id or "")) or values.get((code, ""))
            key = v.status if v is not None and v.status in status else "none"
            status[key] += 1
        out.append({"room": r, "open": n_open, "critical": n_crit, "kpi_status": status})
    return out


# ------------------------------------------------------------------------------------------ HTTP API

router = APIRouter(prefix="/operations", tags=["operations rooms"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in"},
    403: {"description": "Missing permission"},
    404: {"description": "No such room (or not yours)"},
    409: {"description": "The code is taken"},
    422: {"description": "Invalid input"},
}


@router.get("/rooms", response_model=list[RoomState], responses=_ERRORS, summary="Operations rooms with their state")
def api_rooms(session: DbSession, actor: Actor = Depends(require(READ))) -> list[dict[str, Any]]:
    """Every room the caller may open, with open / critical incidents and KPI status counts."""
    states = room_states(session, actor, visible_rooms(session, actor))
    return [{**s, "room": public(session, s["room"])} for s in states]


@router.get("/rooms/{code}", response_model=RoomPublic, responses=_ERRORS, summary="One operations room")
def api_room(code: str, session: DbSession, actor: Actor = Depends(require(READ))) -> RoomPublic:
    """The room's filter, KPI list and layout."""
    return public(session, access_room_by_code(session, actor, code))


@router.post("/rooms", response_model=RoomPublic, status_code=201, responses=_ERRORS, summary="Create a room")
def api_create_room(data: RoomCreate, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> RoomPublic:
    """Create a room (administrators)."""
    return public(session, create_room(session, actor=actor, data=data))


@router.put("/rooms/{code}", response_model=RoomPublic, responses=_ERRORS, summary="Change a room")
def api_update_room(code: str, data: RoomIn, session: DbSession, actor: Actor = Depends(require(MANAGE))) -> RoomPublic:
    """Change a room's filter, KPI list or layout (administrators)."""
    return public(session, update_room(session, actor=actor, code=code, data=data))


# ------------------------------------------------------------------------------------------ manifest


PERMISSIONS = {MANAGE: "Tạo và sửa phòng điều hành (bộ lọc ngành, địa bàn, chỉ số, bố cục)"}


def load_demo(db: Any, settings: Any, progress: Any) -> None:
    """Create the bundled rooms of the reference province."""
    from smartprovince.core.security import SYSTEM

    progress("Phòng điều hành", None, None)
    with db.session() as s:
        sync_rooms(s, actor=SYSTEM)


def with_demo(first: Any, *more: Any) -> Any:
    """The module's demo hook: ``first`` (incidents, analytics), then the rooms' and cameras' demo data."""

    def load(db: Any, settings: Any, progress: Any) -> None:
        if first is not None:
            first(db, settings, progress)
        for hook in more:
            hook(db, settings, progress)

    return load
