"""Địa giới hành chính — the geometry of administrative areas (province, districts, communes).

Every administrative organisation (level ``province``, ``district`` or ``commune``) may have one
area: a centre (lon, lat), a bounding box and a GeoJSON geometry (Polygon or MultiPolygon, WGS 84).
Feedback routes a citizen report to the commune that contains the point (:func:`locate`); the IOC
draws outlines and drills down (:func:`area_geojson`).

Where the geometry comes from (``source``):

* ``official`` — polygons loaded from a GeoJSON file (``smartprovince orgs load-areas FILE``),
  keyed by statistics-office code; a province on the closed government network gets them from the
  national boundary service. They are never overwritten by a rebuild.
* ``voronoi-from-centres`` — when no polygon is loaded: each commune gets the Voronoi cell of its
  centre (the points nearer to its centre than to any other commune's), clipped to the province
  outline (the convex hull of the commune centres, widened by :data:`OUTLINE_MARGIN_DEG`). A
  district is the union of its communes' cells, the province the union of all cells. This is an
  approximation: a point near a border may fall in the neighbouring commune.

Commune centres come from ``identity/data/areas/*.csv`` (see ``identity/data/README.md`` for the
source and how good each position is: column ``quality``). A commune with no known position gets a
placeholder in the emptiest part of its district (``centre_quality = "placeholder"``), so that every
commune still has a cell; the README says which ones.

The shapes are cached in memory per database (an STR-tree of bounding boxes per level, prepared
polygons). Writes in this process drop the cache; at most every :data:`CHECK_INTERVAL_S` a lookup asks
the database whether the areas or the administrative organisations changed (row count, latest
``updated_at``), so a change made by another process is seen within a second.
"""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON as SAJSON
from sqlalchemy import Float, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from smartprovince.core.bus import subscribe
from smartprovince.core.clock import now
from smartprovince.core.db import Base, UTCDateTime
from smartprovince.core.errors import ValidationProblem
from smartprovince.core.security import Actor
from smartprovince.identity.events import record_change
from smartprovince.identity.models import Organisation

if TYPE_CHECKING:  # numpy and shapely are imported where used: the app starts without them (memory)
    from shapely.geometry import MultiPolygon, Polygon

AREA_LEVELS = ("province", "district", "commune")
"""Organisation levels that have an area."""

AREA_SOURCES = ("official", "voronoi-from-centres")
SOURCE_OFFICIAL = "official"
SOURCE_VORONOI = "voronoi-from-centres"

CENTRE_QUALITIES = ("surveyed", "geocoded", "approximate", "placeholder", "polygon")
"""How good a centre is: ``surveyed`` (the unit's seat, measured or from an official list),
``geocoded`` (a geocoder's position for the unit's name: usually inside the unit, sometimes wrong),
``approximate`` (known to about 0.01°, ~1 km), ``placeholder`` (no position known: put in the
emptiest part of its district), ``polygon`` (a point inside the unit's polygon)."""

MIN_COVERAGE = 0.75
"""Share of a province's communes that must have a known position before its areas are derived (the
others get placeholders); below it nothing is derived for that province. Hải Dương: 186 / 207 = 0.90."""

OUTLINE_MARGIN_DEG = 0.03
"""How far (degrees, ~3 km) the province outline reaches beyond the outermost commune centres."""

COORD_DIGITS = 6
"""Decimals kept in stored coordinates (1e-6° ≈ 0.1 m)."""

MAX_AREAS_FILE_BYTES = 50 * 1024 * 1024

_DATA_PACKAGE = "smartprovince.identity"


class OrganisationArea(Base):
    """Địa giới — the area of one administrative organisation: centre, bounding box, geometry.

    ``geometry`` is a GeoJSON Polygon or MultiPolygon (lon, lat in WGS 84). ``source`` is
    ``official`` or ``voronoi-from-centres``; ``centre_quality`` says how good the centre is
    (:data:`CENTRE_QUALITIES`).
    """

    __tablename__ = "identity_org_area"

    org_id: Mapped[str] = mapped_column(ForeignKey("identity_organisation.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[str] = mapped_column(String(32), index=True)
    centre_lon: Mapped[float] = mapped_column(Float)
    centre_lat: Mapped[float] = mapped_column(Float)
    min_lon: Mapped[float] = mapped_column(Float)
    min_lat: Mapped[float] = mapped_column(Float)
    max_lon: Mapped[float] = mapped_column(Float)
    max_lat: Mapped[float] = mapped_column(Float)
    geometry: Mapped[dict[str, Any]] = mapped_column(SAJSON)
    source: Mapped[str] = mapped_column(String(32))
    centre_quality: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class AreasFileError(ValidationProblem):
    """The areas file is not valid; ``errors`` lists ``{"feature": n, "message": …}``; nothing was written."""

    title = "Invalid areas file"


# ---------------------------------------------------------------------------- centres data


@dataclass(frozen=True)
class CentreRow:
    """One line of a centres file: a unit's code, name and position (empty when unknown)."""

    code: str
    name: str
    lon: float | None
    lat: float | None
    quality: str


def _areas_data_dir() -> Any:
    return resources.files(_DATA_PACKAGE).joinpath("data").joinpath("areas")


def shipped_centres() -> dict[str, CentreRow]:
    """Every centre shipped in ``identity/data/areas/*-centres.csv``, by statistics-office code."""
    out: dict[str, CentreRow] = {}
    folder = _areas_data_dir()
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith("-centres.csv"):
            out.update(parse_centres(entry.read_text("utf-8-sig")))
    return out


def parse_centres(text: str) -> dict[str, CentreRow]:
    """Parse a centres CSV (columns ``code, name, lon, lat, quality``); empty lon/lat = unknown."""
    out: dict[str, CentreRow] = {}
    for raw in csv.DictReader(io.StringIO(text)):
        code = (raw.get("code") or "").strip()
        if not code:
            continue
        lon_s, lat_s = (raw.get("lon") or "").strip(), (raw.get("lat") or "").strip()
        lon = float(lon_s) if lon_s else None
        lat = float(lat_s) if lat_s else None
        quality = (raw.get("quality") or "").strip() or ("approximate" if lon is not None else "placeholder")
        out[code] = CentreRow(code, (raw.get("name") or "").strip(), lon, lat, quality)
    return out


# ---------------------------------------------------------------------------- building


@dataclass
class BuildResult:
    """What a rebuild did: areas written per level, how many centres were placeholders."""

    written: dict[str, int] = field(default_factory=dict)
    placeholders: list[str] = field(default_factory=list)
    kept_official: int = 0
    skipped_roots: list[str] = field(default_factory=list)
    removed: int = 0


def _round_geom(geom: Any) -> Any:
    import shapely

    return shapely.set_precision(geom, 10.0**-COORD_DIGITS)


def _as_polygonal(geom: Any) -> Polygon | MultiPolygon | None:
    """Keep only the polygon parts of ``geom`` (an intersection may add lines or points)."""
    from shapely.geometry import MultiPolygon, Polygon

    if geom is None or geom.is_empty:
        return None
    if isinstance(geom, (Polygon, MultiPolygon)):
        return geom
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _placeholder_positions(centre: tuple[float, float], count: int) -> list[tuple[float, float]]:
    """``count`` points on a small sunflower spiral around ``centre`` (~0.8 km apart): no data, only spread."""
    golden = math.pi * (3 - math.sqrt(5))
    out = []
    for i in range(count):
        r = 0.008 * math.sqrt(i + 0.5)
        out.append((centre[0] + r * math.cos(i * golden), centre[1] + r * math.sin(i * golden)))
    return out


def _gap_positions(
    district_known: list[tuple[float, float]], all_known: list[tuple[float, float]], count: int
) -> list[tuple[float, float]] | None:
    """``count`` points in the emptiest places of a district (farthest from every known centre).

    The region is the convex hull of the district's known commune centres; points are picked one by
    one on a ~300 m grid, each as far as possible from every centre known so far (also the ones just
    picked). A commune without a position is most likely where its district has a gap. None when the
    district has fewer than three known centres (no region).
    """
    import numpy as np
    import shapely
    from shapely.geometry import Polygon

    if len(district_known) < 3:
        return None
    hull = shapely.MultiPoint(district_known).convex_hull
    if not isinstance(hull, Polygon) or hull.area <= 0:
        return None
    min_lon, min_lat, max_lon, max_lat = hull.bounds
    step = 0.003
    lons = np.arange(min_lon, max_lon + step, step)
    lats = np.arange(min_lat, max_lat + step, step)
    grid = np.array([(x, y) for x in lons for y in lats])
    inside = shapely.contains_xy(hull, grid[:, 0], grid[:, 1])
    candidates = grid[inside]
    if len(candidates) < count:
        return None
    known = np.array(all_known)
    # Distances in kilometres-ish: a degree of longitude is ~0.93 of a degree of latitude here.
    scale = np.array([math.cos(math.radians(float(np.mean(known[:, 1])))), 1.0])
    nearest = np.min(np.linalg.norm((candidates[:, None, :] - known[None, :, :]) * scale, axis=2), axis=1)
    out: list[tuple[float, float]] = []
    for _ in range(count):
        i = int(np.argmax(nearest))
        pick = candidates[i]
        out.append((float(pick[0]), float(pick[1])))
        nearest = np.minimum(nearest, np.linalg.norm((candidates - pick) * scale, axis=1))
    return out


def _root_id(org: Organisation) -> str:
    return org.path.strip("/").split("/")[0]


def rebuild_areas(session: Session, *, centres: dict[str, CentreRow] | None = None) -> BuildResult:
    """Derive the areas of every active province, district and commune from the commune centres.

    Communes whose name and code match a line of the centres data (``identity/data/areas``) get that
    centre; the others get a placeholder in the emptiest part of their district (or near the district's
    centre when it has fewer than three known communes; none when there is no centre at all). Areas
    loaded as ``official`` are kept as they are. Idempotent; call it after the organisation tree
    changed (``load_organisations`` does; so do the deactivated / moved event handlers below).
    """
    centres = shipped_centres() if centres is None else centres
    orgs = list(
        session.scalars(select(Organisation).where(Organisation.level.in_(AREA_LEVELS), Organisation.active.is_(True)))
    )
    existing = {a.org_id: a for a in session.scalars(select(OrganisationArea))}
    result = BuildResult()
    by_root: dict[str, list[Organisation]] = {}
    for org in orgs:
        by_root.setdefault(_root_id(org), []).append(org)
    for members in by_root.values():
        _build_one_tree(session, members, centres, existing, result)
    session.flush()
    invalidate_cache()
    return result


def _centre_for(org: Organisation, centres: dict[str, CentreRow]) -> CentreRow | None:
    row = centres.get(org.code)
    if row is None or row.lon is None or row.lat is None:
        return None
    # Codes are reused after reorganisations (2025): trust a position only for the same name.
    if row.name and row.name != org.name:
        return None
    return row


def _build_one_tree(
    session: Session,
    members: list[Organisation],
    centres: dict[str, CentreRow],
    existing: dict[str, OrganisationArea],
    result: BuildResult,
) -> None:
    import shapely
    from shapely.geometry import Point, shape

    communes = sorted((o for o in members if o.level == "commune"), key=lambda o: o.code)
    districts = {o.id: o for o in members if o.level == "district"}
    provinces = [o for o in members if o.level == "province"]

    points: dict[str, tuple[float, float]] = {}
    quality: dict[str, str] = {}
    missing_by_parent: dict[str | None, list[Organisation]] = {}
    for c in communes:
        row = _centre_for(c, centres)
        if row is not None:
            assert row.lon is not None and row.lat is not None
            points[c.id] = (row.lon, row.lat)
            quality[c.id] = row.quality
        else:
            missing_by_parent.setdefault(c.parent_id, []).append(c)
    if len(points) < MIN_COVERAGE * len(communes):
        # A tree the centres do not describe (such as the 2025 two-level tree, which reuses some old codes):
        # a few cells would swallow the communes that have no position, and reports would be routed to the
        # wrong unit. Derive nothing for it and drop its stale derived cells.
        result.skipped_roots.extend(o.code for o in provinces)
        stale = [a for o in members if (a := existing.get(o.id)) is not None and a.source != SOURCE_OFFICIAL]
        for area in stale:
            session.delete(area)
            existing.pop(area.org_id, None)
        result.removed += len(stale)
        return
    all_known = list(points.values())
    for parent_id, missing in sorted(missing_by_parent.items(), key=lambda kv: kv[0] or ""):
        parent = districts.get(parent_id or "")
        district_known = [points[c.id] for c in communes if c.parent_id == parent_id and c.id in points]
        gaps = _gap_positions(district_known, all_known, len(missing)) if all_known else None
        if gaps is not None:
            for c, pos in zip(missing, gaps, strict=True):
                points[c.id] = pos
                quality[c.id] = "placeholder"
                result.placeholders.append(c.code)
            all_known.extend(gaps)
            continue
        row = _centre_for(parent, centres) if parent is not None else None
        if row is None and parent is not None:
            known = [points[c.id] for c in communes if c.parent_id == parent.id and c.id in points]
            if known:
                row = CentreRow(
                    parent.code,
                    parent.name,
                    sum(p[0] for p in known) / len(known),
                    sum(p[1] for p in known) / len(known),
                    "approximate",
                )
        if row is None or row.lon is None or row.lat is None:
            continue
        for c, pos in zip(missing, _placeholder_positions((row.lon, row.lat), len(missing)), strict=True):
            points[c.id] = pos
            quality[c.id] = "placeholder"
            result.placeholders.append(c.code)
    # Two communes at the same position would share one cell: move the later one by ~10 m.
    seen: set[tuple[float, float]] = set()
    for cid in sorted(points):
        lon, lat = round(points[cid][0], COORD_DIGITS), round(points[cid][1], COORD_DIGITS)
        while (lon, lat) in seen:
            lon, lat = round(lon + 1e-4, COORD_DIGITS), lat
        seen.add((lon, lat))
        points[cid] = (lon, lat)
    if len(points) < 3:
        return  # no sensible tessellation

    ids = list(points)
    coords = [points[i] for i in ids]
    multipoint = shapely.MultiPoint(coords)
    outline = multipoint.convex_hull.buffer(OUTLINE_MARGIN_DEG, quad_segs=4)
    cells = shapely.voronoi_polygons(multipoint, extend_to=outline)
    cell_of: dict[str, Any] = {}
    # voronoi_polygons does not keep the input order: match each cell to the centre inside it.
    tree = shapely.STRtree([Point(c) for c in coords])
    for cell in getattr(cells, "geoms", []):
        hits = tree.query(cell, predicate="contains")
        if len(hits) == 1:
            cell_of[ids[int(hits[0])]] = cell.intersection(outline)
    by_id = {c.id: c for c in communes}
    written = result.written
    for cid, geom in cell_of.items():
        org = by_id[cid]
        poly = _as_polygonal(_round_geom(geom))
        if poly is None:
            continue
        if _store(session, existing, org, poly, points[cid], quality[cid], SOURCE_VORONOI, result):
            written["commune"] = written.get("commune", 0) + 1

    # Districts and the province: the union of their communes' areas (official ones included).
    def area_geom(org_id: str) -> Any:
        a = existing.get(org_id)
        return shape(a.geometry) if a is not None else None

    children: dict[str, list[str]] = {}
    for c in communes:
        if c.parent_id:
            children.setdefault(c.parent_id, []).append(c.id)
    for d in districts.values():
        parts = [g for g in (area_geom(i) for i in children.get(d.id, [])) if g is not None]
        if not parts:
            continue
        union = _as_polygonal(_round_geom(shapely.union_all(parts)))
        if union is None:
            continue
        row = _centre_for(d, centres)
        centre = (row.lon, row.lat) if row is not None and row.lon is not None and row.lat is not None else None
        q = row.quality if row is not None and centre is not None else "polygon"
        if centre is None or not union.contains(Point(centre)):
            rp = union.representative_point()
            centre, q = (rp.x, rp.y), "polygon"
        if _store(session, existing, d, union, centre, q, SOURCE_VORONOI, result):
            written["district"] = written.get("district", 0) + 1
    for p in provinces:
        parts = [area_geom(c.id) for c in communes]
        geoms = [g for g in parts if g is not None]
        if not geoms:
            continue
        union = _as_polygonal(_round_geom(shapely.union_all(geoms)))
        if union is None:
            continue
        rp = union.representative_point()
        if _store(session, existing, p, union, (rp.x, rp.y), "polygon", SOURCE_VORONOI, result):
            written["province"] = written.get("province", 0) + 1


def _store(
    session: Session,
    existing: dict[str, OrganisationArea],
    org: Organisation,
    geom: Polygon | MultiPolygon,
    centre: tuple[float, float],
    quality: str,
    source: str,
    result: BuildResult,
) -> bool:
    """Write (or update) the area of ``org``; an official area is kept unless ``source`` is official."""
    area = existing.get(org.id)
    if area is not None and area.source == SOURCE_OFFICIAL and source != SOURCE_OFFICIAL:
        result.kept_official += 1
        return False
    min_lon, min_lat, max_lon, max_lat = geom.bounds
    values: dict[str, Any] = {
        "level": org.level,
        "centre_lon": round(centre[0], COORD_DIGITS),
        "centre_lat": round(centre[1], COORD_DIGITS),
        "min_lon": min_lon,
        "min_lat": min_lat,
        "max_lon": max_lon,
        "max_lat": max_lat,
        "geometry": _geojson(geom),
        "source": source,
        "centre_quality": quality,
    }
    if area is None:
        area = OrganisationArea(org_id=org.id, **values)
        session.add(area)
        existing[org.id] = area
        return True
    changed = False
    for key, value in values.items():
        if getattr(area, key) != value:
            setattr(area, key, value)
            changed = True
    return changed


def _geojson(geom: Polygon | MultiPolygon) -> dict[str, Any]:
    """GeoJSON of ``geom`` with plain lists (JSON columns store lists, not tuples)."""
    from shapely.geometry import mapping

    return json.loads(json.dumps(mapping(geom)))


@subscribe("identity.organisation.deactivated", name="identity.areas_on_deactivated")
def _rebuild_on_deactivated(session: Session, event: Any) -> None:
    """A commune or district was deactivated: its neighbours' cells take its place."""
    rebuild_areas(session)


@subscribe("identity.organisation.moved", name="identity.areas_on_moved")
def _rebuild_on_moved(session: Session, event: Any) -> None:
    """A commune moved to another district: the districts' unions change."""
    rebuild_areas(session)


# ---------------------------------------------------------------------------- official polygons


@dataclass
class AreasLoadResult:
    """What ``load_areas`` did."""

    source: str
    loaded: int = 0
    unchanged: int = 0
    codes: list[str] = field(default_factory=list)
    derived: int = 0


def load_areas(
    session: Session,
    source: str | Path | dict[str, Any],
    *,
    actor: Actor,
    code_property: str = "code",
) -> AreasLoadResult:
    """Load official polygons from a GeoJSON FeatureCollection, keyed by statistics-office code.

    Each feature needs ``properties[code_property]`` (the unit's code, e.g. ``10507``) and a Polygon
    or MultiPolygon geometry in WGS 84 (lon, lat). The whole file is checked first; an unknown code,
    a missing or invalid geometry raises :class:`AreasFileError` naming every bad feature, and
    nothing is written. Districts and the province that the file does not contain become the union
    of their communes. One audit row and one ``identity.area.loaded`` event record the load.
    """
    import shapely
    from shapely.geometry import shape

    label, data = _read_geojson(source)
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" or not isinstance(features, list):
        raise AreasFileError(
            f"{label}: not a GeoJSON FeatureCollection.",
            errors=[{"feature": 0, "message": "the file must be a GeoJSON FeatureCollection"}],
        )
    errors: list[dict[str, Any]] = []
    parsed: list[tuple[str, Polygon | MultiPolygon]] = []
    seen: dict[str, int] = {}
    for i, feature in enumerate(features, start=1):
        props = feature.get("properties") if isinstance(feature, dict) else None
        code = str((props or {}).get(code_property) or "").strip()
        if not code:
            errors.append({"feature": i, "message": f"property '{code_property}' (the unit's code) is missing"})
            continue
        if code in seen:
            errors.append({"feature": i, "message": f"code '{code}' is already used by feature {seen[code]}"})
            continue
        seen[code] = i
        geom_json = feature.get("geometry")
        if not isinstance(geom_json, dict) or geom_json.get("type") not in ("Polygon", "MultiPolygon"):
            errors.append({"feature": i, "message": f"'{code}': the geometry must be a Polygon or MultiPolygon"})
            continue
        try:
            geom = shape(geom_json)
        except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as exc:
            errors.append({"feature": i, "message": f"'{code}': unreadable geometry ({exc})"})
            continue
        if geom.is_empty or not geom.is_valid:
            errors.append(
                {
                    "feature": i,
                    "message": f"'{code}': the geometry is empty or not valid ({shapely.is_valid_reason(geom)})",
                }
            )
            continue
        min_lon, min_lat, max_lon, max_lat = geom.bounds
        if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
            errors.append({"feature": i, "message": f"'{code}': coordinates are not lon/lat in degrees (WGS 84)"})
            continue
        parsed.append((code, geom))  # type: ignore[arg-type]
    orgs = {o.code: o for o in session.scalars(select(Organisation).where(Organisation.code.in_(list(seen))))}
    for code, _geom in parsed:
        org = orgs.get(code)
        if org is None:
            errors.append({"feature": seen[code], "message": f"no organisation has the code '{code}'"})
        elif org.level not in AREA_LEVELS:
            errors.append({"feature": seen[code], "message": f"'{code}' is a {org.level}, not an administrative area"})
    if errors:
        errors.sort(key=lambda e: e["feature"])
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise AreasFileError(
            f"Feature {first['feature']}: {first['message']}{more}. Nothing was written.", errors=errors[:50]
        )

    existing = {a.org_id: a for a in session.scalars(select(OrganisationArea))}
    result = AreasLoadResult(source=label)
    scratch = BuildResult()
    for code, geom in parsed:
        org = orgs[code]
        poly = _as_polygonal(_round_geom(geom))
        if poly is None:
            continue
        rp = poly.representative_point()
        if _store(session, existing, org, poly, (rp.x, rp.y), "polygon", SOURCE_OFFICIAL, scratch):
            result.loaded += 1
            result.codes.append(code)
        else:
            result.unchanged += 1
    result.derived = _derive_parents(session, existing, {orgs[c].id for c, _ in parsed})
    session.flush()
    if result.loaded or result.derived:
        record_change(
            session,
            actor=actor,
            topic="identity.area.loaded",
            object_type="area",
            object_id=label[:64],
            data={"source": label, "loaded": result.loaded, "derived": result.derived, "codes": result.codes[:500]},
        )
    invalidate_cache()
    return result


def _derive_parents(session: Session, existing: dict[str, OrganisationArea], loaded_ids: set[str]) -> int:
    """Districts / provinces not in the file: the union of their children's areas (official when all are)."""
    import shapely
    from shapely.geometry import shape

    orgs = {o.id: o for o in session.scalars(select(Organisation).where(Organisation.level.in_(AREA_LEVELS)))}
    touched_parents: set[str] = {p for i in loaded_ids if i in orgs and (p := orgs[i].parent_id) is not None}
    changed = 0
    # Walk up level by level: a district first, then its province.
    while touched_parents:
        next_parents: set[str] = set()
        for pid in touched_parents:
            parent = orgs.get(pid)
            if parent is None or pid in loaded_ids:
                continue
            kids = [a for o in orgs.values() if o.parent_id == pid and (a := existing.get(o.id)) is not None]
            if not kids:
                continue
            union = _as_polygonal(_round_geom(shapely.union_all([shape(a.geometry) for a in kids])))
            if union is None:
                continue
            source = SOURCE_OFFICIAL if all(a.source == SOURCE_OFFICIAL for a in kids) else SOURCE_VORONOI
            rp = union.representative_point()
            area = existing.get(pid)
            if area is not None and area.source == SOURCE_OFFICIAL and source != SOURCE_OFFICIAL:
                continue
            if area is not None:
                area.source = source  # let _store replace a derived area
            if _store(session, existing, parent, union, (rp.x, rp.y), "polygon", source, BuildResult()):
                changed += 1
            if parent.parent_id:
                next_parents.add(parent.parent_id)
        touched_parents = next_parents
    return changed


def _read_geojson(source: str | Path | dict[str, Any]) -> tuple[str, Any]:
    if isinstance(source, dict):
        return "geojson", source
    path = Path(source)
    if not path.is_file():
        raise AreasFileError(f"'{source}' is not a readable file.", errors=[{"feature": 0, "message": "no such file"}])
    if path.stat().st_size > MAX_AREAS_FILE_BYTES:
        raise AreasFileError(
            f"{path} is larger than {MAX_AREAS_FILE_BYTES // (1024 * 1024)} MB.",
            errors=[{"feature": 0, "message": "file too large"}],
        )
    try:
        return str(path), json.loads(path.read_text("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AreasFileError(
            f"{path} is not UTF-8 JSON ({exc}).", errors=[{"feature": 0, "message": "not UTF-8 JSON"}]
        ) from exc


# ---------------------------------------------------------------------------- reading, with a cache


@dataclass
class _LevelIndex:
    ids: list[str]
    official: list[bool]
    geoms: list[Any]
    tree: Any


@dataclass
class _Snapshot:
    stamp: tuple[int, Any, Any]
    levels: dict[str, _LevelIndex]
    checked_at: float = 0.0


CHECK_INTERVAL_S = 1.0
"""How long cached shapes are used before the database is asked again whether the areas changed.

Writes in this process (``rebuild_areas``, ``load_areas``) drop the cache at once; a change made by
another process (or a deactivated organisation) is seen within this interval."""


_cache: dict[str, _Snapshot] = {}
_cache_lock = threading.Lock()


def invalidate_cache() -> None:
    """Forget the cached shapes (every database); the next read loads them again."""
    with _cache_lock:
        _cache.clear()


def _cache_key(session: Session) -> str:
    engine = session.get_bind().engine
    return f"{id(engine)}:{engine.url}"


def _stamp(session: Session) -> tuple[int, Any, Any]:
    """What the cache is valid for: the area table's size and last change, and the last change of an
    administrative organisation (a deactivated commune must stop being found at once)."""
    count, latest = session.execute(
        select(func.count(OrganisationArea.org_id), func.max(OrganisationArea.updated_at))
    ).one()
    orgs_latest = session.scalar(select(func.max(Organisation.updated_at)).where(Organisation.level.in_(AREA_LEVELS)))
    return int(count or 0), latest, orgs_latest


def _snapshot(session: Session) -> _Snapshot:
    import shapely
    from shapely.geometry import shape

    key = _cache_key(session)
    snap = _cache.get(key)
    checked = time.monotonic()
    if snap is not None and checked - snap.checked_at < CHECK_INTERVAL_S:
        return snap
    stamp = _stamp(session)
    if snap is not None and snap.stamp == stamp:
        snap.checked_at = checked
        return snap
    rows = session.execute(
        select(OrganisationArea.org_id, OrganisationArea.level, OrganisationArea.geometry, OrganisationArea.source)
        .join(Organisation, Organisation.id == OrganisationArea.org_id)
        .where(Organisation.active.is_(True))
        .order_by(OrganisationArea.org_id)
    ).all()
    grouped: dict[str, tuple[list[str], list[bool], list[Any]]] = {}
    for org_id, level, geometry, source in rows:
        ids, official, geoms = grouped.setdefault(str(level), ([], [], []))
        geom = shape(geometry)
        shapely.prepare(geom)
        ids.append(str(org_id))
        official.append(source == SOURCE_OFFICIAL)
        geoms.append(geom)
    levels = {
        level: _LevelIndex(ids, official, geoms, shapely.STRtree(geoms))
        for level, (ids, official, geoms) in grouped.items()
    }
    snap = _Snapshot(stamp, levels, checked)
    with _cache_lock:
        _cache[key] = snap
    return snap


def locate_id(session: Session, lon: float, lat: float, *, level: str = "commune") -> str | None:
    """Id of the organisation of ``level`` whose area contains (lon, lat), or None (outside every area)."""
    from shapely.geometry import Point

    if level not in AREA_LEVELS:
        raise ValueError(f"level must be one of {', '.join(AREA_LEVELS)}")
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return None
    index = _snapshot(session).levels.get(level)
    if index is None:
        return None
    point = Point(lon, lat)
    # The tree compares bounding boxes first; only the few candidates get the exact test.
    hits = sorted(int(i) for i in index.tree.query(point, predicate="intersects"))
    if not hits:
        return None
    # An official polygon wins over a derived cell where both cover the point.
    hits.sort(key=lambda i: not index.official[i])
    return index.ids[hits[0]]


def locate(session: Session, lon: float, lat: float, *, level: str = "commune") -> Organisation | None:
    """Đơn vị chứa điểm — the organisation of ``level`` (``commune``, ``district`` or ``province``)
    whose area contains the point (``lon``, ``lat`` in WGS 84 degrees), or None outside the province.

    A point exactly on a border between two areas goes to one of them (always the same one).
    """
    org_id = locate_id(session, lon, lat, level=level)
    if org_id is None:
        return None
    # The session's identity map holds objects weakly: keep the few units returned alive for the session's
    # life, so that locating many points of the same commune loads it from the database once.
    held: dict[str, Organisation] = session.info.setdefault("identity.areas.located", {})
    org = held.get(org_id)
    if org is None:
        org = session.get(Organisation, org_id)
        if org is not None:
            held[org_id] = org
    return org


def area_centre(session: Session, org_id: str) -> tuple[float, float] | None:
    """Tâm — the centre (lon, lat) of the organisation's area, or None when it has no area."""
    row = session.execute(
        select(OrganisationArea.centre_lon, OrganisationArea.centre_lat).where(OrganisationArea.org_id == org_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def get_area(session: Session, org_id: str) -> OrganisationArea | None:
    """The stored area of one organisation, or None."""
    return session.get(OrganisationArea, org_id)


def area_geojson(session: Session, *, level: str, parent_id: str | None = None) -> dict[str, Any]:
    """Bản đồ địa giới — a GeoJSON FeatureCollection of the active areas of ``level``.

    ``parent_id`` keeps only the areas directly below that organisation (a district's communes).
    Each feature's ``id`` is the organisation id; its properties are ``id, code, name, level,
    parent_id, source, centre`` ([lon, lat]) and ``centre_quality``. The collection carries a
    ``bbox`` when it has features.
    """
    if level not in AREA_LEVELS:
        raise ValueError(f"level must be one of {', '.join(AREA_LEVELS)}")
    stmt = (
        select(Organisation, OrganisationArea)
        .join(OrganisationArea, OrganisationArea.org_id == Organisation.id)
        .where(Organisation.level == level, Organisation.active.is_(True))
        .order_by(Organisation.code)
    )
    if parent_id is not None:
        stmt = stmt.where(Organisation.parent_id == parent_id)
    features = []
    bounds: list[float] | None = None
    for org, area in session.execute(stmt).all():
        features.append(
            {
                "type": "Feature",
                "id": org.id,
                "geometry": area.geometry,
                "properties": {
                    "id": org.id,
                    "code": org.code,
                    "name": org.name,
                    "level": org.level,
                    "parent_id": org.parent_id,
                    "source": area.source,
                    "centre": [area.centre_lon, area.centre_lat],
                    "centre_quality": area.centre_quality,
                },
            }
        )
        box = [area.min_lon, area.min_lat, area.max_lon, area.max_lat]
        bounds = (
            box
            if bounds is None
            else [min(bounds[0], box[0]), min(bounds[1], box[1]), max(bounds[2], box[2]), max(bounds[3], box[3])]
        )
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if bounds is not None:
        out["bbox"] = bounds
    return out


def areas_exist(session: Session) -> bool:
    """True when at least one area is stored."""
    return session.scalar(select(OrganisationArea.org_id).limit(1)) is not None


def ensure_areas(session: Session) -> bool:
    """Build the areas when communes exist but no area does (a database from before areas); True if built."""
    if areas_exist(session):
        return False
    has_communes = session.scalar(select(Organisation.id).where(Organisation.level == "commune").limit(1))
    if has_communes is None:
        return False
    rebuild_areas(session)
    return True


def areas_summary(session: Session) -> dict[str, dict[str, int]]:
    """Counts of stored areas by level and source (for the CLI and the documentation)."""
    out: dict[str, dict[str, int]] = {}
    for level, source, n in session.execute(
        select(OrganisationArea.level, OrganisationArea.source, func.count()).group_by(
            OrganisationArea.level, OrganisationArea.source
        )
    ):
        out.setdefault(level, {})[source] = int(n)
    return out
