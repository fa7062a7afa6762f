"""``smartprovince orgs load-areas FILE.geojson``: official polygons keyed by statistics-office code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from smartprovince import identity
from smartprovince.cli import app
from smartprovince.core.audit import verify
from smartprovince.core.db import Database
from smartprovince.core.security import SYSTEM
from smartprovince.identity import areas as areas_module
from smartprovince.identity.areas import SOURCE_OFFICIAL, SOURCE_VORONOI, OrganisationArea
from smartprovince.settings import get_settings


def _square(lon: float, lat: float, half: float) -> dict[str, Any]:
    ring = [
        [lon - half, lat - half],
        [lon + half, lat - half],
        [lon + half, lat + half],
        [lon - half, lat + half],
        [lon - half, lat - half],
    ]
    return {"type": "Polygon", "coordinates": [ring]}


def _feature(code: str, geometry: Any, key: str = "code") -> dict[str, Any]:
    return {"type": "Feature", "properties": {key: code, "ten": "…"}, "geometry": geometry}


def _write(path: Path, features: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Iterator[CliRunner]:
    monkeypatch.setenv("SMARTPROVINCE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("SMARTPROVINCE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _area(db: Database, code: str) -> OrganisationArea | None:
    with db.session() as s:
        org = identity.get_org_by_code(s, code)
        assert org is not None
        area = s.get(OrganisationArea, org.id)
        if area is not None:
            s.expunge(area)
        return area


# Cẩm Thượng (10507) in Thành phố Hải Dương; the official square reaches 2 km east, into Bình Hàn's derived cell.
CAM_THUONG = (106.317899, 20.951091)


def test_load_areas_official_polygon_wins_and_survives_a_reload(
    cli: CliRunner, database: Database, tmp_path: Path
) -> None:
    assert cli.invoke(app, ["orgs", "load", "hai-duong"]).exit_code == 0
    east = (CAM_THUONG[0] + 0.015, CAM_THUONG[1])
    with database.session() as s:
        before = identity.locate(s, *east)
        assert before is not None and before.code != "10507"
    geojson = _write(tmp_path / "official.geojson", [_feature("10507", _square(*CAM_THUONG, 0.02))])
    result = cli.invoke(app, ["orgs", "load-areas", str(geojson)])
    assert result.exit_code == 0, result.output
    assert "1 areas loaded" in result.output
    area = _area(database, "10507")
    assert area is not None and area.source == SOURCE_OFFICIAL and area.centre_quality == "polygon"
    assert area.geometry["type"] == "Polygon"
    with database.session() as s:
        org = identity.locate(s, *east)
        assert org is not None and org.code == "10507"
    # The district has derived communes too: its union is not official.
    district = _area(database, "288")
    assert district is not None and district.source == SOURCE_VORONOI
    # Loading the tree again rebuilds the derived cells but keeps the official polygon.
    again = cli.invoke(app, ["orgs", "load", "hai-duong"])
    assert again.exit_code == 0
    kept = _area(database, "10507")
    assert kept is not None and kept.source == SOURCE_OFFICIAL and kept.geometry == area.geometry
    # Loading the same file twice changes nothing.
    second = cli.invoke(app, ["orgs", "load-areas", str(geojson)])
    assert second.exit_code == 0 and "0 areas loaded, 1 unchanged" in second.output
    with database.session() as s:
        assert verify(s).ok


def test_a_complete_official_tree_makes_official_districts(database: Database, tmp_path: Path) -> None:
    tree = tmp_path / "tree.csv"
    tree.write_text(
        "code,name,level,parent_code\n"
        "99,Tỉnh Thử,province,\n"
        "901,Huyện Thử,district,99\n"
        "90001,Xã Một,commune,901\n"
        "90002,Xã Hai,commune,901\n",
        encoding="utf-8",
    )
    features = [
        _feature("90001", _square(100.0, 10.0, 0.05), key="ma_xa"),
        _feature("90002", _square(100.1, 10.0, 0.05), key="ma_xa"),
    ]
    with database.session() as s:
        identity.load_organisations(s, tree, actor=SYSTEM)
        assert identity.locate(s, 100.0, 10.0) is None  # no centres for this test tree
        result = identity.load_areas(s, _write(tmp_path / "a.geojson", features), actor=SYSTEM, code_property="ma_xa")
        assert (result.loaded, result.derived) == (2, 2)
    with database.session() as s:
        one = identity.locate(s, 100.01, 10.01)
        two = identity.locate(s, 100.12, 9.98)
        assert one is not None and one.code == "90001"
        assert two is not None and two.code == "90002"
        district = identity.locate(s, 100.05, 10.0, level="district")
        assert district is not None and district.code == "901"
        fc = identity.area_geojson(s, level="district")
        assert [f["properties"]["source"] for f in fc["features"]] == [SOURCE_OFFICIAL]
        assert fc["bbox"] == pytest.approx([99.95, 9.95, 100.15, 10.05])
        province = identity.get_org_by_code(s, "99")
        assert province is not None
        assert identity.area_centre(s, province.id) is not None
        assert identity.locate(s, 100.3, 10.0) is None


BOWTIE = {
    "type": "Polygon",
    "coordinates": [[[106.3, 20.9], [106.4, 21.0], [106.4, 20.9], [106.3, 21.0], [106.3, 20.9]]],
}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        ([_feature("khong-co", _square(106.3, 20.9, 0.01))], "no organisation has the code 'khong-co'"),
        ([_feature("10507", BOWTIE)], "the geometry is empty or not valid"),
        ([_feature("10507", {"type": "Point", "coordinates": [106.3, 20.9]})], "must be a Polygon or MultiPolygon"),
        ([{"type": "Feature", "properties": {}, "geometry": _square(106.3, 20.9, 0.01)}], "property 'code'"),
        ([_feature("so-y-te", _square(106.3, 20.9, 0.01))], "not an administrative area"),
        (
            [_feature("10507", _square(106.3, 20.9, 0.01)), _feature("10507", _square(106.3, 20.9, 0.01))],
            "already used by feature 1",
        ),
        ([_feature("10507", _square(500.0, 20.9, 0.01))], "not lon/lat"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_written(
    cli: CliRunner, database: Database, tmp_path: Path, content: Any, message: str
) -> None:
    assert cli.invoke(app, ["orgs", "load", "hai-duong"]).exit_code == 0
    with database.session() as s:
        before = {a.org_id: a.geometry for a in s.scalars(select(OrganisationArea))}
    path = tmp_path / "bad.geojson"
    if isinstance(content, list):
        _write(path, content)
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    result = cli.invoke(app, ["orgs", "load-areas", str(path)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    with database.session() as s:
        assert {a.org_id: a.geometry for a in s.scalars(select(OrganisationArea))} == before


def test_not_json_and_missing_file(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "x.geojson"
    bad.write_bytes(b"\xff\xfe not json")
    result = cli.invoke(app, ["orgs", "load-areas", str(bad)])
    assert result.exit_code == 1 and "not UTF-8 JSON" in result.output
    result = cli.invoke(app, ["orgs", "load-areas", str(tmp_path / "none.geojson")])
    assert result.exit_code == 1 and "not a readable file" in result.output


def test_a_deactivated_commune_is_not_located_and_its_neighbours_take_its_place(
    database: Database, drain: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(areas_module, "CHECK_INTERVAL_S", 0.0)
    with database.session() as s:
        identity.load_organisations(s, "hai-duong", actor=SYSTEM)
        org = identity.get_org_by_code(s, "10507")
        assert org is not None
        org_id, centre = org.id, identity.area_centre(s, org.id)
        assert centre is not None and identity.locate(s, *centre) == org
        identity.deactivate_organisation(s, actor=SYSTEM, org_id=org_id)
    with database.session() as s:
        # The cache follows the organisations too (here checked at every call), before any event is delivered.
        found = identity.locate(s, *centre)
        assert found is None or found.id != org_id
    drain()
    with database.session() as s:
        found = identity.locate(s, *centre)
        assert found is not None and found.id != org_id and found.parent_id == org.parent_id
        fc = identity.area_geojson(s, level="commune")
        assert org_id not in {f["id"] for f in fc["features"]} and len(fc["features"]) == 206
