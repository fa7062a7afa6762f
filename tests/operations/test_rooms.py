"""Operations rooms: created from data, filtered by sector and area, scoped by the viewer's organisations;
the wall's drill-down province → district → commune; admins create and change rooms."""

from __future__ import annotations

from typing import Any

import pytest

from smartprovince.core.security import SYSTEM, Actor, Grant
from smartprovince.operations import rooms


@pytest.fixture
def roomed(env, client, make_user) -> Any:  # type: ignore[no-untyped-def]
    """The env's tree with its bundled rooms and three open incidents in two districts."""
    with env.db.session() as s:
        assert rooms.sync_rooms(s, actor=SYSTEM) == 4  # 2 departments + 2 districts of the small tree
    with env.db.session() as s:
        assert rooms.sync_rooms(s, actor=SYSTEM) == 0  # once only
    h = env.headers["operator"]
    posts = [
        {
            "category": "flooding",
            "title": "Ngập sâu phố Lai Cách",
            "lat": 20.936,
            "lon": 106.253,
            "org_id": env.orgs["10891"].id,
        },
        {
            "category": "air_pollution",
            "title": "Khói đốt rơm Bình Giang",
            "lat": 20.88,
            "lon": 106.18,
            "org_id": env.orgs["296"].id,
        },
        {
            "category": "traffic_accident",
            "title": "Va chạm trên Quốc lộ 5",
            "lat": 20.95,
            "lon": 106.22,
            "severity": "critical",
            "org_id": env.orgs["295"].id,
        },
    ]
    for body in posts:
        r = client.post("/api/v1/operations/incidents", headers=h, json=body)
        assert r.status_code == 201, r.text
    return env


def _states(client, headers) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    r = client.get("/api/v1/operations/rooms", headers=headers)
    assert r.status_code == 200, r.text
    return {s["room"]["code"]: s for s in r.json()}


def test_rooms_filter_by_sector_and_area(roomed, client) -> None:  # type: ignore[no-untyped-def]
    states = _states(client, roomed.headers["operator"])
    assert set(states) == {"giao-thong", "tai-nguyen-moi-truong", "dia-ban-295", "dia-ban-296"}
    figures = {code: (s["open"], s["critical"]) for code, s in states.items()}
    assert figures["dia-ban-295"] == (2, 1)  # the commune's flood and the district's accident
    assert figures["dia-ban-296"] == (1, 0)
    assert figures["giao-thong"] == (2, 1)  # transport: flooding and traffic accidents, every area
    assert figures["tai-nguyen-moi-truong"] == (2, 0)  # environment: flooding and air pollution
    room = states["dia-ban-295"]["room"]
    assert room["area_org_id"] == roomed.orgs["295"].id and room["layout"]["center"] == [20.95, 106.23]
    assert sum(states["dia-ban-295"]["kpi_status"].values()) == len(room["kpis"])


def test_a_district_leader_sees_only_their_districts_room(roomed, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    mine = _states(client, roomed.headers["district"])
    assert set(mine) == {"dia-ban-295"} and (mine["dia-ban-295"]["open"], mine["dia-ban-295"]["critical"]) == (2, 1)
    for code in ("dia-ban-296", "giao-thong", "no-such-room"):
        r = client.get(f"/api/v1/operations/rooms/{code}", headers=roomed.headers["district"])
        assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/operations/rooms", headers=roomed.headers["citizen"]).status_code == 403
    make_user("lanhdao.camgiang", role="district_leader", org="295")
    login("lanhdao.camgiang")
    landing = client.get("/ioc/wall", follow_redirects=False)
    assert landing.status_code == 303 and landing.headers["location"] == "/ioc/rooms/dia-ban-295"
    page = client.get("/ioc/rooms/dia-ban-295")
    assert page.status_code == 200
    assert "Phòng điều hành Huyện Cẩm Giàng" in page.text and "Ngập sâu phố Lai Cách" in page.text
    assert "Khói đốt rơm Bình Giang" not in page.text
    assert client.get("/ioc/rooms/dia-ban-296").status_code == 404
    assert client.get(f"/ioc/wall?area={roomed.orgs['296'].id}").status_code == 404
    listing = client.get("/ioc/rooms")
    assert "dia-ban-295" in listing.text and "dia-ban-296" not in listing.text


def test_sector_room_page_shows_only_its_categories(roomed, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    make_user("ioc.xem", role="ioc_operator", org="30")
    login("ioc.xem")
    page = client.get("/ioc/rooms/tai-nguyen-moi-truong")
    assert page.status_code == 200
    assert "Ngập sâu phố Lai Cách" in page.text and "Khói đốt rơm Bình Giang" in page.text
    assert "Va chạm trên Quốc lộ 5" not in page.text  # not an environment incident
    listing = client.get("/ioc/rooms")
    assert listing.status_code == 200 and "Phòng điều hành ngành Giao thông vận tải" in listing.text


def test_drill_down_province_district_commune(roomed, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    make_user("ioc.drill", role="ioc_operator", org="30")
    login("ioc.drill")
    province = client.get("/ioc/wall")
    assert province.status_code == 200
    assert "Theo huyện, thị xã, thành phố" in province.text
    assert f'data-area="{roomed.orgs["295"].id}"' in province.text and "Huyện Bình Giang" in province.text
    district = client.get(f"/ioc/wall?area={roomed.orgs['295'].id}")
    assert district.status_code == 200
    html = district.text
    assert "Theo xã, phường, thị trấn" in html and "Thị trấn Lai Cách" in html
    assert f'href="/ioc/wall?area={roomed.orgs["30"].id}"' in html  # breadcrumb back to the province
    assert "Ngập sâu phố Lai Cách" in html and "Khói đốt rơm Bình Giang" not in html
    commune = client.get(f"/ioc/wall?area={roomed.orgs['10891'].id}")
    assert commune.status_code == 200 and "Ngập sâu phố Lai Cách" in commune.text
    assert "Va chạm trên Quốc lộ 5" not in commune.text
    tiles = client.get(f"/ioc/wall/tiles?area={roomed.orgs['10891'].id}")
    assert tiles.status_code == 200 and 'id="tile-open">1<' in tiles.text
    assert client.get("/ioc/wall?area=nope").status_code == 404
    assert client.get("/ioc/wall?kpi=no_such_kpi").status_code == 404
    # a room's drill-down stays inside its area
    assert client.get(f"/ioc/rooms/dia-ban-295?area={roomed.orgs['296'].id}").status_code == 404
    assert client.get(f"/ioc/rooms/dia-ban-295?area={roomed.orgs['10891'].id}").status_code == 200


def test_admin_creates_and_changes_rooms(roomed, client, make_user, login) -> None:  # type: ignore[no-untyped-def]
    body = {
        "code": "ngap-lut",
        "name": "Phòng chống ngập",
        "org": "30",
        "categories": ["flooding"],
        "kpis": ["incidents_opened"],
        "layout": {"layers": ["incidents", "sensors"], "zoom": 11},
    }
    r = client.post("/api/v1/operations/rooms", headers=roomed.headers["operator"], json=body)
    assert r.status_code == 403  # operators do not manage rooms
    make_user("quantri", role="admin", org="30")
    login("quantri")
    r = client.post("/api/v1/operations/rooms", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["categories"] == ["flooding"]
    assert client.post("/api/v1/operations/rooms", json=body).status_code == 409
    for bad in (
        {"categories": ["volcano"]},
        {"org": "no-such-org"},
        {"layout": {"layers": ["x"]}},
        {"code": "Bad Code"},
        {"name": "a\x00b"},
        {"layout": {"center": [200, 1]}},
    ):
        r = client.post("/api/v1/operations/rooms", json={**body, "code": "khac", **bad})
        assert r.status_code == 422, (bad, r.text)
    update = {k: v for k, v in body.items() if k != "code"} | {"area": "295"}
    r = client.put("/api/v1/operations/rooms/ngap-lut", json=update)
    assert r.status_code == 200 and r.json()["area_org_id"] == roomed.orgs["295"].id
    state = _states(client, {})["ngap-lut"]
    assert (state["open"], state["critical"]) == (1, 0)  # the flood in Cẩm Giàng only
    # the page forms, with and without the CSRF token
    form = client.get("/ioc/rooms/new")
    assert form.status_code == 200 and "Thêm phòng điều hành" in form.text
    data = {
        "code": "an-ninh",
        "name": "Phòng an ninh trật tự",
        "org": "30",
        "kind": "custom",
        "categories": ["public_order"],
        "layers": ["incidents", "cameras"],
        "kpis": "",
    }
    r = client.post("/ioc/rooms/new", data=data, headers={"x-csrf-token": ""}, follow_redirects=False)
    assert r.status_code == 403
    csrf = client.headers["x-csrf-token"]
    r = client.post("/ioc/rooms/new", data={**data, "csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ioc/rooms/an-ninh"
    r = client.post("/ioc/rooms/new", data={**data, "code": "x2", "org": "nowhere", "csrf_token": csrf})
    assert r.status_code == 422 and "nowhere" in r.text
    edit = client.get("/ioc/rooms/an-ninh/edit")
    assert edit.status_code == 200 and "Phòng an ninh trật tự" in edit.text
    r = client.post(
        "/ioc/rooms/an-ninh/edit", data={**data, "name": "Phòng an ninh", "csrf_token": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert client.get("/api/v1/operations/rooms/an-ninh").json()["name"] == "Phòng an ninh"


def test_narrow_cuts_grants_to_the_area() -> None:
    actor = Actor(
        id="u",
        username="u",
        kind="officer",
        grants=(Grant("operations.incident.read", ""), Grant("x.y", "/p/d1/"), Grant("x.z", "/p/d2/")),
    )
    narrowed = rooms.narrow(actor, "/p/d1/")
    assert narrowed.scopes("operations.incident.read") == ["/p/d1/"]
    assert narrowed.scopes("x.y") == ["/p/d1/"] and narrowed.scopes("x.z") == []
    inner = rooms.narrow(actor, "/p/")
    assert inner.scopes("x.y") == ["/p/d1/"] and rooms.narrow(actor, "") is actor
