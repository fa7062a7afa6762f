"""SensorThings API v1.1 Part 1 through HTTP, with assertions modelled on the OGC conformance suite
(ets-sta10/11: entity control information, resource paths, query options, create/update/delete)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import STA, THING, basic, create_thing

SETS = ["Things", "Locations", "HistoricalLocations", "Datastreams", "Sensors", "ObservedProperties",
        "Observations", "FeaturesOfInterest"]


def _post_obs(client: Any, headers: dict[str, str], ds_id: int, rows: list[tuple[str, Any]]) -> list[str]:
    body = [{"Datastream": {"@iot.id": ds_id}, "components": ["phenomenonTime", "result"],
             "dataArray@iot.count": len(rows), "dataArray": [list(r) for r in rows]}]
    r = client.post(f"{STA}/CreateObservations", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def station(client, writer):  # type: ignore[no-untyped-def]
    thing = create_thing(client, writer)
    ds = thing["Datastreams"][0]["@iot.id"]
    _post_obs(client, writer, ds, [(f"2026-03-01T0{h}:00:00Z", v) for h, v in
                                   [(0, 10), (1, 25.5), (2, 40), (3, 55), (4, 70), (5, 85)]])
    return {"thing": thing, "ds": ds}


def test_service_root_lists_every_entity_set(client) -> None:  # type: ignore[no-untyped-def]
    body = client.get(STA).json()
    assert [v["name"] for v in body["value"]] == SETS
    assert all(v["url"].endswith(f"/sta/v1.1/{v['name']}") for v in body["value"])
    assert any("create-update-delete" in c for c in body["serverSettings"]["conformance"])


def test_deep_insert_creates_the_whole_graph_with_links(client, writer, station) -> None:  # type: ignore[no-untyped-def]
    thing = station["thing"]
    assert thing["@iot.selfLink"].endswith(f"/sta/v1.1/Things({thing['@iot.id']})")
    assert thing["HistoricalLocations@iot.navigationLink"].endswith(f"Things({thing['@iot.id']})/HistoricalLocations")
    assert thing["Locations"][0]["location"]["coordinates"] == [106.3146, 20.9373]
    ds = client.get(f"{STA}/Datastreams({station['ds']})").json()
    for nav in ("Thing", "Sensor", "ObservedProperty", "Observations"):
        assert ds[f"{nav}@iot.navigationLink"].endswith(f"Datastreams({station['ds']})/{nav}")
    assert ds["phenomenonTime"] == "2026-03-01T00:00:00Z/2026-03-01T05:00:00Z"
    # A HistoricalLocation was recorded when the Thing got its Location.
    hist = client.get(f"{STA}/Things({thing['@iot.id']})/HistoricalLocations?$expand=Locations").json()["value"]
    assert len(hist) == 1 and hist[0]["Locations"][0]["name"] == "Thanh Bình"
    # Every entity set answers, and each entity's selfLink gives it back.
    for name in SETS:
        coll = client.get(f"{STA}/{name}").json()["value"]
        assert coll, name
        again = client.get(coll[0]["@iot.selfLink"].split("/sta/v1.1")[1].join([STA, ""])).json()
        assert again["@iot.id"] == coll[0]["@iot.id"]
    # An observation without a FeatureOfInterest got one made from the Thing's Location.
    foi = client.get(f"{STA}/Observations?$top=1&$expand=FeatureOfInterest").json()["value"][0]["FeatureOfInterest"]
    assert foi["feature"] == {"type": "Point", "coordinates": [106.3146, 20.9373]}


def test_resource_paths_properties_value_and_ref(client, station) -> None:  # type: ignore[no-untyped-def]
    tid, ds = station["thing"]["@iot.id"], station["ds"]
    assert client.get(f"{STA}/Things({tid})/name").json() == {"name": THING["name"]}
    r = client.get(f"{STA}/Things({tid})/name/$value")
    assert r.status_code == 200 and r.text == THING["name"]
    assert client.get(f"{STA}/Datastreams({ds})/Thing").json()["@iot.id"] == tid
    assert client.get(f"{STA}/Datastreams({ds})/Thing/Locations").json()["value"][0]["name"] == "Thanh Bình"
    refs = client.get(f"{STA}/Things({tid})/Datastreams/$ref").json()["value"]
    assert refs == [{"@iot.selfLink": f"http://testserver{STA}/Datastreams({ds})"}]
    for bad in ("Nothing", f"Things({tid})/Nope", "Things(abc)", "Things(99999999)", f"Things({tid})/name/x"):
        r = client.get(f"{STA}/{bad}")
        assert r.status_code == 404, bad
        assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(("flt", "expected"), [
    ("result eq 40", [40]),
    ("result ne 40", [10, 25.5, 55, 70, 85]),
    ("result gt 55", [70, 85]),
    ("result ge 55", [55, 70, 85]),
    ("result lt 25.5", [10]),
    ("result le 25.5", [10, 25.5]),
    ("result gt 20 and result lt 60", [25.5, 40, 55]),
    ("result lt 20 or result gt 80", [10, 85]),
    ("not (result lt 80)", [85]),
    ("result add 5 eq 45", [40]),
    ("result sub 5 eq 35", [40]),
    ("result mul 2 eq 80", [40]),
    ("result div 2 eq 20", [40]),
    ("result mod 20 eq 15", [55]),
    ("round(result) eq 26", [25.5]),
    ("floor(result) eq 25", [25.5]),
    ("ceiling(result) eq 26", [25.5]),
    ("phenomenonTime gt 2026-03-01T03:30:00Z", [70, 85]),
    ("phenomenonTime le 2026-03-01T01:00:00Z", [10, 25.5]),
    ("hour(phenomenonTime) eq 2", [40]),
    ("year(phenomenonTime) eq 2026 and month(phenomenonTime) eq 3 and day(phenomenonTime) eq 1", [10, 25.5, 40, 55,
                                                                                              70, 85]),
    ("minute(phenomenonTime) eq 0 and second(phenomenonTime) eq 0 and result lt 11", [10]),
    ("Datastream/name eq 'PM2.5 Thanh Bình' and result gt 80", [85]),
    ("Datastream/Thing/name eq 'Trạm không khí Thanh Bình' and result lt 20", [10]),
    ("Datastream/ObservedProperty/name eq 'Nothing'", []),
    ("id in (1, 2)", [10, 25.5]),
])
def test_filter_operators_and_functions(client, station, flt, expected) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{STA}/Observations", params={"$filter": flt})
    assert r.status_code == 200, (flt, r.text)
    assert [o["result"] for o in r.json()["value"]] == expected


@pytest.mark.parametrize(("flt", "match"), [
    ("name eq 'Trạm không khí Thanh Bình'", True),
    ("substringof('Thanh', name)", True),
    ("contains(name, 'Bình')", True),
    ("startswith(name, 'Trạm')", True),
    ("endswith(name, 'Bình')", True),
    ("endswith(name, 'Hà Nội')", False),
    ("length(name) eq 25", True),
    ("indexof(name, 'không') eq 5", True),
    ("substring(name, 5, 5) eq 'không'", True),
    ("tolower(name) eq 'trạm không khí thanh bình'", True),
    ("toupper(substring(name, 15, 5)) eq 'THANH'", True),
    ("trim(name) eq name", True),
    ("concat(name, '!') eq 'Trạm không khí Thanh Bình!'", True),
    ("properties/owner eq 'Sở TN&MT'", True),
    ("properties/kind eq 'water'", False),
    ("Datastreams/name eq 'PM2.5 Thanh Bình'", True),
    ("Locations/name eq 'Thanh Bình'", True),
    ("Datastreams/Observations/result gt 80", True),
    ("Datastreams/Observations/result gt 100", False),
])
def test_filter_strings_json_properties_and_to_many_paths(client, station, flt, match) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{STA}/Things", params={"$filter": flt})
    assert r.status_code == 200, r.text
    assert bool(r.json()["value"]) is match, flt


@pytest.mark.parametrize("flt", ["result eq", "nosuch eq 1", "Datastream eq 1", "foo(name)", "(result gt 1",
                                 "name eq 'unclosed", "result eq 99999999999999999999999"])
def test_bad_filters_are_400_problems(client, station, flt) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{STA}/Observations", params={"$filter": flt})
    assert r.status_code == 400, (flt, r.text)
    assert r.headers["content-type"].startswith("application/problem+json")


def test_select_orderby_top_skip_count_and_next_link(client, station) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{STA}/Observations?$select=result,phenomenonTime&$orderby=result desc&$top=2&$skip=1&$count=true")
    body = r.json()
    assert body["@iot.count"] == 6
    assert [o["result"] for o in body["value"]] == [70, 55]
    assert set(body["value"][0]) == {"result", "phenomenonTime"}
    assert "$skip=3" in body["@iot.nextLink"] and "$top=2" in body["@iot.nextLink"]
    nxt = client.get(body["@iot.nextLink"].replace("http://testserver", "")).json()
    assert [o["result"] for o in nxt["value"]] == [40, 25.5]
    ids = client.get(f"{STA}/Observations?$select=id").json()["value"]
    assert all(set(o) == {"@iot.id", "@iot.selfLink"} for o in ids)
    assert client.get(f"{STA}/Observations?$count=false").json().get("@iot.count") is None
    for bad in ("$top=-1", "$skip=x", "$count=yes", "$orderby=nothing", "$select=nothing", "$expand=Nothing",
                "$foo=1"):
        assert client.get(f"{STA}/Observations?{bad}").status_code == 400, bad


def test_nested_expand_with_options(client, station) -> None:  # type: ignore[no-untyped-def]
    q = ("$expand=Datastreams($select=name;$expand=Observations($filter=result gt 50;$orderby=result desc;"
         "$top=2;$count=true),ObservedProperty),Locations&$select=name,Datastreams,Locations")
    thing = client.get(f"{STA}/Things({station['thing']['@iot.id']})?{q}").json()
    assert set(thing) >= {"name", "Datastreams", "Locations"}
    assert "description" not in thing
    ds = thing["Datastreams"][0]
    assert ds["name"] == "PM2.5 Thanh Bình" and "unitOfMeasurement" not in ds
    assert [o["result"] for o in ds["Observations"]] == [85, 70]
    assert ds["Observations@iot.count"] == 3
    assert ds["ObservedProperty"]["name"] == "PM2.5"
    # Path form: Datastreams/Sensor.
    thing = client.get(f"{STA}/Things?$expand=Datastreams/Sensor").json()["value"][0]
    assert thing["Datastreams"][0]["Sensor"]["name"] == "Máy đo bụi"
    # dataArray result format
    arr = client.get(f"{STA}/Datastreams({station['ds']})/Observations?$resultFormat=dataArray"
                     "&$select=phenomenonTime,result").json()["value"][0]
    assert arr["components"] == ["phenomenonTime", "result"] and arr["dataArray@iot.count"] == 6
    assert arr["dataArray"][0] == ["2026-03-01T00:00:00Z", 10]


def test_update_with_merge_and_json_patch_then_delete_cascades(client, writer, station) -> None:  # type: ignore[no-untyped-def]
    tid, ds = station["thing"]["@iot.id"], station["ds"]
    r = client.patch(f"{STA}/Things({tid})", json={"description": "Đã hiệu chuẩn"}, headers=writer)
    assert r.status_code == 200 and r.json()["description"] == "Đã hiệu chuẩn"
    assert r.json()["name"] == THING["name"]
    patch = [{"op": "replace", "path": "/properties/owner", "value": "UBND tỉnh"},
             {"op": "add", "path": "/properties/serial", "value": "HD-01"}]
    r = client.patch(f"{STA}/Things({tid})", content=__import__("json").dumps(patch),
                     headers={**writer, "content-type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json()["properties"] == {"kind": "air", "owner": "UBND tỉnh", "serial": "HD-01"}
    obs = client.get(f"{STA}/Observations?$filter=result eq 40").json()["value"][0]
    r = client.patch(f"{STA}/Observations({obs['@iot.id']})", json={"result": 41}, headers=writer)
    assert r.json()["result"] == 41
    series = client.get(f"/api/v1/sensing/datastreams/{ds}/series?period=hour&from=2026-03-01T00:00:00Z"
                        "&to=2026-03-02T00:00:00Z").json()
    assert [p["mean"] for p in series["points"]] == [10, 25.5, 41, 55, 70, 85]  # rollup follows the edit
    assert client.patch(f"{STA}/Things({tid})", json={"nope": 1}, headers=writer).status_code == 400
    assert client.patch(f"{STA}/Things({tid})", json={"name": None}, headers=writer).status_code == 400
    assert client.delete(f"{STA}/Datastreams({ds})", headers=writer).status_code == 200
    assert client.get(f"{STA}/Datastreams({ds})").status_code == 404
    assert client.get(f"{STA}/Observations").json()["value"] == []
    assert client.delete(f"{STA}/Things({tid})", headers=writer).status_code == 200
    assert client.get(f"{STA}/Things").json()["value"] == []
    assert client.delete(f"{STA}/Things({tid})", headers=writer).status_code == 404


def test_create_under_a_path_and_bad_bodies(client, writer, station) -> None:  # type: ignore[no-untyped-def]
    ds = station["ds"]
    r = client.post(f"{STA}/Datastreams({ds})/Observations",
                    json={"phenomenonTime": "2026-03-01T06:00:00+07:00", "result": 12}, headers=writer)
    assert r.status_code == 201 and r.headers["location"].endswith(f"Observations({r.json()['@iot.id']})")
    assert r.json()["phenomenonTime"] == "2026-02-28T23:00:00Z"
    for body in ({"result": 1}, {"phenomenonTime": "yesterday", "result": 1, "Datastream": {"@iot.id": ds}},
                 {"phenomenonTime": "2026-03-01T00:00:00", "result": 1, "Datastream": {"@iot.id": ds}},
                 {"result": 1, "Datastream": {"@iot.id": 999999}}, [1, 2]):
        r = client.post(f"{STA}/Observations", json=body, headers=writer)
        assert r.status_code in (400, 404), (body, r.text)
    assert client.post(f"{STA}/Things", content=b"{not json", headers=writer).status_code == 400
    assert client.post(f"{STA}/Things", json={"description": "no name"}, headers=writer).status_code == 400
    bad_array = [{"Datastream": {"@iot.id": ds}, "components": ["result"], "dataArray": [[1, 2]]}]
    assert client.post(f"{STA}/CreateObservations", json=bad_array, headers=writer).status_code == 400
    # all or nothing: a bad row leaves no row of the request behind
    before = client.get(f"{STA}/Observations?$count=true&$top=0").json()["@iot.count"]
    mixed = [{"Datastream": {"@iot.id": ds}, "components": ["phenomenonTime", "result"],
              "dataArray": [["2026-03-02T00:00:00Z", 1], ["not a time", 2]]}]
    assert client.post(f"{STA}/CreateObservations", json=mixed, headers=writer).status_code == 400
    assert client.get(f"{STA}/Observations?$count=true&$top=0").json()["@iot.count"] == before


def test_writes_need_a_writer_and_devices_write_only_their_own_streams(client, make_user, writer, station) -> None:  # type: ignore[no-untyped-def]
    ds = station["ds"]
    obs = {"phenomenonTime": "2026-03-02T00:00:00Z", "result": 5}
    assert client.post(f"{STA}/Datastreams({ds})/Observations", json=obs).status_code == 401
    make_user("cong.dan", role="citizen", kind="citizen", cccd="001203004567")
    r = client.post(f"{STA}/Datastreams({ds})/Observations", json=obs, headers=basic("cong.dan"))
    assert r.status_code == 403
    other = create_thing(client, writer, {**THING, "name": "Trạm khác", "Locations": []})
    r = client.post(f"/api/v1/sensing/things/{station['thing']['@iot.id']}/device-credential", headers=writer)
    assert r.status_code == 201, r.text
    cred = r.json()
    device = basic(cred["username"], cred["secret"])
    assert client.post(f"{STA}/Datastreams({ds})/Observations", json=obs, headers=device).status_code == 201
    r = client.post(f"{STA}/Datastreams({other['Datastreams'][0]['@iot.id']})/Observations", json=obs, headers=device)
    assert r.status_code == 403
    assert client.post(f"{STA}/Things", json=THING, headers=device).status_code == 403
    assert client.post(f"{STA}/Datastreams({ds})/Observations", json=obs,
                       headers=basic(cred["username"], "wrong")).status_code == 401


def test_private_stations_are_hidden_from_the_public(client, writer, station, make_user) -> None:  # type: ignore[no-untyped-def]
    from smartprovince.sensing.models import Thing

    db = client.app.state.db
    with db.session() as s:
        s.get(Thing, station["thing"]["@iot.id"]).is_public = False
    tid, ds = station["thing"]["@iot.id"], station["ds"]
    assert client.get(f"{STA}/Things").json()["value"] == []
    assert client.get(f"{STA}/Things({tid})").status_code == 404
    assert client.get(f"{STA}/Observations").json()["value"] == []
    assert client.get(f"{STA}/Datastreams({ds})/Observations").json()["value"] == []
    assert client.get(f"/api/v1/sensing/datastreams/{ds}/series").status_code == 404
    assert client.get(f"{STA}/Things({tid})", headers=writer).status_code == 200  # data officer sees it
