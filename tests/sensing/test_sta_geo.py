"""SensorThings v1.1 Part 1 geospatial $filter functions (geo.intersects, geo.distance, geo.length, st_*)
and the lambda operators any/all, through raw URLs and through frost-sta-client."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import STA, TEST_PASSWORD, THING, create_thing

# A box around Hải Dương city (the first station is inside; the second, in Chí Linh, is not).
BOX = "POLYGON((106.25 20.90, 106.36 20.90, 106.36 20.97, 106.25 20.97, 106.25 20.90))"
CHI_LINH = {**THING, "name": "Trạm không khí Sao Đỏ",
            "Locations": [{**THING["Locations"][0], "name": "Sao Đỏ",
                           "location": {"type": "Point", "coordinates": [106.3923, 21.1087]}}],
            "Datastreams": [{**THING["Datastreams"][0], "name": "PM2.5 Sao Đỏ"}]}
ROAD = {**THING, "name": "Đếm xe quốc lộ 5", "properties": {"kind": "traffic"},
        "Locations": [{"name": "QL5", "description": "Đoạn tuyến", "encodingType": "application/geo+json",
                       "location": {"type": "LineString", "coordinates": [[106.30, 20.93], [106.33, 20.93]]}}],
        "Datastreams": [{**THING["Datastreams"][0], "name": "Lưu lượng QL5"}]}


@pytest.fixture
def stations(client, writer) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    city = create_thing(client, writer)
    chi_linh = create_thing(client, writer, CHI_LINH)
    road = create_thing(client, writer, ROAD)
    for thing, value in ((city, 95.0), (chi_linh, 30.0)):
        r = client.post(f"{STA}/Datastreams({thing['Datastreams'][0]['@iot.id']})/Observations", headers=writer,
                        json={"phenomenonTime": "2026-03-01T00:00:00Z", "result": value})
        assert r.status_code == 201, r.text
    return {"city": city["@iot.id"], "chi_linh": chi_linh["@iot.id"], "road": road["@iot.id"]}


def _names(client: Any, path: str, flt: str) -> list[str]:
    r = client.get(f"{STA}/{path}", params={"$filter": flt, "$orderby": "id"})
    assert r.status_code == 200, r.text
    return [e.get("name", e.get("result")) for e in r.json()["value"]]


@pytest.mark.parametrize(("path", "flt", "expected"), [
    ("Things", f"st_within(Locations/location, geography'{BOX}')", ["Trạm không khí Thanh Bình", "Đếm xe quốc lộ 5"]),
    ("Things", f"st_contains(geography'{BOX}', Locations/location)", ["Trạm không khí Thanh Bình", "Đếm xe quốc lộ 5"]),
    ("Things", f"st_intersects(Locations/location, geography'{BOX}')",
     ["Trạm không khí Thanh Bình", "Đếm xe quốc lộ 5"]),
    ("Locations", f"geo.intersects(location, geography'{BOX}')", ["Thanh Bình", "QL5"]),
    ("Locations", f"st_disjoint(location, geography'{BOX}')", ["Sao Đỏ"]),
    ("Locations", "st_equals(location, geography'POINT(106.3923 21.1087)')", ["Sao Đỏ"]),
    ("Locations", "st_touches(location, geography'POINT(106.30 20.93)')", ["QL5"]),
    ("Locations", "st_crosses(location, geography'LINESTRING(106.31 20.90, 106.31 20.99)')", ["QL5"]),
    ("Locations", "st_overlaps(location, geography'LINESTRING(106.32 20.93, 106.40 20.93)')", ["QL5"]),
    ("Locations", f"st_relate(location, geography'{BOX}', 'T*F**F***')", ["Thanh Bình", "QL5"]),
    ("Locations", "geo.distance(location, geography'POINT(106.3146 20.9373)') lt 0.005", ["Thanh Bình"]),
    ("Locations", "0.05 gt geo.distance(location, geography'POINT(106.3146 20.9373)')", ["Thanh Bình", "QL5"]),
    ("Locations", "geo.length(location) gt 0", ["QL5"]),
    ("Locations", f"not st_within(location, geography'{BOX}') and name ne 'QL5'", ["Sao Đỏ"]),
    ("FeaturesOfInterest", f"st_within(feature, geography'{BOX}')", ["Thanh Bình"]),
    ("Observations", f"st_within(FeatureOfInterest/feature, geography'{BOX}')", [95.0]),
    ("Datastreams", f"st_within(Thing/Locations/location, geography'{BOX}')", ["PM2.5 Thanh Bình", "Lưu lượng QL5"]),
])
def test_geospatial_functions(client, stations, path, flt, expected) -> None:  # type: ignore[no-untyped-def]
    assert _names(client, path, flt) == expected


@pytest.mark.parametrize(("flt", "expected"), [
    ("Datastreams/any(d: d/name eq 'PM2.5 Sao Đỏ')", ["Trạm không khí Sao Đỏ"]),
    ("Datastreams/any(d: d/Observations/any(o: o/result gt 80))", ["Trạm không khí Thanh Bình"]),
    ("Datastreams/all(d: d/Observations/any(o: o/result lt 50))", ["Trạm không khí Sao Đỏ"]),
    ("Datastreams/Observations/any(o: o/result ge 30)", ["Trạm không khí Thanh Bình", "Trạm không khí Sao Đỏ"]),
    ("Locations/any()", ["Trạm không khí Thanh Bình", "Trạm không khí Sao Đỏ", "Đếm xe quốc lộ 5"]),
    ("Locations/any(l: st_within(l/location, geography'" + BOX + "')) and properties/kind eq 'air'",
     ["Trạm không khí Thanh Bình"]),
])
def test_lambda_operators(client, stations, flt, expected) -> None:  # type: ignore[no-untyped-def]
    assert _names(client, "Things", flt) == expected


@pytest.mark.parametrize("flt", [
    "st_within(Locations/location, geography'POLYGON((1 1, 2 2')",
    "st_within(name, geography'POINT(1 1)')",
    "st_within(Locations/location, 'POINT(1 1)')",
    "geo.distance(Locations/location, geography'POINT(1 1)')",
    "geo.distance(Locations/location, geography'POINT(1 1)') lt 'x'",
    "st_relate(Locations/location, geography'POINT(1 1)', 'ABC')",
    "Datastreams/any(d: d/nothing eq 1)",
    "Locations/location/any(x: x eq 1)",
    "Datastreams/any(d: d)",
])
def test_bad_geospatial_and_lambda_filters_are_400(client, stations, flt) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{STA}/Things", params={"$filter": flt})
    assert r.status_code == 400, (flt, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.slow
def test_frost_client_filters_by_area(live_server, make_user, database) -> None:  # type: ignore[no-untyped-def]
    import frost_sta_client as fsc
    import httpx

    make_user("frost.geo", role="data_officer")
    auth = ("frost.geo", TEST_PASSWORD)
    for body in (THING, CHI_LINH):
        assert httpx.post(f"{live_server}{STA}/Things", json=body, auth=auth).status_code == 201
    service = fsc.SensorThingsService(f"{live_server}/sta/v1.1",
                                      auth_handler=fsc.service.auth_handler.AuthHandler(*auth))
    found = service.things().query().filter(f"st_within(Locations/location, geography'{BOX}')").list()
    assert [t.name for t in found] == ["Trạm không khí Thanh Bình"]
    found = service.things().query().filter("Datastreams/any(d: d/name eq 'PM2.5 Sao Đỏ')").list()
    assert [t.name for t in found] == ["Trạm không khí Sao Đỏ"]


def test_broken_geojson_is_refused_on_write(client, writer) -> None:  # type: ignore[no-untyped-def]
    """A GeoJSON location or feature shapely cannot read is a 400 problem (it was stored, and every
    geospatial filter then skipped it without a word); other encodings are kept as given."""
    thing = create_thing(client, writer)
    loc = {"name": "a", "description": "b", "encodingType": "application/geo+json"}
    for bad in ({"type": "Point", "coordinates": ["a"]}, {"type": "Point", "coordinates": [1]},
                {"type": "Polygon", "coordinates": [[[0, 0], [1, 1]]]}, {"type": "Circle", "coordinates": [0, 0]},
                {"type": "Feature", "geometry": {"type": "Point"}}):
        r = client.post(f"{STA}/Things({thing['@iot.id']})/Locations", json={**loc, "location": bad}, headers=writer)
        assert r.status_code == 400, (bad, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        r = client.post(f"{STA}/FeaturesOfInterest", headers=writer,
                        json={"name": "f", "description": "f", "encodingType": "application/geo+json", "feature": bad})
        assert r.status_code == 400, (bad, r.text)
    loc_id = thing["Locations"][0]["@iot.id"]
    r = client.patch(f"{STA}/Locations({loc_id})", json={"location": {"type": "Point", "coordinates": ["x", 1]}},
                     headers=writer)
    assert r.status_code == 400, r.text
    for good in ({"type": "Point", "coordinates": [106.3, 20.9]},
                 {"type": "Feature", "geometry": {"type": "Point", "coordinates": [106.3, 20.9]}, "properties": {}}):
        r = client.post(f"{STA}/Things({thing['@iot.id']})/Locations", json={**loc, "location": good}, headers=writer)
        assert r.status_code == 201, (good, r.text)
    r = client.post(f"{STA}/Things({thing['@iot.id']})/Locations", headers=writer,
                    json={"name": "c", "description": "d", "encodingType": "text/plain", "location": "Km 12 QL5"})
    assert r.status_code == 201, r.text
