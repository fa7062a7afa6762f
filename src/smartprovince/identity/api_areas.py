"""HTTP routes of administrative-area geometry (mounted under ``/api/v1``): outlines and point lookup.

Both routes are public: the boundaries of administrative units are public information, and the
lookup only says which unit contains a point (nothing is stored about the caller).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from smartprovince.core.deps import DbSession
from smartprovince.core.errors import PROBLEM_SCHEMA, NotFound
from smartprovince.core.security import Actor, public
from smartprovince.identity import areas, queries
from smartprovince.identity.schemas import OrganisationPublic

router = APIRouter(tags=["identity"])

AREAS_ARE_PUBLIC = "the boundaries of administrative units are public information"

_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
    for status, text in ((404, "Not found"), (422, "Invalid parameters"))
}


class AreaGeometry(BaseModel):
    """GeoJSON geometry (RFC 7946): a Polygon or MultiPolygon in WGS 84 (lon, lat)."""

    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class AreaProperties(BaseModel):
    """What a feature says about its organisation and where its geometry comes from."""

    id: str
    code: str
    name: str
    level: str
    parent_id: str | None = None
    source: str = Field(description="official, or voronoi-from-centres (derived, approximate)")
    centre: list[float] = Field(description="[lon, lat] of the centre")
    centre_quality: str = Field(description="seat, approximate, placeholder or polygon")


class AreaFeature(BaseModel):
    """One administrative area as a GeoJSON Feature; ``id`` is the organisation id."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: AreaGeometry
    properties: AreaProperties


class AreaCollection(BaseModel):
    """Administrative areas as a GeoJSON FeatureCollection (RFC 7946)."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[AreaFeature]
    bbox: list[float] | None = Field(None, description="[min lon, min lat, max lon, max lat] of all features")


@router.get(
    "/areas",
    response_model=AreaCollection,
    responses=_PROBLEMS,
    summary="Administrative areas (GeoJSON)",
)
def list_areas(
    session: DbSession,
    level: Literal["province", "district", "commune"] = Query("district", description="Which level to draw."),
    parent: str | None = Query(
        None,
        max_length=64,
        description="Only the areas directly below this organisation (id or code), e.g. a district's communes.",
    ),
    _: Actor = Depends(public(AREAS_ARE_PUBLIC)),
) -> Response:
    """Địa giới hành chính — the outlines of the districts or communes as a GeoJSON FeatureCollection.

    ``source`` tells whether a geometry is ``official`` or derived from commune centres
    (``voronoi-from-centres``, an approximation).
    """
    parent_id = None
    if parent is not None:
        org = queries.get_org(session, parent) or queries.get_org_by_code(session, parent)
        if org is None:
            raise NotFound("Không tìm thấy tổ chức (organisation not found).")
        parent_id = org.id
    # Built by area_geojson in the declared shape; written directly (no re-validation of ~100 KiB of numbers).
    body = orjson.dumps(areas.area_geojson(session, level=level, parent_id=parent_id))
    return Response(body, media_type="application/json", headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/areas/locate",
    response_model=OrganisationPublic,
    responses=_PROBLEMS,
    summary="The administrative unit that contains a point",
)
def locate_area(
    session: DbSession,
    lon: float = Query(..., ge=-180, le=180, description="Longitude (WGS 84 degrees).", examples=[106.3146]),
    lat: float = Query(..., ge=-90, le=90, description="Latitude (WGS 84 degrees).", examples=[20.9373]),
    level: Literal["province", "district", "commune"] = Query("commune"),
    _: Actor = Depends(public(AREAS_ARE_PUBLIC)),
) -> OrganisationPublic:
    """Đơn vị hành chính chứa điểm — the commune (or district) whose area contains (lon, lat); 404 outside."""
    org = areas.locate(session, lon, lat, level=level)
    if org is None:
        raise NotFound("Điểm này nằm ngoài địa bàn tỉnh (the point is outside every area).")
    return OrganisationPublic.model_validate(org)
