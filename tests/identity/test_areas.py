"""Administrative-area geometry: locate(), the GeoJSON outlines, the centres, the public API."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from smartprovince import identity
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.identity import areas as areas_module
from smartprovince.identity.areas import (
    SOURCE_VORONOI,
    OrganisationArea,
    areas_summary,
    invalidate_cache,
    shipped_centres,
)
from smartprovince.identity.models import Organisation

# The shipped bounding box of the former Hải Dương province (lon/lat), with a small margin.
PROVINCE_BOX = (106.05, 20.60, 106.70, 21.30)


@pytest.fixture
def hai_duong(database: Database) -> Database:
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
    return database


def _communes(db: Database) -> dict[str, tuple[str, str, str | None, tuple[float, float]]]:
    """code → (id, name, parent_id, centre) of every commune that has an area."""
    with db.session() as s:
        rows = s.execute(
            select(Organisation, OrganisationArea)
            .join(OrganisationArea, OrganisationArea.org_id == Organisation.id)
            .where(Organisation.level == "commune")
        ).all()
        return {o.code: (o.id, o.name, o.parent_id, (a.centre_lon, a.centre_lat)) for o, a in rows}


def test_loading_the_tree_builds_every_area(hai_duong: Database) -> None:
    with hai_duong.session() as s:
        summary = areas_summary(s)
    assert summary == {
        "province": {SOURCE_VORONOI: 1},
        "district": {SOURCE_VORONOI: 12},
        "commune": {SOURCE_VORONOI: 207},
    }


def test_every_commune_centre_is_inside_the_province(hai_duong: Database) -> None:
    west, south, east, north = PROVINCE_BOX
    for code, (_id, _name, _parent, (lon, lat)) in _communes(hai_duong).items():
        assert west < lon < east and south < lat < north, code


def test_locate_points_in_several_communes(hai_duong: Database) -> None:
    communes = _communes(hai_duong)
    for code in ("10507", "10510", "10726", "11011", "11233"):
        if code not in communes:
            continue
        cid, name, parent_id, (lon, lat) = communes[code]
        with hai_duong.session() as s:
            org = identity.locate(s, lon + 0.0005, lat - 0.0005)
            assert org is not None and org.id == cid, name
            district = identity.locate(s, lon, lat, level="district")
            assert district is not None and district.id == parent_id
            province = identity.locate(s, lon, lat, level="province")
            assert province is not None and province.code == "30"


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(105.8542, 21.0285), (106.6881, 20.8449), (0.0, 0.0), (106.3, 19.0), (float("nan"), 20.9)],
)
def test_locate_outside_the_province_is_none(hai_duong: Database, lon: float, lat: float) -> None:
    with hai_duong.session() as s:
        assert identity.locate(s, lon, lat) is None


def test_locate_with_an_unknown_level_is_refused(hai_duong: Database) -> None:
    with hai_duong.session() as s, pytest.raises(ValueError):
        identity.locate(s, 106.3, 20.9, level="department")


def test_locate_on_an_empty_database(database: Database) -> None:
    with database.session() as s:
        assert identity.locate(s, 106.3, 20.9) is None
        assert identity.area_geojson(s, level="district") == {"type": "FeatureCollection", "features": []}


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_commune_centre_locates_to_its_own_commune(hai_duong: Database, data: st.DataObject) -> None:
    communes = _communes(hai_duong)
    code = data.draw(st.sampled_from(sorted(communes)))
    cid, name, _parent, (lon, lat) = communes[code]
    with hai_duong.session() as s:
        org = identity.locate(s, lon, lat)
    assert org is not None and org.id == cid, f"{code} {name}"


def test_all_centres_locate_to_their_commune(hai_duong: Database) -> None:
    """The exhaustive form of the property above (207 lookups)."""
    communes = _communes(hai_duong)
    with hai_duong.session() as s:
        wrong = [
            code
            for code, (cid, _n, _p, (lon, lat)) in communes.items()
            if (o := identity.locate(s, lon, lat)) is None or o.id != cid
        ]
    assert not wrong


def _assert_valid_geometry(geometry: dict[str, Any]) -> None:
    assert geometry["type"] in ("Polygon", "MultiPolygon")
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    assert polygons
    for rings in polygons:
        assert rings
        for ring in rings:
            assert len(ring) >= 4, "a linear ring has at least four positions"
            assert ring[0] == ring[-1], "a linear ring is closed"
            for lon, lat in ring:
                assert -180 <= lon <= 180 and -90 <= lat <= 90


@pytest.mark.parametrize(("level", "count"), [("province", 1), ("district", 12), ("commune", 207)])
def test_geojson_is_valid(hai_duong: Database, level: str, count: int) -> None:
    with hai_duong.session() as s:
        fc = identity.area_geojson(s, level=level)
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == count
    assert len(fc["bbox"]) == 4
    for f in fc["features"]:
        assert f["type"] == "Feature"
        assert set(f["properties"]) >= {"id", "code", "name", "level", "parent_id"}
        assert f["properties"]["level"] == level and f["id"] == f["properties"]["id"]
        _assert_valid_geometry(f["geometry"])


def test_geojson_of_one_districts_communes(hai_duong: Database) -> None:
    with hai_duong.session() as s:
        district = identity.get_org_by_code(s, "295")
        assert district is not None
        fc = identity.area_geojson(s, level="commune", parent_id=district.id)
        names = {f["properties"]["name"] for f in fc["features"]}
        expected = {o.name for o in s.scalars(select(Organisation).where(Organisation.parent_id == district.id))}
    assert names == expected and "Thị trấn Lai Cách" in names


def test_area_centre(hai_duong: Database) -> None:
    with hai_duong.session() as s:
        org = identity.get_org_by_code(s, "288")
        assert org is not None
        centre = identity.area_centre(s, org.id)
        assert centre is not None
        assert identity.locate(s, *centre, level="district") == org
        dept = identity.get_org_by_code(s, "so-y-te")
        assert dept is not None and identity.area_centre(s, dept.id) is None
        assert identity.area_centre(s, "no-such-id") is None


def test_loading_again_changes_nothing_and_the_cache_follows_the_table(
    hai_duong: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(areas_module, "CHECK_INTERVAL_S", 0.0)
    with hai_duong.session() as s:
        before = {a.org_id: (a.geometry, a.updated_at) for a in s.scalars(select(OrganisationArea))}
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
    with hai_duong.session() as s:
        after = {a.org_id: (a.geometry, a.updated_at) for a in s.scalars(select(OrganisationArea))}
    assert after == before
    # Another process may write the table: the cache notices without being told.
    with hai_duong.session() as s:
        org = identity.locate(s, 106.33, 20.94)
        assert org is not None
        s.execute(OrganisationArea.__table__.delete())
    with hai_duong.session() as s:
        assert identity.locate(s, 106.33, 20.94) is None
    invalidate_cache()


def test_shipped_centres_match_the_shipped_tree() -> None:
    """Every code of the centres file is a district or commune of hai-duong.csv, with the same name."""
    import csv
    from importlib import resources

    text = resources.files("smartprovince.identity").joinpath("data", "hai-duong.csv").read_text("utf-8")
    tree = {r["code"]: r for r in csv.DictReader(text.splitlines())}
    centres = shipped_centres()
    admin = {c for c, r in tree.items() if r["level"] in ("district", "commune")}
    assert set(centres) == admin
    for code, row in centres.items():
        assert row.name == tree[code]["name"], code
        assert row.quality in ("surveyed", "geocoded", "approximate", "placeholder")
        assert (row.lon is None) == (row.lat is None) == (row.quality == "placeholder"), code


# ---------------------------------------------------------------------------- API


def test_api_areas_geojson(client: Any, hai_duong: Database) -> None:
    r = client.get("/api/v1/areas", params={"level": "district"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 12
    district = next(f for f in fc["features"] if f["properties"]["code"] == "295")
    r = client.get("/api/v1/areas", params={"level": "commune", "parent": district["id"]})
    assert r.status_code == 200
    assert {f["properties"]["parent_id"] for f in r.json()["features"]} == {district["id"]}
    by_code = client.get("/api/v1/areas", params={"level": "commune", "parent": "295"})
    assert by_code.json() == r.json()


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"level": "department"}, 422),
        ({"level": "commune", "parent": "khong-co"}, 404),
    ],
)
def test_api_areas_bad_input(client: Any, hai_duong: Database, params: dict[str, str], status: int) -> None:
    r = client.get("/api/v1/areas", params=params)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")


def test_api_locate(client: Any, hai_duong: Database) -> None:
    communes = _communes(hai_duong)
    cid, name, _parent, (lon, lat) = communes["10507"]
    r = client.get("/api/v1/areas/locate", params={"lon": lon, "lat": lat})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == cid and r.json()["name"] == name
    r = client.get("/api/v1/areas/locate", params={"lon": lon, "lat": lat, "level": "district"})
    assert r.json()["code"] == "288"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"lon": 105.8542, "lat": 21.0285}, 404),
        ({"lon": 200, "lat": 20.9}, 422),
        ({"lon": "abc", "lat": 20.9}, 422),
        ({"lat": 20.9}, 422),
        ({"lon": 106.3, "lat": 20.9, "level": "unit"}, 422),
    ],
)
def test_api_locate_bad_input(client: Any, hai_duong: Database, params: dict[str, Any], status: int) -> None:
    r = client.get("/api/v1/areas/locate", params=params)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/problem+json")


def test_the_cache_asks_the_database_again_after_its_interval(
    hai_duong: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within the interval the cached shapes are used; once it is over, a change by another process shows."""
    monkeypatch.setattr(areas_module, "CHECK_INTERVAL_S", 3600.0)
    with hai_duong.session() as s:
        assert identity.locate(s, 106.33, 20.94) is not None
    with hai_duong.session() as s:
        s.execute(OrganisationArea.__table__.delete())  # like another process: no invalidate_cache()
    with hai_duong.session() as s:
        assert identity.locate(s, 106.33, 20.94) is not None  # still cached
        monkeypatch.setattr(areas_module, "CHECK_INTERVAL_S", 0.0)  # the interval is over
        assert identity.locate(s, 106.33, 20.94) is None
    invalidate_cache()


def test_a_tree_the_centres_do_not_describe_gets_no_derived_areas(database: Database) -> None:
    """The 2025 two-level tree reuses 64 old codes (13 with the same name): deriving cells from those few
    would route every report of the former province to them. Nothing is derived; old cells are dropped."""
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        assert identity.locate(s, 106.33, 20.94) is not None
    with database.session() as s:
        identity.load_organisations(s, "hai-phong-2025", actor=SYSTEM)
    with database.session() as s:
        root = identity.get_org_by_code(s, "31")
        assert root is not None
        assert identity.area_centre(s, root.id) is None
        new_units = list(s.scalars(select(Organisation).where(Organisation.parent_id == root.id)))
        assert len(new_units) == 114
        assert all(identity.area_centre(s, o.id) is None for o in new_units)
        # The communes of the old tree that the new list did not take over keep their (re-derived) cells.
        found = identity.locate(s, 106.33, 20.94)
        assert found is None or found.parent_id != root.id
        result = identity.rebuild_areas(s)
        assert "31" in result.skipped_roots


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lon=st.floats(min_value=PROVINCE_BOX[0], max_value=PROVINCE_BOX[2]),
    lat=st.floats(min_value=PROVINCE_BOX[1], max_value=PROVINCE_BOX[3]),
)
def test_a_point_s_commune_lies_in_the_point_s_district(hai_duong: Database, lon: float, lat: float) -> None:
    """The levels agree: wherever a commune is found, the district found there is its parent."""
    with hai_duong.session() as s:
        commune = identity.locate(s, lon, lat)
        district = identity.locate(s, lon, lat, level="district")
        province = identity.locate(s, lon, lat, level="province")
    if commune is None:
        assert district is None
        return
    assert district is not None and commune.parent_id == district.id
    assert province is not None and district.parent_id == province.id
